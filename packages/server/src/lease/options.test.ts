import { describe, expect, it } from "vitest";
import { minLeaseTtl } from "./options.js";

describe("minLeaseTtl", () => {
  it.each([
    // heartbeat ms, election ms, seconds: ceil(((3 × ⌊election / heartbeat⌋) / 2) heartbeats)
    [100, 1000, 2], // etcd's defaults: 15 heartbeats = 1.5 s
    [25, 250, 1], // 375 ms
    [50, 500, 1], // 750 ms
    [100, 1100, 2], // 11 ticks: ⌊33 / 2⌋ = 16 heartbeats = 1.6 s
    [100, 1500, 3], // 22 heartbeats = 2.2 s
    [1000, 5000, 7], // ⌊15 / 2⌋ = 7 heartbeats = 7 s
    [300, 1000, 2], // 3 ticks: ⌊9 / 2⌋ = 4 heartbeats = 1.2 s
  ])("heartbeat %i ms, election %i ms: %i s, as etcd computes it", (hb, election, want) => {
    expect(minLeaseTtl(hb, election)).toBe(want);
  });
});
