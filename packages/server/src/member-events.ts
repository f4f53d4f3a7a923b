/** Small pieces of the member: a typed event source, a cancellable delay, URL sets. */
import type { Logger } from "pino";
import type { Event } from "./member-context.js";

/** A typed event source. */
export class Emitter<T> {
  readonly #listeners = new Set<(e: T) => void>();
  readonly #logger: Logger;
  constructor(logger: Logger) {
    this.#logger = logger;
  }
  readonly event: Event<T> = (listener) => {
    this.#listeners.add(listener);
    return { dispose: () => this.#listeners.delete(listener) };
  };
  fire(e: T): void {
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch (err) {
        this.#logger.error({ err }, "bug: an event listener threw");
      }
    }
  }
}

/** Whether two URL lists hold the same URLs (order ignored). */
export function sameUrls(a: readonly string[], b: readonly string[]): boolean {
  const x = [...a].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((u, i) => u === y[i]);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    t.unref();
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
