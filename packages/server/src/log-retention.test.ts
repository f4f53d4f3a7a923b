import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compactTarget, LogBytes } from "./log-retention.js";

describe("LogBytes", () => {
  it("counts the bytes between indexes by checkpoint", () => {
    const b = new LogBytes(100);
    b.appended(1, 2, 60); // checkpoint 2 (60)
    b.appended(3, 3, 30); // still under the grain: checkpoint 3 (90)
    b.appended(4, 4, 50); // 140 since base: a new checkpoint 4 (140)
    expect(b.between(0, 4)).toBe(140);
    expect(b.between(3, 4)).toBe(50);
    // Index 2 is inside checkpoint 3: counted by whole checkpoints (as through index 0).
    expect(b.between(2, 4)).toBe(140);
    expect(b.between(4, 10)).toBe(0);
  });

  it("finds how far the log must be compacted to keep at most maxBytes", () => {
    const b = new LogBytes(1);
    for (let i = 1; i <= 10; i++) b.appended(i, i, 10);
    expect(b.floor(10, 100)).toBe(0); // everything fits
    expect(b.floor(10, 35)).toBe(7); // keeps 8..10 = 30 bytes
    expect(b.floor(10, 30)).toBe(7);
    expect(b.floor(10, 29)).toBe(8);
    expect(b.floor(6, 35)).toBe(3); // only up to the applied index counts
  });

  it("replaces a conflicting suffix", () => {
    const b = new LogBytes(1);
    for (let i = 1; i <= 5; i++) b.appended(i, i, 10);
    b.appended(3, 4, 1000); // a new leader overwrote 3..5 with 3..4
    expect(b.between(0, 5)).toBe(1020);
    expect(b.between(2, 4)).toBe(1000);
  });

  it("does not count what it never saw, and forgets below a compaction", () => {
    const b = new LogBytes(1);
    b.appended(101, 110, 1000); // a restarted member: entries up to 100 are not counted
    expect(b.between(50, 110)).toBe(1000);
    expect(b.floor(110, 2000)).toBe(0);
    for (let i = 111; i <= 120; i++) b.appended(i, i, 100);
    expect(b.floor(120, 500)).toBe(115);
    b.forget(115);
    expect(b.size).toBe(6); // base 115, then 116..120
    expect(b.between(115, 120)).toBe(500);
    expect(b.floor(120, 300)).toBe(117);
    b.reset();
    expect(b.size).toBe(0);
    expect(b.between(0, 120)).toBe(0);
  });

  it("stays within one checkpoint of the exact count (property, seeded)", () => {
    const seed = 20261122;
    console.log(`LogBytes property seed ${seed}`);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.array(
          fc.record({
            back: fc.integer({ min: 0, max: 3 }),
            count: fc.integer({ min: 1, max: 4 }),
            size: fc.integer({ min: 0, max: 300 }),
          }),
          { minLength: 1, maxLength: 60 },
        ),
        fc.integer({ min: 1, max: 2000 }),
        fc.boolean(),
        (grain, ops, maxBytes, overwrite) => {
          const b = new LogBytes(grain);
          const sizes = new Map<number, number>(); // exact model: index -> bytes
          let last = 0;
          let conflicts = false;
          for (const op of ops) {
            const first = Math.max(1, last + 1 - (overwrite ? op.back : 0));
            const end = first + op.count - 1;
            if (first <= last) conflicts = true;
            for (let i = first; i <= last; i++) sizes.delete(i);
            for (let i = first; i <= end; i++) sizes.set(i, op.size);
            b.appended(first, end, op.size * op.count);
            last = end;
          }
          const exact = (from: number, to: number) => {
            let s = 0;
            for (const [i, n] of sizes) if (i > from && i <= to) s += n;
            return s;
          };
          for (let applied = 1; applied <= last; applied++) {
            // Never more than the model (so the byte rule never compacts more than it
            // says). Without conflicts, never short by more than one checkpoint: the grain
            // plus the one append (at most 1200 bytes here) that closed it. A conflict may
            // lose the bytes of a partly replaced checkpoint: the count is short, and more
            // log is kept.
            const counted = b.between(0, applied);
            expect(counted).toBeLessThanOrEqual(exact(0, applied));
            if (!conflicts) expect(exact(0, applied) - counted).toBeLessThan(grain + 1200);
            const f = b.floor(applied, maxBytes);
            expect(f).toBeLessThanOrEqual(applied);
            if (f > 0) {
              expect(b.between(f, applied)).toBeLessThanOrEqual(maxBytes);
              if (!conflicts) {
                expect(exact(f, applied)).toBeLessThan(maxBytes + grain + 1200);
                // The smallest such checkpoint: one checkpoint less keeps too much.
                expect(exact(0, applied)).toBeGreaterThan(maxBytes);
              }
            }
          }
        },
      ),
      { seed, numRuns: 300 },
    );
  });
});

describe("compactTarget", () => {
  it("takes the entry rule unless the byte rule compacts further, up to the protected index", () => {
    expect(compactTarget(10_000, 5000, 0, Number.POSITIVE_INFINITY)).toBe(5000);
    expect(compactTarget(10_000, 5000, 9000, Number.POSITIVE_INFINITY)).toBe(9000);
    // A slow active follower at 8000 keeps its entries from the byte rule...
    expect(compactTarget(10_000, 5000, 9000, 8000)).toBe(8000);
    // ...but not from the entry rule.
    expect(compactTarget(10_000, 5000, 9000, 1000)).toBe(5000);
    expect(compactTarget(100, 5000, 0, Number.POSITIVE_INFINITY)).toBe(0);
    expect(compactTarget(100, 0, 200, Number.POSITIVE_INFINITY)).toBe(100);
  });
});
