/**
 * EntryCache: the most recent contiguous run of log entries, bounded in bytes. The raft
 * core mostly reads entries it has just appended (to send them to followers and to apply
 * them), so those answers come from memory; older ranges are read from RocksDB.
 *
 * Invariant: the cached entries are contiguous, [start, start + count), and `bytes` is the
 * sum of {@link entryCost} over them; after every mutation bytes <= capBytes (entries are
 * evicted from the front, oldest first).
 */
import type { Entry } from "@chainfire/raft";

/** The accounted size of one cached entry: its data plus an estimate of the object. */
export function entryCost(e: Entry): number {
  return e.data.length + ENTRY_OVERHEAD;
}

/** Bytes charged per cached entry on top of its data (object, array slot, views). */
export const ENTRY_OVERHEAD = 96;

export class EntryCache {
  private items: Entry[] = [];
  private head = 0;
  private _start = 0;
  private _bytes = 0;

  constructor(readonly capBytes: number) {}

  /** The first cached index (meaningful only when count > 0). */
  get start(): number {
    return this._start;
  }

  get count(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this._bytes;
  }

  /** One past the last cached index (== start when empty). */
  get end(): number {
    return this._start + this.count;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this._bytes = 0;
  }

  /**
   * Adds entries that were just made durable. `ents` are contiguous. A suffix of the cache
   * at or after ents[0].index is replaced (a conflicting suffix was truncated); if ents do
   * not join onto the cache, the cache restarts with them.
   */
  append(ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    const first = ents[0].index;
    if (this.count === 0 || first < this._start || first > this.end) {
      this.clear();
      this._start = first;
    } else if (first < this.end) {
      this.truncateFrom(first);
    }
    for (const e of ents) {
      this.items.push(e);
      this._bytes += entryCost(e);
    }
    this.evict();
  }

  /** Drops cached entries with index >= `index`. */
  truncateFrom(index: number): void {
    if (index >= this.end) return;
    if (index <= this._start) {
      this.clear();
      return;
    }
    const keep = this.head + (index - this._start);
    for (let i = keep; i < this.items.length; i++) this._bytes -= entryCost(this.items[i]);
    this.items.length = keep;
  }

  /** Drops cached entries with index <= `index`. */
  compactTo(index: number): void {
    while (this.count > 0 && this._start <= index) this.shift();
    if (this.count === 0 && this._start <= index) this._start = index + 1;
    this.maybeReclaim();
  }

  /** The cached entry at `index`, or undefined. */
  get(index: number): Entry | undefined {
    if (index < this._start || index >= this.end) return undefined;
    return this.items[this.head + index - this._start];
  }

  /**
   * Pushes cached entries from `lo` (>= start) while index < hi and the data total stays
   * within maxBytes (at least one entry if `out` is empty). Returns the data bytes used.
   */
  collect(lo: number, hi: number, maxBytes: number, out: Entry[], used: number): number {
    const stop = Math.min(hi, this.end);
    for (let i = lo; i < stop; i++) {
      const e = this.items[this.head + i - this._start];
      const size = e.data.length;
      if (out.length > 0 && used + size > maxBytes) return -1;
      out.push(e);
      used += size;
    }
    return used;
  }

  private shift(): void {
    const e = this.items[this.head];
    this.items[this.head] = undefined as unknown as Entry;
    this.head++;
    this._start++;
    this._bytes -= entryCost(e);
  }

  private evict(): void {
    while (this._bytes > this.capBytes && this.count > 0) this.shift();
    if (this.count === 0) this.clear();
    this.maybeReclaim();
  }

  private maybeReclaim(): void {
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
