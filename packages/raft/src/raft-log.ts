import { BugIndicatingError } from "./errors.js";
import { Unstable } from "./log-unstable.js";
import { CompactedError, type Storage, UnavailableError } from "./storage.js";
import { type Entry, EntryType, type Snapshot } from "./types.js";
import { entriesSize, limitCount, NO_LIMIT } from "./util.js";

/**
 * A node's view of its log: the durable part (read from {@link Storage}) followed by the
 * {@link Unstable} tail, plus the commit and apply cursors.
 *
 * Invariants:
 * - applied <= applying <= committed <= lastIndex();
 * - firstIndex()-1 <= applied (nothing compacted is unapplied);
 * - entries below `unstable.offset` are in storage.
 */
export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  /** The highest index known to be committed on a quorum. */
  committed: number;
  /** The highest index handed to the application in a Ready (not yet advanced). */
  applying: number;
  /** The highest index the application has applied (confirmed by advance). */
  applied: number;
  /** Cap on the bytes of committed entries in flight to the application. */
  readonly maxApplyingEntsSize: number;
  private applyingEntsSize = 0;
  private applyingEntsPaused = false;
  /** Optional debug sink, set by the owner when a logger is configured. */
  logger: ((msg: string) => void) | undefined;
  /**
   * Called before existing entries from `index` on are replaced (a conflicting append, or
   * `restore`, which replaces everything: index 0). The owner uses it to retract
   * acknowledgements it queued but has not handed out yet.
   */
  onTruncate: ((index: number) => void) | undefined;

  constructor(storage: Storage, maxApplyingEntsSize = NO_LIMIT) {
    this.storage = storage;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applying = first - 1;
    this.applied = first - 1;
    this.maxApplyingEntsSize = maxApplyingEntsSize;
  }

  /** Canonical text of the cursors, for debugging. */
  describe(): string {
    return (
      `committed=${this.committed}, applied=${this.applied}, applying=${this.applying}, ` +
      `unstable.offset=${this.unstable.offset}, unstable.offsetInProgress=` +
      `${this.unstable.offsetInProgress}, len(unstable.Entries)=${this.unstable.length}`
    );
  }

  /** The index of the first entry still held (after the snapshot). */
  firstIndex(): number {
    const i = this.unstable.maybeFirstIndex();
    return i >= 0 ? i : this.storage.firstIndex();
  }

  /** The index of the last entry (the snapshot index if the log is empty). */
  lastIndex(): number {
    const i = this.unstable.maybeLastIndex();
    return i >= 0 ? i : this.storage.lastIndex();
  }

  /** The term of the last entry. */
  lastTerm(): number {
    const t = this.termOrNeg(this.lastIndex());
    if (t < 0) throw new BugIndicatingError("the last term of the log is unavailable");
    return t;
  }

  /**
   * The term of entry i, or -1 if i is compacted (below firstIndex()-1) or past the end.
   * The allocation- and exception-free lookup used on hot paths.
   */
  termOrNeg(i: number): number {
    const t = this.unstable.maybeTerm(i);
    if (t >= 0) return t;
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return -1;
    return this.storage.term(i);
  }

  /** The term of entry i; throws CompactedError / UnavailableError when out of range. */
  term(i: number): number {
    const t = this.unstable.maybeTerm(i);
    if (t >= 0) return t;
    if (i < this.firstIndex() - 1) throw new CompactedError();
    if (i > this.lastIndex()) throw new UnavailableError();
    return this.storage.term(i);
  }

  /** The term of entry i, or 0 if it is compacted or past the end. */
  zeroTermOnOutOfBounds(i: number): number {
    const t = this.termOrNeg(i);
    return Math.max(t, 0);
  }

  /** Whether entry i exists with term t. */
  matchTerm(i: number, t: number): boolean {
    return this.termOrNeg(i) === t;
  }

  /**
   * Whether a log ending at (lastIndex, lastTerm) is at least as up to date as ours
   * (thesis §3.6.1: later last term wins; same last term, longer log wins).
   */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Appends the leader's entries `ents` that follow (prevIndex, prevTerm) if our log
   * contains that entry (thesis §3.5 consistency check), truncating at the first conflict,
   * and commits up to min(committed, last new index). Returns the last new index, or -1 if
   * the check failed.
   */
  maybeAppend(
    prevIndex: number,
    prevTerm: number,
    committed: number,
    ents: readonly Entry[],
  ): number {
    if (!this.matchTerm(prevIndex, prevTerm)) return -1;
    const lastNew = prevIndex + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) {
        throw new BugIndicatingError(
          `entry ${ci} conflicts with committed entry [committed(${this.committed})]`,
        );
      }
      this.append(ents, ci - (prevIndex + 1));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** Appends `ents[from..]` to the unstable log, truncating a conflicting suffix. */
  append(ents: readonly Entry[], from = 0): number {
    if (from >= ents.length) return this.lastIndex();
    const after = ents[from].index - 1;
    if (after < this.committed) {
      throw new BugIndicatingError(
        `after(${after}) is out of range [committed(${this.committed})]`,
      );
    }
    if (after < this.lastIndex()) this.onTruncate?.(after + 1);
    this.unstable.truncateAndAppend(ents, from);
    return this.lastIndex();
  }

  /** Appends one entry right after the last one (a leader's own proposal). */
  appendOne(e: Entry): void {
    if (e.index !== this.lastIndex() + 1) {
      throw new BugIndicatingError(
        `appendOne(${e.index}) does not follow lastIndex(${this.lastIndex()})`,
      );
    }
    this.unstable.pushOne(e);
  }

  /**
   * The index of the first entry of `ents` that is not in our log with the same term
   * (either it conflicts or it is new), or 0 if all of them are already present.
   * Invariant: ents are contiguous.
   */
  findConflict(ents: readonly Entry[]): number {
    const last = this.lastIndex();
    for (const e of ents) {
      if (e.index > last) return e.index;
      if (this.termOrNeg(e.index) !== e.term) {
        if (this.logger) {
          this.logger(
            `found conflict at index ${e.index} [existing term: ${this.zeroTermOnOutOfBounds(e.index)}, conflicting term: ${e.term}]`,
          );
        }
        return e.index;
      }
    }
    return 0;
  }

  /**
   * Fast backtracking (etcd's findConflictByTerm): the largest index <= `index` whose term
   * is <= `term`, with that term. A leader probing with (index, term) that is rejected can
   * skip every entry above this one: they all have terms > `term`, so none can match.
   * Returns [index, 0] when the lookup reaches the compacted prefix.
   */
  findConflictByTerm(index: number, term: number): [number, number] {
    for (; index > 0; index--) {
      const t = this.termOrNeg(index);
      if (t < 0) return [index, 0];
      if (t <= term) return [index, t];
    }
    return [0, 0];
  }

  /** Whether a committed entry not yet applied is a conf change (campaigning is unsafe then). */
  hasUnappliedConfChanges(): boolean {
    return this.hasConfChangesIn(this.applied + 1, this.committed + 1);
  }

  /**
   * Whether a committed entry handed to the application but not yet applied (advanced) is
   * a conf change: the application is about to call applyConfChange for it.
   */
  hasApplyingConfChanges(): boolean {
    return (
      this.applying > this.applied && this.hasConfChangesIn(this.applied + 1, this.applying + 1)
    );
  }

  /** Whether an entry in [lo, hi) is a conf change. Invariant: the range is not compacted. */
  private hasConfChangesIn(lo: number, hi: number): boolean {
    while (lo < hi) {
      const ents = this.slice(lo, hi, 1024 * 1024);
      for (const e of ents) if (e.type !== EntryType.Normal) return true;
      lo += ents.length;
    }
    return false;
  }

  /** Whether there are unstable entries not yet handed out in a Ready. */
  hasNextUnstableEnts(): boolean {
    return this.unstable.hasNextEntries();
  }

  /** The unstable entries not yet handed out in a Ready. */
  nextUnstableEnts(): Entry[] {
    return this.unstable.nextEntries();
  }

  /** An unstable snapshot not yet handed out in a Ready. */
  nextUnstableSnapshot(): Snapshot | undefined {
    return this.unstable.nextSnapshot();
  }

  /** Whether an incoming snapshot is waiting to be, or being, persisted. */
  hasNextOrInProgressSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  /** The highest committed index that may be handed to the application. */
  private maxAppliableIndex(): number {
    // Committed entries may still be unstable locally: the caller persists a Ready's
    // entries before applying its committed entries, and handles Readies in order.
    return this.committed;
  }

  /** Whether committed entries are waiting to be handed to the application. */
  hasNextCommittedEnts(): boolean {
    if (this.applyingEntsPaused || this.unstable.snapshot !== undefined) return false;
    return this.applying < this.maxAppliableIndex();
  }

  /**
   * The committed entries to hand to the application next, at most
   * `maxApplyingEntsSize` bytes in flight (at least one entry).
   */
  nextCommittedEnts(): Entry[] {
    if (!this.hasNextCommittedEnts()) return [];
    const lo = this.applying + 1;
    const hi = this.maxAppliableIndex() + 1;
    const budget = this.maxApplyingEntsSize - this.applyingEntsSize;
    return this.slice(lo, hi, budget > 0 ? budget : 1);
  }

  /** Raises the commit index. Throws if past the end of the log (lost entries). */
  commitTo(toCommit: number): void {
    if (this.committed < toCommit) {
      if (this.lastIndex() < toCommit) {
        throw new BugIndicatingError(
          `tocommit(${toCommit}) is out of range [lastIndex(${this.lastIndex()})]. Was the raft log corrupted, truncated, or lost?`,
        );
      }
      this.committed = toCommit;
    }
  }

  /** Records that the application applied everything up to i (`size` payload bytes). */
  appliedTo(i: number, size: number): void {
    if (this.committed < i || i < this.applied) {
      throw new BugIndicatingError(
        `applied(${i}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`,
      );
    }
    this.applied = i;
    if (this.applying < i) this.applying = i;
    this.applyingEntsSize = this.applyingEntsSize > size ? this.applyingEntsSize - size : 0;
    this.applyingEntsPaused = this.applyingEntsSize >= this.maxApplyingEntsSize;
  }

  /** Records that committed entries up to i (`size` bytes) were handed out in a Ready. */
  acceptApplying(i: number, size: number): void {
    if (this.committed < i) {
      throw new BugIndicatingError(`applying(${i}) is out of range [committed(${this.committed})]`);
    }
    this.applying = i;
    this.applyingEntsSize += size;
    // Pause when the budget is spent, or when the Ready was cut short by the size limit
    // (the rest follows after the application catches up).
    this.applyingEntsPaused =
      this.applyingEntsSize >= this.maxApplyingEntsSize || i < this.maxAppliableIndex();
  }

  /** Entries up to (index, term) are durable. */
  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  /** The snapshot at `index` is durable. */
  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }

  /** Everything unstable has been handed out in a Ready. */
  acceptUnstable(): void {
    this.unstable.acceptInProgress();
  }

  /**
   * The last index known durable and matching this log: everything below the unstable
   * tail. A leader counts itself toward commit only up to here (thesis §10.2.1).
   */
  stableLastIndex(): number {
    return this.unstable.offset - 1;
  }

  /** Entries from i to the end, at most maxSize bytes (at least one entry). */
  entries(i: number, maxSize: number): Entry[] {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxSize);
  }

  /** Every entry in the log (for tests). */
  allEntries(): Entry[] {
    return this.entries(this.firstIndex(), NO_LIMIT);
  }

  /**
   * Commits up to `index` if that entry has term `term` (the leader's current term: only
   * current-term entries commit by counting, thesis §3.6.2 / paper §5.4.2).
   */
  maybeCommit(index: number, term: number): boolean {
    if (term !== 0 && index > this.committed && this.matchTerm(index, term)) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  /** Replaces the log with a snapshot received from the leader. */
  restore(s: Snapshot): void {
    this.onTruncate?.(0);
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  /** The latest snapshot: the unstable one if any, else the storage's. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /**
   * Entries [lo, hi), limited to maxSize bytes (at least one entry). Throws CompactedError
   * if lo is compacted; an out-of-bounds hi is a bug.
   */
  slice(lo: number, hi: number, maxSize: number): Entry[] {
    if (lo > hi) throw new BugIndicatingError(`invalid slice ${lo} > ${hi}`);
    const fi = this.firstIndex();
    if (lo < fi) throw new CompactedError();
    const last = this.lastIndex();
    if (hi > last + 1) {
      throw new BugIndicatingError(`slice[${lo},${hi}) out of bound [${fi},${last}]`);
    }
    if (lo === hi) return [];
    const off = this.unstable.offset;
    if (lo >= off) {
      const v = this.unstable.view(lo);
      const n = limitCount(v.arr, v.start, v.start + (hi - lo), maxSize);
      return v.arr.slice(v.start, v.start + n);
    }
    const cut = Math.min(hi, off);
    const ents = this.storage.entries(lo, cut, maxSize);
    if (hi <= off || ents.length < cut - lo) return ents;
    const size = entriesSize(ents);
    if (size >= maxSize) return ents;
    // Continue into the unstable part with the remaining budget; unlike a fresh slice,
    // the first entry here must fit, since the result already holds at least one.
    const v = this.unstable.view(off);
    const end = v.start + (hi - off);
    let rem = maxSize - size;
    let i = v.start;
    for (; i < end; i++) {
      rem -= v.arr[i].data.byteLength;
      if (rem < 0) break;
    }
    if (i === v.start) return ents;
    // Copy rather than extend: the storage may have returned an array it keeps.
    const out = ents.slice();
    for (let k = v.start; k < i; k++) out.push(v.arr[k]);
    return out;
  }
}
