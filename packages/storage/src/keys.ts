/**
 * Order-preserving byte encodings for RocksDB keys.
 *
 * RocksDB compares keys bytewise. To store several versions of a user key next to each
 * other, sorted by key and then by revision, we append a revision to the key. A plain
 * concatenation breaks the order (`"a" ‖ rev` vs `"a\x00" ‖ rev` compare on the revision's
 * first byte), so the user key is first escaped into a prefix-free form:
 *
 * ```
 * encodeKey(k):  every 0x00 byte of k  →  0x00 0xFF
 *                then the terminator       0x00 0x01
 *
 * "a"      → 61 00 01
 * "a\0"    → 61 00 FF 00 01
 * "a\0b"   → 61 00 FF 62 00 01
 * "ab"     → 61 62 00 01
 * ""       → 00 01
 * ```
 *
 * Properties (checked by keys.test.ts with fast-check):
 * - order: `compare(a, b) === compare(encodeKey(a), encodeKey(b))` for all byte strings;
 * - prefix-free: no encoding is a proper prefix of another, so for any suffixes s, t,
 *   `encodeKey(a) ‖ s < encodeKey(b) ‖ t` whenever `a < b`. Appending a fixed-width
 *   revision therefore sorts by key, then by revision.
 *
 * Why it works: where two keys first differ, either both bytes are non-zero (same bytes
 * in the encodings), or one is 0x00 (encoded 0x00 0xFF) and the other non-zero (> 0x00),
 * or one key ended (terminator 0x00 0x01) while the other continues with a non-zero
 * byte (> 0x00) or with 0x00 (0x00 0xFF > 0x00 0x01).
 *
 * Revisions (etcd's `revision.go`): `main` is the store revision, `sub` the position of a
 * change inside its transaction; each is 8 bytes big-endian, so byte order is revision
 * order. {@link encodeRevisionDesc} stores the bitwise complement instead, so byte order
 * is descending revision order: a forward seek to `encodeKey(k) ‖ desc(rev)` lands on the
 * newest version at or below `rev` — the layout the MVCC history table uses.
 *
 * Internally revisions are JavaScript numbers. Invariant: main and sub stay below 2^53
 * (at a million revisions per second that is 285 years); the API surface uses bigint.
 */

const TERMINATOR_LEN = 2;

/** Length of an encoded revision (main + sub). */
export const REVISION_BYTES = 16;

/** Largest `sub` value; used as "the newest change within a main revision". */
export const MAX_SUB = Number.MAX_SAFE_INTEGER;

/** Bytewise comparison of two byte strings (-1, 0, 1). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** Length of `encodeKey(key)` without computing it. */
export function encodedKeyLength(key: Uint8Array): number {
  let n = key.length + TERMINATOR_LEN;
  for (let i = 0; i < key.length; i++) if (key[i] === 0) n++;
  return n;
}

/**
 * Write the escaped form of `key` (with terminator) into `out` at `offset`; returns the
 * offset after it.
 */
export function writeEncodedKey(out: Uint8Array, offset: number, key: Uint8Array): number {
  let o = offset;
  for (let i = 0; i < key.length; i++) {
    const c = key[i]!;
    out[o++] = c;
    if (c === 0) out[o++] = 0xff;
  }
  out[o++] = 0;
  out[o++] = 1;
  return o;
}

/** The order-preserving, prefix-free encoding of `key` (see the module comment). */
export function encodeKey(key: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(encodedKeyLength(key));
  writeEncodedKey(out, 0, key);
  return out;
}

/**
 * Decode the escaped key at the start of `buf`. Returns the user key and the offset just
 * past the terminator. Throws on a malformed encoding (a storage corruption).
 */
export function decodeKey(buf: Uint8Array, offset = 0): { key: Buffer; end: number } {
  let zeros = 0;
  let i = offset;
  for (;;) {
    if (i >= buf.length) throw new Error("malformed encoded key: no terminator");
    const c = buf[i]!;
    if (c !== 0) {
      i++;
      continue;
    }
    const next = buf[i + 1];
    if (next === 1) break;
    if (next !== 0xff) throw new Error("malformed encoded key: bad escape");
    zeros++;
    i += 2;
  }
  const encodedLen = i - offset;
  const key = Buffer.allocUnsafe(encodedLen - zeros);
  let o = 0;
  for (let j = offset; j < i; j++) {
    const c = buf[j]!;
    key[o++] = c;
    if (c === 0) j++;
  }
  return { key, end: i + TERMINATOR_LEN };
}

/** Offset just past the encoded key at `offset` (its terminator included). */
export function encodedKeyEnd(buf: Uint8Array, offset = 0): number {
  let i = offset;
  for (;;) {
    if (i >= buf.length) throw new Error("malformed encoded key: no terminator");
    if (buf[i] !== 0) i++;
    else if (buf[i + 1] === 1) return i + TERMINATOR_LEN;
    else i += 2;
  }
}

const TWO_32 = 0x1_0000_0000;

/** Write `n` (0 <= n < 2^53) as 8 bytes big-endian. */
export function writeUint64(out: Uint8Array, offset: number, n: number): void {
  const hi = Math.floor(n / TWO_32);
  const lo = n >>> 0;
  out[offset] = hi >>> 24;
  out[offset + 1] = hi >>> 16;
  out[offset + 2] = hi >>> 8;
  out[offset + 3] = hi;
  out[offset + 4] = lo >>> 24;
  out[offset + 5] = lo >>> 16;
  out[offset + 6] = lo >>> 8;
  out[offset + 7] = lo;
}

/** Read 8 bytes big-endian as a number (exact below 2^53). */
export function readUint64(buf: Uint8Array, offset: number): number {
  const hi =
    ((buf[offset]! << 24) |
      (buf[offset + 1]! << 16) |
      (buf[offset + 2]! << 8) |
      buf[offset + 3]!) >>>
    0;
  const lo =
    ((buf[offset + 4]! << 24) |
      (buf[offset + 5]! << 16) |
      (buf[offset + 6]! << 8) |
      buf[offset + 7]!) >>>
    0;
  return hi * TWO_32 + lo;
}

/** Write the complement of `n` (descending order) as 8 bytes. */
function writeUint64Desc(out: Uint8Array, offset: number, n: number): void {
  writeUint64(out, offset, n);
  for (let i = offset; i < offset + 8; i++) out[i] = ~out[i]! & 0xff;
}

function readUint64Desc(buf: Uint8Array, offset: number): number {
  const hi =
    ~(
      (buf[offset]! << 24) |
      (buf[offset + 1]! << 16) |
      (buf[offset + 2]! << 8) |
      buf[offset + 3]!
    ) >>> 0;
  const lo =
    ~(
      (buf[offset + 4]! << 24) |
      (buf[offset + 5]! << 16) |
      (buf[offset + 6]! << 8) |
      buf[offset + 7]!
    ) >>> 0;
  return hi * TWO_32 + lo;
}

/** A revision: main (store revision) and sub (change index within the transaction). */
export interface Revision {
  main: number;
  sub: number;
}

/** `main ‖ sub`, 8 bytes each, big-endian: byte order is revision order. */
export function encodeRevision(main: number, sub: number): Buffer {
  const out = Buffer.allocUnsafe(REVISION_BYTES);
  writeUint64(out, 0, main);
  writeUint64(out, 8, sub);
  return out;
}

/** Inverse of {@link encodeRevision}, reading at `offset`. */
export function decodeRevision(buf: Uint8Array, offset = 0): Revision {
  return { main: readUint64(buf, offset), sub: readUint64(buf, offset + 8) };
}

/** Complemented `main ‖ sub`: byte order is DEscending revision order. */
export function encodeRevisionDesc(main: number, sub: number): Buffer {
  const out = Buffer.allocUnsafe(REVISION_BYTES);
  writeUint64Desc(out, 0, main);
  writeUint64Desc(out, 8, sub);
  return out;
}

/** Inverse of {@link encodeRevisionDesc}, reading at `offset`. */
export function decodeRevisionDesc(buf: Uint8Array, offset = 0): Revision {
  return { main: readUint64Desc(buf, offset), sub: readUint64Desc(buf, offset + 8) };
}

/**
 * `encodeKey(key) ‖ encodeRevisionDesc(main, sub)`: versions of one key sort together,
 * newest first.
 */
export function encodeKeyRevisionDesc(key: Uint8Array, main: number, sub: number): Buffer {
  const out = Buffer.allocUnsafe(encodedKeyLength(key) + REVISION_BYTES);
  const o = writeEncodedKey(out, 0, key);
  writeUint64Desc(out, o, main);
  writeUint64Desc(out, o + 8, sub);
  return out;
}

/** `encodeKey(key) ‖ encodeRevision(main, sub)`: versions sort by key, oldest first. */
export function encodeKeyRevision(key: Uint8Array, main: number, sub: number): Buffer {
  const out = Buffer.allocUnsafe(encodedKeyLength(key) + REVISION_BYTES);
  const o = writeEncodedKey(out, 0, key);
  writeUint64(out, o, main);
  writeUint64(out, o + 8, sub);
  return out;
}

/**
 * The smallest byte string greater than every string that starts with `prefix`, where
 * `prefix` is itself an encoded key (ends in the terminator 0x00 0x01): the terminator's
 * last byte + 1. Use as the exclusive upper bound of all versions of one key.
 */
export function encodedKeyUpperBound(encoded: Uint8Array): Buffer {
  const out = Buffer.from(encoded);
  out[out.length - 1] = 2;
  return out;
}

/** The "from key" range end of etcd: `range_end = "\0"` means every key >= key. */
export const FROM_KEY: Uint8Array = new Uint8Array([0]);

/** Whether `rangeEnd` is etcd's "\0" (all keys >= key). */
export function isFromKey(rangeEnd: Uint8Array | undefined): boolean {
  return rangeEnd !== undefined && rangeEnd.length === 1 && rangeEnd[0] === 0;
}

/**
 * The range end that selects every key with `prefix` (etcd's `GetPrefixRangeEnd`):
 * the prefix with its last non-0xFF byte incremented and the 0xFF bytes after it
 * dropped; "\0" (all keys >= key) when the prefix is empty or all 0xFF.
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      const end = new Uint8Array(i + 1);
      end.set(prefix.subarray(0, i));
      end[i] = prefix[i]! + 1;
      return end;
    }
  }
  return FROM_KEY;
}

/**
 * Interpret an etcd (key, range_end) pair as a half-open byte interval.
 * - empty/absent range_end: the single key;
 * - "\0": every key >= key (`end` undefined = unbounded);
 * - otherwise [key, range_end) (empty when range_end <= key).
 */
export type KeyInterval =
  | { kind: "single"; key: Uint8Array }
  | { kind: "range"; start: Uint8Array; end: Uint8Array | undefined };

/** See {@link KeyInterval}. */
export function keyInterval(key: Uint8Array, rangeEnd: Uint8Array | undefined): KeyInterval {
  if (rangeEnd === undefined || rangeEnd.length === 0) return { kind: "single", key };
  if (isFromKey(rangeEnd)) return { kind: "range", start: key, end: undefined };
  return { kind: "range", start: key, end: rangeEnd };
}

/** Whether `k` lies in the interval. */
export function intervalContains(iv: KeyInterval, k: Uint8Array): boolean {
  if (iv.kind === "single") return compareBytes(iv.key, k) === 0;
  if (compareBytes(k, iv.start) < 0) return false;
  return iv.end === undefined || compareBytes(k, iv.end) < 0;
}
