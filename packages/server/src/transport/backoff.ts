/** Exponential backoff with full jitter (grpc-js backoff-timeout.ts style), for reconnects. */
export class Backoff {
  #attempt = 0;

  constructor(
    private readonly initialMs = 100,
    private readonly maxMs = 5_000,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt: [d/2, d) with d = initial * 2^attempt, capped. */
  next(): number {
    const d = Math.min(this.maxMs, this.initialMs * 2 ** this.#attempt);
    this.#attempt = Math.min(this.#attempt + 1, 30);
    return Math.floor(d / 2 + (this.random() * d) / 2);
  }

  reset(): void {
    this.#attempt = 0;
  }
}
