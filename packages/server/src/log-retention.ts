/**
 * How much raft log a member keeps, counted in bytes as well as in entries.
 *
 * etcd's rules count entries only: a snapshot every `--snapshot-count` applied entries, and
 * 5000 entries (SnapshotCatchUpEntries) kept behind it for slow followers. With small
 * entries that is a few MB. With large ones it is not: 5000 Txns of 1 MiB are 5 GB of log,
 * on disk, per member.
 *
 * So the driver (raft-driver.ts, step 5) also takes a snapshot once the entries applied
 * since the last one add up to `snapshotBytes`, and compacts the log down to
 * `catchUpBytes` behind the applied index, unless the entry rule compacts further. On the
 * leader the byte rule does not compact past the match index of a follower that it streams
 * entries to (raft's replicate state) or heard from recently: a follower that is merely
 * slow keeps its entries instead of being sent a snapshot of the whole database. A
 * follower the transport reported unreachable (probe state) and silent is not waited for.
 * The entry rule applies regardless, so the log never holds more than it did before.
 *
 * {@link LogBytes} keeps the byte count as checkpoints (last index, bytes appended through
 * it) about every `grain` bytes (at most {@link CHECKPOINT_BYTES}), so its size depends on
 * the bytes retained, not on the number of entries. It counts what this process appended; entries from before a
 * restart, or a storage swap, are not counted, and the byte rule leaves them to the entry
 * rule.
 */

/** Applied entry bytes between raft snapshots (with `--snapshot-count`, whichever first). */
export const DEFAULT_SNAPSHOT_BYTES = 64 * 1024 * 1024;
/** Entry bytes kept behind a snapshot for slow followers (with the 5000 entries). */
export const DEFAULT_CATCH_UP_BYTES = 64 * 1024 * 1024;
/** Largest granularity of the byte count. */
export const CHECKPOINT_BYTES = 1024 * 1024;

export class LogBytes {
  readonly #grain: number;
  /** Ascending checkpoint indexes, and the bytes appended through each (the first is 0). */
  #index: number[] = [];
  #cum: number[] = [];

  constructor(grain: number = CHECKPOINT_BYTES) {
    this.#grain = Math.max(1, grain);
  }

  /** Entries `first..last` appended, `bytes` of payload; replaces a conflicting suffix. */
  appended(first: number, last: number, bytes: number): void {
    if (last < first) return;
    const idx = this.#index;
    const cum = this.#cum;
    while (idx.length > 0 && idx[idx.length - 1] >= first) {
      idx.pop();
      cum.pop();
    }
    if (idx.length === 0) {
      idx.push(first - 1);
      cum.push(0);
    }
    const total = cum[cum.length - 1] + bytes;
    // Extend the last checkpoint while it covers less than the grain.
    if (idx.length >= 2 && total - cum[cum.length - 2] < this.#grain) {
      idx[idx.length - 1] = last;
      cum[cum.length - 1] = total;
    } else {
      idx.push(last);
      cum.push(total);
    }
  }

  /** Bytes appended through `index`, by whole checkpoints; undefined before the count began. */
  #through(index: number): number | undefined {
    const idx = this.#index;
    if (idx.length === 0 || index < idx[0]) return undefined;
    let lo = 0;
    let hi = idx.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (idx[mid] <= index) lo = mid;
      else hi = mid - 1;
    }
    return this.#cum[lo];
  }

  /** Bytes of the entries in (from, to]; what the count does not cover counts as 0. */
  between(from: number, to: number): number {
    const b = this.#through(to);
    if (b === undefined) return 0;
    return b - (this.#through(from) ?? 0);
  }

  /**
   * The smallest index that the log may be compacted to so that the entries in
   * (index, applied] add up to at most `maxBytes`; 0 when nothing needs compacting for
   * that (including when the bytes above the count's start already fit).
   */
  floor(applied: number, maxBytes: number): number {
    const top = this.#through(applied);
    if (top === undefined || top <= maxBytes) return 0;
    const idx = this.#index;
    const cum = this.#cum;
    let lo = 0;
    let hi = idx.length - 1;
    // The first checkpoint with top - cum <= maxBytes (cum ascends, so it is a boundary).
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (top - cum[mid] <= maxBytes) hi = mid;
      else lo = mid + 1;
    }
    return Math.min(idx[lo], applied);
  }

  /** Drops checkpoints below `index` (the log was compacted to it), keeping a base. */
  forget(index: number): void {
    const idx = this.#index;
    let k = 0;
    while (k + 1 < idx.length && idx[k + 1] <= index) k++;
    if (k > 0) {
      idx.splice(0, k);
      this.#cum.splice(0, k);
    }
  }

  /** Forgets everything (a new storage or an installed snapshot). */
  reset(): void {
    this.#index = [];
    this.#cum = [];
  }

  /** Checkpoints held (tests). */
  get size(): number {
    return this.#index.length;
  }
}

/**
 * Where the log may be compacted to after a snapshot at `applied`: the entry rule
 * (`applied - catchUpEntries`), or further when the entries kept would exceed
 * `catchUpBytes`, but the byte rule stops at `protect` (the lowest match index of the
 * leader's active followers; Infinity elsewhere). Never past `applied`.
 */
export function compactTarget(
  applied: number,
  catchUpEntries: number,
  byteFloor: number,
  protect: number,
): number {
  return Math.min(applied, Math.max(applied - catchUpEntries, Math.min(byteFloor, protect)));
}
