/**
 * Exponential backoff with full jitter, and an abortable sleep whose timer never keeps
 * the process alive.
 *
 * @module
 */
import { AbortError } from "./errors.js";

/** Backoff settings (milliseconds). */
export interface BackoffOptions {
  /** First delay's upper bound (default 50). */
  initialMs?: number;
  /** Largest delay (default 2000). */
  maxMs?: number;
  /** Growth per attempt (default 2). */
  multiplier?: number;
}

/**
 * The delay before retry number `attempt` (0-based): a uniformly random value in
 * `[0, min(max, initial * multiplier^attempt)]` ("full jitter"), so that many clients
 * that failed together do not retry together.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random = Math.random,
): number {
  const initial = options.initialMs ?? 50;
  const max = options.maxMs ?? 2000;
  const multiplier = options.multiplier ?? 2;
  const ceiling = Math.min(max, initial * multiplier ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/**
 * Resolves after `ms` milliseconds; rejects with {@link AbortError} as soon as `signal`
 * aborts. The timer is unref'd.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError(signal.reason));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortError(signal?.reason));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    timer.unref();
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Throws {@link AbortError} if `signal` has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError(signal.reason);
}

/**
 * Runs `fn` with a signal that aborts when `signal` aborts, and removes the listener
 * afterwards; `onAbort` runs (once) when it does.
 */
export function onAbort(signal: AbortSignal | undefined, onAbortFn: () => void): () => void {
  if (!signal) return () => {};
  if (signal.aborted) {
    onAbortFn();
    return () => {};
  }
  signal.addEventListener("abort", onAbortFn, { once: true });
  return () => signal.removeEventListener("abort", onAbortFn);
}
