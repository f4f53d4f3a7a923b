import { describe, expect, it } from "vitest";
import { parseDuration } from "./config-duration.js";

describe("parseDuration (Go time.Duration text)", () => {
  it.each([
    ["10m", 600_000],
    ["1h30m", 5_400_000],
    ["1.5s", 1500],
    ["250ms", 250],
    ["0", 0],
    ["100us", 0.1],
  ])("%s is %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "10", "m", "5x", "1h 30m", "-1s", "s5"])("%j is not a duration", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});
