import { SafetyViolation } from "./safety-checker.js";

/**
 * Linearizability of ReadIndex reads (thesis §6.4): a read that starts after a write was
 * acknowledged to its client must be served at a read index that includes that write.
 * Writes are acknowledged when the member that proposed them applies them (DESIGN.md
 * durability rule 4); reads are served once the member's applied index reaches the read
 * index.
 */
export class ReadChecker {
  /** The highest log index of a write acknowledged so far. */
  private maxAcked = 0;
  private readonly open = new Map<string, { required: number; start: number }>();

  /** A write at log index `index` was acknowledged to its client. */
  onWriteAcked(index: number): void {
    if (index > this.maxAcked) this.maxAcked = index;
  }

  /** A read with request context `ctx` starts now (at virtual time `now`). */
  onReadStart(ctx: string, now: number): void {
    this.open.set(ctx, { required: this.maxAcked, start: now });
  }

  /**
   * The read `ctx` is served by a state machine whose applied index is `applied`, after
   * raft answered it with `readIndex`.
   */
  onReadServed(ctx: string, readIndex: number, applied: number): void {
    const r = this.open.get(ctx);
    if (r === undefined) {
      throw new SafetyViolation("Read Linearizability", `read ${ctx} answered but never issued`);
    }
    if (applied < readIndex) {
      throw new SafetyViolation(
        "Read Linearizability",
        `read ${ctx} served at applied ${applied} < read index ${readIndex}`,
      );
    }
    if (readIndex < r.required) {
      throw new SafetyViolation(
        "Read Linearizability",
        `read ${ctx} got read index ${readIndex} but a write at ${r.required} was acknowledged before it started (t=${r.start})`,
      );
    }
  }

  /** Forgets a read that will not be answered (its member crashed). */
  abandon(ctx: string): void {
    this.open.delete(ctx);
  }

  /** The number of reads issued and not yet forgotten. */
  get pending(): number {
    return this.open.size;
  }
}
