/**
 * Typed events: an {@link Event} is a function that registers a listener and returns
 * a {@link Disposable} that removes it (the style of VS Code's `Event<T>`), instead of
 * an EventEmitter keyed by strings.
 *
 * @module
 */

/** Something that can be released; `dispose()` is idempotent. */
export interface Disposable {
  /** Releases it (idempotent). */
  dispose(): void;
}

/** Registers `listener`; call `dispose()` on the result to stop listening. */
export type Event<T> = (listener: (value: T) => void) => Disposable;

/**
 * The sending side of an {@link Event}. A listener that throws does not stop the
 * others; its error is reported on `process` as an uncaught exception in a later
 * turn, as EventEmitter would.
 */
export class Emitter<T> {
  private readonly listeners = new Set<(value: T) => void>();
  private onFirstListener: (() => void) | undefined;

  /**
   * @param onFirstListener called whenever a listener is added (used by watchers to
   *   know that events are consumed by listeners).
   */
  constructor(onFirstListener?: () => void) {
    this.onFirstListener = onFirstListener;
  }

  /** The public side: subscribe with `emitter.event(listener)`. */
  readonly event: Event<T> = (listener) => {
    // Wrap so that the same function may be registered twice and removed separately.
    const entry = (value: T) => listener(value);
    this.listeners.add(entry);
    this.onFirstListener?.();
    return { dispose: () => void this.listeners.delete(entry) };
  };

  /** Calls every listener with `value`. */
  fire(value: T): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(value);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  /** Whether anyone listens. */
  get hasListeners(): boolean {
    return this.listeners.size > 0;
  }

  /** Removes every listener. */
  dispose(): void {
    this.listeners.clear();
    this.onFirstListener = undefined;
  }
}

/** Resolves with the next value of `event`. */
export function once<T>(event: Event<T>): Promise<T> {
  return new Promise((resolve) => {
    const sub = event((value) => {
      sub.dispose();
      resolve(value);
    });
  });
}
