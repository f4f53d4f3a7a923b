import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LeaseQueue } from "./lease-queue.js";

/** The naive reference: a map, scanned for the minimum (ties: any of them). */
function naiveMin(m: Map<bigint, number>): number | undefined {
  let min: number | undefined;
  for (const t of m.values()) if (min === undefined || t < min) min = t;
  return min;
}

describe("LeaseQueue", () => {
  it("behaves like a map scanned for its earliest time", () => {
    const op = fc.oneof(
      fc.record({
        k: fc.constant("set"),
        id: fc.bigInt(0n, 20n),
        t: fc.integer({ min: 0, max: 50 }),
      }),
      fc.record({ k: fc.constant("delete"), id: fc.bigInt(0n, 20n) }),
      fc.record({ k: fc.constant("pop") }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const q = new LeaseQueue();
        const ref = new Map<bigint, number>();
        for (const o of ops) {
          if (o.k === "set") {
            q.set(o.id, o.t);
            ref.set(o.id, o.t);
          } else if (o.k === "delete") {
            q.delete(o.id);
            ref.delete(o.id);
          } else {
            const top = q.pop();
            expect(top?.time).toBe(naiveMin(ref));
            if (top) {
              expect(ref.get(top.id)).toBe(top.time);
              ref.delete(top.id);
            }
          }
          expect(q.size).toBe(ref.size);
          expect(q.peek()?.time).toBe(naiveMin(ref));
          for (const [id, t] of ref) expect(q.timeOf(id)).toBe(t);
        }
      }),
      { seed: 42, numRuns: 200 },
    );
  });
});
