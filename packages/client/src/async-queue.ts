/**
 * A single-consumer queue that an async iterator drains: the producer pushes values
 * and finally ends it (normally or with an error); the consumer's `for await` sees the
 * values, then completes or throws.
 *
 * @module
 */

/** An unbounded single-consumer queue. */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter:
    | { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void }
    | undefined;
  private ended = false;
  private error: unknown;
  private hasError = false;

  /** Number of values waiting to be consumed. */
  get size(): number {
    return this.items.length;
  }

  /** Whether {@link end} was called. */
  get isEnded(): boolean {
    return this.ended;
  }

  /** Adds a value (ignored after {@link end}). */
  push(value: T): void {
    if (this.ended) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value, done: false });
    } else {
      this.items.push(value);
    }
  }

  /** Ends the queue: the consumer gets what is queued, then completes (or throws `error`). */
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    if (error !== undefined) {
      this.error = error;
      this.hasError = true;
    }
    if (this.waiter && this.items.length === 0) {
      const w = this.waiter;
      this.waiter = undefined;
      if (this.hasError) w.reject(this.error);
      else w.resolve({ value: undefined, done: true });
    }
  }

  /** Drops every queued value. */
  clear(): void {
    this.items.length = 0;
  }

  /** The next value (or the end). */
  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) {
      return Promise.resolve({ value: this.items.shift() as T, done: false });
    }
    if (this.ended) {
      if (this.hasError) {
        // The error is delivered once; later calls see a plain end.
        const error = this.error;
        this.hasError = false;
        return Promise.reject(error);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return { next: () => this.next() };
  }
}
