import { describe, expect, it } from "vitest";
import { WaitRegistry } from "./wait.js";

describe("WaitRegistry", () => {
  it("matches triggers to waiters by id", async () => {
    const w = new WaitRegistry<string>();
    const a = w.register(1n);
    const b = w.register(2n);
    expect(() => w.register(1n)).toThrow(/duplicate/);
    expect(w.trigger(2n, { ok: true, value: "two" })).toBe(true);
    expect(w.trigger(2n, { ok: true, value: "again" })).toBe(false);
    expect(w.trigger(3n, { ok: true, value: "nobody" })).toBe(false);
    await expect(b).resolves.toBe("two");
    expect(w.fail(1n, new Error("boom"))).toBe(true);
    await expect(a).rejects.toThrow("boom");
    expect(w.size).toBe(0);
  });

  it("fails everything", async () => {
    const w = new WaitRegistry();
    const ps = [w.register(1n), w.register(2n)];
    w.failAll(new Error("stopped"));
    for (const p of ps) await expect(p).rejects.toThrow("stopped");
    expect(w.has(1n)).toBe(false);
  });
});
