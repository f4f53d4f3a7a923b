/**
 * Collects the garbage a burst left behind once the process goes quiet.
 *
 * V8 collects when allocation demands it, and Node gives it no idle notifications. So a
 * member that goes idle right after a burst (a bulk load, a benchmark, a compaction of
 * its raft log) keeps the dead objects of that burst for as long as it stays idle. On a
 * leader that is tens of MB: request and raft-message Buffers whose small wrappers never
 * fill the heap enough to start a collection (bench:memory, 1,000,000 keys: 43 MB of
 * external memory and 45 MB of used heap on an idle leader, against 8 MB of live Buffers
 * and about 20 MB of live heap in a heap snapshot taken right after).
 *
 * Every `intervalMs` this looks at the event loop's utilization over the interval and at
 * the heap and external memory. When the loop was nearly idle and memory has peaked
 * `minGrowthBytes` above where the last such collection left it, it collects (40-110 ms
 * measured on members holding 1,000,000 keys, on a loop with nothing else to do). Under
 * load it never runs: V8's own collections handle that. One more collection follows after as many idle
 * intervals again, for V8 to shrink its heap (see `followUp`).
 */
import { performance } from "node:perf_hooks";
import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

export interface IdleGcOptions {
  /** How often to look. Default 2 s. */
  intervalMs?: number;
  /** Event-loop utilization (0..1) at or below which an interval counts as idle. Default 0.05. */
  idleUtilization?: number;
  /**
   * Idle intervals in a row before collecting, and again before the follow-up
   * collection. Default 3 (6 s).
   */
  idleIntervals?: number;
  /** Peak of heap + external memory above the last idle collection that makes another worth it. Default 16 MiB. */
  minGrowthBytes?: number;
  /** The collection (tests). Default: V8's `gc`, exposed for this module only. */
  gc?: () => void;
  /** Heap used + external bytes (tests). */
  memory?: () => number;
  /** Utilization of the event loop since the previous call (tests). */
  utilization?: () => number;
  /** Told after each collection, with the bytes before and after. */
  onCollect?: (before: number, after: number, ms: number) => void;
}

/** A running idle collector; `stop()` ends it. */
export interface IdleGc {
  /** Runs one check now (the timer calls this); true when it collected. */
  check(): boolean;
  stop(): void;
}

/** Starts the idle collector, or returns undefined when V8's `gc` cannot be had. */
export function startIdleGc(options: IdleGcOptions = {}): IdleGc | undefined {
  const gc = options.gc ?? exposedGc();
  if (!gc) return undefined;
  const intervalMs = options.intervalMs ?? 2_000;
  const idle = options.idleUtilization ?? 0.05;
  const idleIntervals = options.idleIntervals ?? 3;
  const minGrowth = options.minGrowthBytes ?? 16 * 2 ** 20;
  const memory = options.memory ?? heapAndExternal;
  const utilization = options.utilization ?? loopUtilization();
  // Memory right after our last collection, and the most seen since. V8's own
  // collections in between lower the current reading but not the peak: the peak says a
  // burst happened, and a burst leaves garbage that V8 has no reason to collect once idle.
  let baseline = memory();
  let peak = baseline;
  let idleInARow = 0;
  // V8 shrinks its young generation (half of an idle member's heap) after a full
  // collection only when its allocation rate since the previous collection was low. The
  // first idle collection follows a burst, so it usually does not; a second one, after
  // as many idle intervals again, does.
  let followUp = false;
  const collect = (before: number): void => {
    const started = performance.now();
    // Twice: after one full collection the backing stores of dead Buffers were often
    // still counted (and allocated) until the next one, in a scratch test on Node 20.
    gc();
    gc();
    baseline = memory();
    peak = baseline;
    idleInARow = 0;
    options.onCollect?.(before, baseline, performance.now() - started);
  };
  const check = (): boolean => {
    idleInARow = utilization() > idle ? 0 : idleInARow + 1;
    const now = memory();
    if (now > peak) peak = now;
    if (idleInARow < idleIntervals) return false;
    if (followUp) {
      followUp = false;
      collect(now);
      return true;
    }
    if (peak - baseline < minGrowth) return false;
    collect(now);
    followUp = true;
    return true;
  };
  const timer = setInterval(check, intervalMs);
  timer.unref();
  return { check, stop: () => clearInterval(timer) };
}

function heapAndExternal(): number {
  const s = getHeapStatistics();
  return s.used_heap_size + s.external_memory;
}

function loopUtilization(): () => number {
  let last = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const u = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    return u;
  };
}

/**
 * V8's `gc` function without `--expose-gc` on the command line: the flag is set, read
 * into a fresh context, and cleared again, so no other context (and not the global
 * object of this one) gets it.
 */
function exposedGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === "function") return existing;
  try {
    setFlagsFromString("--expose-gc");
    const gc: unknown = runInNewContext("gc");
    return typeof gc === "function" ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  } finally {
    setFlagsFromString("--no-expose-gc");
  }
}
