import { getHeapStatistics } from "node:v8";
import { describe, expect, it } from "vitest";
import { startIdleGc } from "./idle-gc.js";

const MiB = 2 ** 20;

/** A collector driven by hand: memory and utilization are whatever the test sets. */
function manual(idleIntervals = 1, minGrowthBytes = 16 * MiB) {
  const state = { memory: 100 * MiB, utilization: 0, collections: 0, afterGc: 40 * MiB };
  const idle = startIdleGc({
    intervalMs: 3_600_000,
    minGrowthBytes,
    idleUtilization: 0.05,
    idleIntervals,
    memory: () => state.memory,
    utilization: () => state.utilization,
    gc: () => {
      state.collections++;
      state.memory = state.afterGc;
    },
  });
  if (!idle) throw new Error("no collector");
  return { state, idle };
}

describe("idle gc", () => {
  it("collects when the loop is idle and memory grew, follows up once, then waits for growth", () => {
    const { state, idle } = manual();
    try {
      state.memory += 20 * MiB;
      expect(idle.check()).toBe(true);
      expect(state.collections).toBe(2); // two full collections per reduction
      expect(idle.check()).toBe(true); // the follow-up, for V8 to shrink its heap
      expect(state.collections).toBe(4);
      expect(idle.check()).toBe(false);
      state.memory += 10 * MiB;
      expect(idle.check()).toBe(false);
      state.memory += 10 * MiB;
      expect(idle.check()).toBe(true);
      expect(state.collections).toBe(6);
    } finally {
      idle.stop();
    }
  });

  it("never collects while the loop is busy, whatever the growth", () => {
    const { state, idle } = manual();
    try {
      state.utilization = 0.3;
      for (let i = 0; i < 5; i++) {
        state.memory += 50 * MiB;
        expect(idle.check()).toBe(false);
      }
      expect(state.collections).toBe(0);
      // The first idle interval after the burst collects.
      state.utilization = 0.01;
      expect(idle.check()).toBe(true);
    } finally {
      idle.stop();
    }
  });

  it("waits for the given number of idle intervals in a row", () => {
    const { state, idle } = manual(3);
    try {
      state.memory += 20 * MiB;
      expect(idle.check()).toBe(false);
      expect(idle.check()).toBe(false);
      state.utilization = 0.2; // busy again: the count starts over
      expect(idle.check()).toBe(false);
      state.utilization = 0;
      expect(idle.check()).toBe(false);
      expect(idle.check()).toBe(false);
      expect(idle.check()).toBe(true);
      expect(state.collections).toBe(2);
    } finally {
      idle.stop();
    }
  });

  it("counts the peak since its last collection, not what V8 already collected", () => {
    const { state, idle } = manual();
    try {
      state.utilization = 0.5;
      state.memory = 110 * MiB; // a burst: +10 MiB over the start
      expect(idle.check()).toBe(false);
      state.memory = 60 * MiB; // V8 collected by itself during the burst
      expect(idle.check()).toBe(false);
      state.memory = 120 * MiB; // peak: 20 MiB above the start
      expect(idle.check()).toBe(false);
      state.memory = 90 * MiB; // V8 again, then the loop goes idle
      state.utilization = 0.01;
      expect(idle.check()).toBe(true);
      expect(idle.check()).toBe(true); // the follow-up
      // Left at 40 MiB: a peak 15 MiB above that is not enough, 17 MiB is.
      state.memory = 55 * MiB;
      expect(idle.check()).toBe(false);
      state.memory = 50 * MiB;
      expect(idle.check()).toBe(false);
      state.memory = 57 * MiB;
      expect(idle.check()).toBe(true);
    } finally {
      idle.stop();
    }
  });

  it("frees dead Buffers with V8's real gc, without exposing gc to the global object", () => {
    const external = () => getHeapStatistics().external_memory;
    const idle = startIdleGc({
      intervalMs: 3_600_000,
      minGrowthBytes: 16 * MiB,
      idleIntervals: 1,
      utilization: () => 0,
    });
    expect(idle).toBeDefined();
    try {
      (() => {
        const garbage: Buffer[] = [];
        for (let i = 0; i < 3000; i++) garbage.push(Buffer.alloc(16_384, 1));
        return garbage.length;
      })();
      const before = external();
      expect(before).toBeGreaterThan(40 * MiB);
      expect(idle?.check()).toBe(true);
      expect(external()).toBeLessThan(before - 40 * MiB);
      expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
    } finally {
      idle?.stop();
    }
  });
});
