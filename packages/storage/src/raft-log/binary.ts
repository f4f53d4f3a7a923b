/**
 * Small binary helpers shared by the codecs of the raft log, meta, lease and snapshot
 * modules: big-endian fixed-width integers and a bounds-checked reader. No I/O.
 *
 * Numbers (terms, indexes, TTLs) are written as unsigned 64-bit big-endian from a JS number
 * (Invariant: 0 <= n <= 2^53). Ids (member, lease, cluster) are bigints written as
 * unsigned 64-bit big-endian.
 */

const TWO_32 = 0x1_0000_0000;

/** Writes `n` (an integer in [0, 2^53]) as 8 big-endian bytes at `off`. */
export function writeU64(buf: Uint8Array, off: number, n: number): void {
  const hi = Math.floor(n / TWO_32);
  const lo = n >>> 0;
  buf[off] = hi >>> 24;
  buf[off + 1] = (hi >>> 16) & 0xff;
  buf[off + 2] = (hi >>> 8) & 0xff;
  buf[off + 3] = hi & 0xff;
  buf[off + 4] = lo >>> 24;
  buf[off + 5] = (lo >>> 16) & 0xff;
  buf[off + 6] = (lo >>> 8) & 0xff;
  buf[off + 7] = lo & 0xff;
}

/** Reads 8 big-endian bytes at `off` as a number (exact up to 2^53). */
export function readU64(buf: Uint8Array, off: number): number {
  const hi = ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
  const lo =
    ((buf[off + 4] << 24) | (buf[off + 5] << 16) | (buf[off + 6] << 8) | buf[off + 7]) >>> 0;
  return hi * TWO_32 + lo;
}

/** Writes a signed 64-bit bigint id (member ids, lease ids) as 8 big-endian bytes. */
export function writeId(buf: Uint8Array, off: number, id: bigint): void {
  const u = BigInt.asUintN(64, id);
  writeU64Parts(buf, off, Number(u >> 32n), Number(u & 0xffff_ffffn));
}

/** Reads 8 big-endian bytes as an unsigned 64-bit bigint. */
export function readId(buf: Uint8Array, off: number): bigint {
  const hi = ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
  const lo =
    ((buf[off + 4] << 24) | (buf[off + 5] << 16) | (buf[off + 6] << 8) | buf[off + 7]) >>> 0;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

function writeU64Parts(buf: Uint8Array, off: number, hi: number, lo: number): void {
  buf[off] = hi >>> 24;
  buf[off + 1] = (hi >>> 16) & 0xff;
  buf[off + 2] = (hi >>> 8) & 0xff;
  buf[off + 3] = hi & 0xff;
  buf[off + 4] = lo >>> 24;
  buf[off + 5] = (lo >>> 16) & 0xff;
  buf[off + 6] = (lo >>> 8) & 0xff;
  buf[off + 7] = lo & 0xff;
}

/** Thrown when stored or streamed bytes do not decode: a corrupt or foreign record. */
export class CorruptRecordError extends Error {
  override readonly name = "CorruptRecordError";
}

/** Appends values to a growable byte array. Used off the hot path (meta, snapshot headers). */
export class ByteWriter {
  private buf: Uint8Array;
  private len = 0;

  constructor(initial = 64) {
    this.buf = new Uint8Array(initial);
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  u8(v: number): this {
    this.reserve(1);
    this.buf[this.len++] = v & 0xff;
    return this;
  }

  u32(v: number): this {
    this.reserve(4);
    const b = this.buf;
    b[this.len] = v >>> 24;
    b[this.len + 1] = (v >>> 16) & 0xff;
    b[this.len + 2] = (v >>> 8) & 0xff;
    b[this.len + 3] = v & 0xff;
    this.len += 4;
    return this;
  }

  u64(v: number): this {
    this.reserve(8);
    writeU64(this.buf, this.len, v);
    this.len += 8;
    return this;
  }

  /** A signed 64-bit number (TTLs may be negative in etcd's TimeToLive answers). */
  i64(v: number): this {
    return this.id(BigInt(v));
  }

  id(v: bigint): this {
    this.reserve(8);
    writeId(this.buf, this.len, v);
    this.len += 8;
    return this;
  }

  /** Length-prefixed (u32) bytes. */
  bytes(v: Uint8Array): this {
    this.u32(v.length);
    this.raw(v);
    return this;
  }

  raw(v: Uint8Array): this {
    this.reserve(v.length);
    this.buf.set(v, this.len);
    this.len += v.length;
    return this;
  }

  /** Length-prefixed UTF-8 string. */
  str(v: string): this {
    return this.bytes(Buffer.from(v, "utf8"));
  }

  ids(v: readonly bigint[]): this {
    this.u32(v.length);
    for (const id of v) this.id(id);
    return this;
  }

  strs(v: readonly string[]): this {
    this.u32(v.length);
    for (const s of v) this.str(s);
    return this;
  }

  /** The written bytes as a Buffer (a view, not a copy). */
  finish(): Buffer {
    return Buffer.from(this.buf.buffer, this.buf.byteOffset, this.len);
  }
}

/** Reads values written by {@link ByteWriter}; every read is bounds-checked. */
export class ByteReader {
  off = 0;

  constructor(
    readonly buf: Uint8Array,
    private readonly what = "record",
  ) {}

  private need(n: number): void {
    if (this.off + n > this.buf.length) {
      throw new CorruptRecordError(`truncated ${this.what} at byte ${this.off}`);
    }
  }

  get remaining(): number {
    return this.buf.length - this.off;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.off++];
  }

  u32(): number {
    this.need(4);
    const b = this.buf;
    const o = this.off;
    this.off += 4;
    return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  }

  u64(): number {
    this.need(8);
    const v = readU64(this.buf, this.off);
    this.off += 8;
    return v;
  }

  i64(): number {
    return Number(BigInt.asIntN(64, this.id()));
  }

  id(): bigint {
    this.need(8);
    const v = readId(this.buf, this.off);
    this.off += 8;
    return v;
  }

  bytes(): Uint8Array {
    const n = this.u32();
    return this.raw(n);
  }

  raw(n: number): Uint8Array {
    this.need(n);
    const v = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }

  str(): string {
    const b = this.bytes();
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("utf8");
  }

  ids(): bigint[] {
    const n = this.u32();
    this.need(n * 8);
    const out: bigint[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.id();
    return out;
  }

  strs(): string[] {
    const n = this.u32();
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.str());
    return out;
  }

  /** Throws unless every byte was consumed. */
  end(): void {
    if (this.off !== this.buf.length) {
      throw new CorruptRecordError(`${this.buf.length - this.off} trailing bytes in ${this.what}`);
    }
  }
}
