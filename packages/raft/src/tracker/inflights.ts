import { BugIndicatingError } from "../errors.js";

/**
 * The MsgApps a leader has sent to one follower and not yet seen acknowledged, as a ring
 * buffer of (last index, payload bytes). Flow control in replicate state: the leader stops
 * sending when the window is full by count (`maxInflightMsgs`) or by bytes
 * (`maxInflightBytes`), and frees slots as MsgAppResps arrive.
 *
 * Invariant: the indexes in the window are strictly increasing from oldest to newest.
 */
export class Inflights {
  private start = 0;
  private _count = 0;
  private _bytes = 0;
  private indexes: number[] = [];
  private sizes: number[] = [];

  constructor(
    /** The most messages that may be in flight. */
    readonly size: number,
    /** The most payload bytes that may be in flight; 0 means no limit. */
    readonly maxBytes: number,
  ) {}

  /** How many messages are in flight. */
  count(): number {
    return this._count;
  }

  /** How many payload bytes are in flight. */
  bytes(): number {
    return this._bytes;
  }

  /** A copy with its own buffer. */
  clone(): Inflights {
    const c = new Inflights(this.size, this.maxBytes);
    c.start = this.start;
    c._count = this._count;
    c._bytes = this._bytes;
    c.indexes = this.indexes.slice();
    c.sizes = this.sizes.slice();
    return c;
  }

  /**
   * Records a MsgApp whose last entry is `index` carrying `bytes` of payload. Throws if
   * full: callers check {@link full} first.
   */
  add(index: number, bytes: number): void {
    if (this.full()) throw new BugIndicatingError("cannot add into a full inflights");
    let next = this.start + this._count;
    if (next >= this.size) next -= this.size;
    if (next >= this.indexes.length) this.grow();
    this.indexes[next] = index;
    this.sizes[next] = bytes;
    this._count++;
    this._bytes += bytes;
  }

  /** Grows the buffer geometrically up to `size` slots, so idle followers cost little. */
  private grow(): void {
    let n = this.indexes.length * 2;
    if (n === 0) n = 1;
    else if (n > this.size) n = this.size;
    // The ring never wraps before the buffer reached full size, so a plain extend works.
    this.indexes.length = n;
    this.sizes.length = n;
  }

  /** Frees every in-flight message whose last index is <= `to`. */
  freeLE(to: number): void {
    if (this._count === 0 || to < this.indexes[this.start]) return;
    let idx = this.start;
    let i = 0;
    let bytes = 0;
    for (; i < this._count; i++) {
      if (to < this.indexes[idx]) break;
      bytes += this.sizes[idx];
      idx++;
      if (idx >= this.size) idx -= this.size;
    }
    this._count -= i;
    this._bytes -= bytes;
    this.start = this._count === 0 ? 0 : idx;
  }

  /** Whether no more messages may be sent: out of slots or out of bytes. */
  full(): boolean {
    return this._count === this.size || (this.maxBytes !== 0 && this._bytes >= this.maxBytes);
  }

  /** Empties the window. */
  reset(): void {
    this.start = 0;
    this._count = 0;
    this._bytes = 0;
  }
}
