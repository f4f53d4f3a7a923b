/**
 * Last-resort cleanup: whatever a test run started and did not end is killed, and its
 * temp directories removed, when the process exits — also after a failed or interrupted
 * test. Normal cleanup is `Cluster.close()` from afterAll; this is the safety net.
 */
import { rmSync } from "node:fs";

const liveProcesses = new Map<number, string>();
const liveDirs = new Set<string>();
let hooked = false;

function cleanupNow(): void {
  for (const pid of liveProcesses.keys()) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  liveProcesses.clear();
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  liveDirs.clear();
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", cleanupNow);
  // A signal that would end this process skips 'exit' handlers: clean up, then let the
  // signal do what it would have done (re-raised when nobody else handles it).
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = () => {
      cleanupNow();
      process.removeListener(signal, onSignal);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/** Remembers a child process until {@link forgetProcess}. */
export function trackProcess(pid: number, description: string): void {
  hook();
  liveProcesses.set(pid, description);
}

export function forgetProcess(pid: number): void {
  liveProcesses.delete(pid);
}

/** Remembers a temp directory until {@link forgetDir}. */
export function trackDir(dir: string): void {
  hook();
  liveDirs.add(dir);
}

export function forgetDir(dir: string): void {
  liveDirs.delete(dir);
}

/** What is still running (for leak checks in tests). */
export function trackedProcesses(): ReadonlyMap<number, string> {
  return liveProcesses;
}
