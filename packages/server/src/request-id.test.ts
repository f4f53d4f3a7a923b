import { describe, expect, it } from "vitest";
import { RequestIdGenerator } from "./request-id.js";

describe("RequestIdGenerator", () => {
  it("puts the member's low 16 bits on top and counts from the start time", () => {
    const g = new RequestIdGenerator(0xbed8c797ad5d0888n, 1_000);
    const a = g.next();
    const b = g.next();
    expect(a >> 48n).toBe(0x0888n);
    expect(a & ((1n << 48n) - 1n)).toBe((1_000n << 8n) + 1n);
    expect(b - a).toBe(1n);
  });

  it("keeps members apart and never repeats", () => {
    const g1 = new RequestIdGenerator(1n, 5);
    const g2 = new RequestIdGenerator(2n, 5);
    const seen = new Set<bigint>();
    for (let i = 0; i < 1000; i++) {
      seen.add(g1.next());
      seen.add(g2.next());
    }
    expect(seen.size).toBe(2000);
  });
});
