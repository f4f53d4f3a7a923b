import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Histogram } from "./histogram.js";

/** The exact quantile of sorted samples, by the same rank rule. */
function exact(sorted: number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1];
}

describe("Histogram", () => {
  it("is exact below 128 µs", () => {
    const h = new Histogram();
    for (let v = 0; v < 128; v++) h.record(v);
    expect(h.quantile(0.5)).toBe(63);
    expect(h.quantile(1)).toBe(127);
    expect(h.count).toBe(128);
  });

  it("stays within 1.6% of the exact quantile, never above the maximum", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 120_000_000 }), { minLength: 1, maxLength: 300 }),
        fc.constantFrom(0.5, 0.9, 0.99, 1),
        (values, q) => {
          const h = new Histogram();
          for (const v of values) h.record(v);
          const sorted = [...values].sort((a, b) => a - b);
          const want = exact(sorted, q);
          const got = h.quantile(q);
          expect(got).toBeGreaterThanOrEqual(want);
          expect(got).toBeLessThanOrEqual(Math.max(want * 1.016, want + 1));
          expect(h.max).toBe(sorted[sorted.length - 1]);
        },
      ),
    );
  });

  it("merges", () => {
    const a = new Histogram();
    const b = new Histogram();
    a.record(10);
    b.record(1000);
    a.merge(b);
    expect([a.count, a.quantile(0.5), a.max]).toEqual([2, 10, 1000]);
  });
});
