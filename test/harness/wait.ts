/**
 * Polling with deadlines: the only way tests in this directory wait for something.
 * There is no `sleep` used as synchronisation; a poll checks a condition, and gives up
 * with a descriptive error when its deadline passes.
 */

/** Options of {@link pollUntil}. */
export interface PollOptions {
  /** Give up after this many milliseconds. */
  timeoutMs: number;
  /** Pause between attempts (default 50 ms). */
  intervalMs?: number;
  /** Described in the error when the deadline passes. */
  what: string;
  /** Stops polling early (e.g. the process being waited for has exited). */
  signal?: AbortSignal;
}

/** Resolves after `ms` milliseconds; the timer never keeps the process alive. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    timer.unref();
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Calls `probe` until it returns a value other than `undefined`, and returns that value.
 * A probe that throws counts as "not yet"; the last error is reported when the deadline
 * passes.
 */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  options: PollOptions,
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 50;
  let lastError: unknown;
  for (;;) {
    if (options.signal?.aborted) {
      throw new Error(`stopped waiting for ${options.what}: ${String(options.signal.reason)}`, {
        cause: options.signal.reason,
      });
    }
    try {
      const value = await probe();
      if (value !== undefined) return value;
      lastError = undefined;
    } catch (error) {
      if (error instanceof StopPolling) throw error.reason;
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const why = lastError === undefined ? "" : ` (last error: ${describeError(lastError)})`;
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}${why}`, {
        cause: lastError,
      });
    }
    await delay(Math.min(interval, Math.max(1, deadline - Date.now())));
  }
}

/** Thrown by a probe to end {@link pollUntil} at once, rejecting with `reason`. */
export class StopPolling extends Error {
  constructor(readonly reason: Error) {
    super(reason.message);
  }
}

/** One line describing an error, for messages. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
