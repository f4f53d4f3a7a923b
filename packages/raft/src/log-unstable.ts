import { BugIndicatingError } from "./errors.js";
import type { Entry, Snapshot } from "./types.js";

/**
 * The tail of the log not yet known to be in stable storage: entries (and possibly an
 * incoming snapshot) that the caller has been handed in a Ready, or will be, and has not
 * yet confirmed with `advance`.
 *
 * Entries live in a plain array with a moving head so that both appending at the tail and
 * dropping stabilized entries at the front are O(1) amortized (no per-entry copying).
 *
 * Invariants:
 * - entry i (for offset <= i < offset+length) is `ents[head + i - offset]`;
 * - offset <= offsetInProgress <= offset+length: entries below offsetInProgress were
 *   handed out in a Ready and are being persisted;
 * - if `snapshot` is set, offset == snapshot.metadata.index + 1.
 */
export class Unstable {
  private ents: Entry[] = [];
  private head = 0;
  /** The index of the first unstable entry. */
  offset: number;
  /** The index of the first entry not yet handed out in a Ready. */
  offsetInProgress: number;
  /** An incoming snapshot (from the leader) not yet persisted. */
  snapshot: Snapshot | undefined;
  /** Whether `snapshot` was handed out in a Ready. */
  snapshotInProgress = false;

  constructor(offset: number) {
    this.offset = offset;
    this.offsetInProgress = offset;
  }

  /** How many unstable entries there are. */
  get length(): number {
    return this.ents.length - this.head;
  }

  /** The first index of the log if it is determined by the unstable snapshot, else -1. */
  maybeFirstIndex(): number {
    return this.snapshot !== undefined ? this.snapshot.metadata.index + 1 : -1;
  }

  /** The last index if there are unstable entries or an unstable snapshot, else -1. */
  maybeLastIndex(): number {
    const n = this.ents.length - this.head;
    if (n !== 0) return this.offset + n - 1;
    if (this.snapshot !== undefined) return this.snapshot.metadata.index;
    return -1;
  }

  /** The term of entry i if the unstable part knows it, else -1. */
  maybeTerm(i: number): number {
    if (i < this.offset) {
      if (this.snapshot !== undefined && this.snapshot.metadata.index === i) {
        return this.snapshot.metadata.term;
      }
      return -1;
    }
    const k = this.head + i - this.offset;
    if (k >= this.ents.length) return -1;
    return this.ents[k].term;
  }

  /** The unstable entry at index i. Invariant: offset <= i <= last. */
  entryAt(i: number): Entry {
    return this.ents[this.head + i - this.offset];
  }

  /** Whether there are entries not yet handed out in a Ready. */
  hasNextEntries(): boolean {
    return this.offsetInProgress < this.offset + this.ents.length - this.head;
  }

  /** The entries not yet handed out in a Ready, as a new array. */
  nextEntries(): Entry[] {
    const from = this.head + this.offsetInProgress - this.offset;
    return from >= this.ents.length ? [] : this.ents.slice(from);
  }

  /** The snapshot if it was not yet handed out in a Ready. */
  nextSnapshot(): Snapshot | undefined {
    return this.snapshotInProgress ? undefined : this.snapshot;
  }

  /** Marks everything currently unstable as handed out in a Ready. */
  acceptInProgress(): void {
    this.offsetInProgress = this.offset + this.ents.length - this.head;
    if (this.snapshot !== undefined) this.snapshotInProgress = true;
  }

  /**
   * Entries up to `index` (with term `term`) are durable: drop them. Ignored if the entry
   * is no longer there with that term (it was overwritten while being persisted; the
   * newer entries will be persisted by a later Ready).
   */
  stableTo(index: number, term: number): void {
    const t = this.maybeTerm(index);
    if (t < 0 || index < this.offset || t !== term) return;
    const num = index + 1 - this.offset;
    this.head += num;
    this.offset = index + 1;
    if (this.offsetInProgress < this.offset) this.offsetInProgress = this.offset;
    if (this.head === this.ents.length) {
      this.ents = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.ents.length) {
      this.ents = this.ents.slice(this.head);
      this.head = 0;
    }
  }

  /** The snapshot at `index` is durable: drop it. */
  stableSnapTo(index: number): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === index) {
      this.snapshot = undefined;
      this.snapshotInProgress = false;
    }
  }

  /** Replaces everything with an incoming snapshot. */
  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1;
    this.offsetInProgress = this.offset;
    this.ents = [];
    this.head = 0;
    this.snapshot = s;
    this.snapshotInProgress = false;
  }

  /**
   * Appends `ents` (contiguous, non-empty), first truncating any existing entries at or
   * after `ents[0].index`. The array is not retained.
   */
  truncateAndAppend(ents: readonly Entry[], from = 0): void {
    const fromIndex = ents[from].index;
    const end = this.offset + this.ents.length - this.head;
    if (fromIndex === end) {
      // The common case: append at the tail.
    } else if (fromIndex <= this.offset) {
      // Replace everything, including what the stable log may hold after fromIndex.
      this.ents = [];
      this.head = 0;
      this.offset = fromIndex;
      this.offsetInProgress = fromIndex;
    } else if (fromIndex < end) {
      this.ents.length = this.head + fromIndex - this.offset;
      if (this.offsetInProgress > fromIndex) this.offsetInProgress = fromIndex;
    } else {
      throw new BugIndicatingError(
        `unstable: appending at ${fromIndex} leaves a gap after ${end - 1}`,
      );
    }
    const dst = this.ents;
    for (let i = from; i < ents.length; i++) dst.push(ents[i]);
  }

  /** Appends one entry at the tail. Invariant: e.index == offset + length. */
  pushOne(e: Entry): void {
    this.ents.push(e);
  }

  /** Entries [lo, hi) as a new array. Invariant: offset <= lo <= hi <= last+1. */
  slice(lo: number, hi: number): Entry[] {
    const end = this.offset + this.ents.length - this.head;
    if (lo > hi || lo < this.offset || hi > end) {
      throw new BugIndicatingError(
        `unstable.slice[${lo},${hi}) out of bound [${this.offset},${end}]`,
      );
    }
    return this.ents.slice(this.head + lo - this.offset, this.head + hi - this.offset);
  }

  /** The backing array and the array position of index `lo`, for size-limited slicing. */
  view(lo: number): { arr: readonly Entry[]; start: number; end: number } {
    return { arr: this.ents, start: this.head + lo - this.offset, end: this.ents.length };
  }
}
