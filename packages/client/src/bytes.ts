/**
 * Keys, values and key ranges: the SDK takes strings (UTF-8) or bytes everywhere and
 * sends bytes; these helpers do the conversion and compute etcd's range ends.
 *
 * @module
 */

/** A key as the SDK accepts it: a UTF-8 string or raw bytes. */
export type Key = string | Uint8Array;

/** A value as the SDK accepts it: a UTF-8 string or raw bytes. */
export type Value = string | Uint8Array;

/** The bytes of a key or value (a string is encoded as UTF-8; bytes are not copied). */
export function toBuffer(data: Key | Value): Buffer {
  if (typeof data === "string") return Buffer.from(data, "utf8");
  if (Buffer.isBuffer(data)) return data;
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** The one-byte range end `"\0"`: with it a range covers every key at or after its start. */
export const ALL_KEYS_FROM = Buffer.from([0]);

/**
 * The smallest key greater than every key that starts with `prefix` (etcd's
 * `GetPrefixRangeEnd`): the prefix with its last byte below 0xff incremented and
 * what follows dropped. A prefix of only 0xff bytes (or an empty one) has no such
 * key, so the answer is `"\0"`, which etcd reads as "to the end of the keyspace".
 */
export function prefixEnd(prefix: Key): Buffer {
  const bytes = Buffer.from(toBuffer(prefix));
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i] < 0xff) {
      bytes[i]++;
      return bytes.subarray(0, i + 1);
    }
  }
  return Buffer.from(ALL_KEYS_FROM);
}

/**
 * Which keys an operation covers. One of:
 *
 * - `{ key }`: exactly one key;
 * - `{ prefix }`: every key that starts with the prefix (`""` for every key);
 * - `{ start, end }`: keys in `[start, end)`; without `end`, only `start`;
 * - `{ fromKey }`: every key at or after `fromKey`;
 * - `{ all: true }`: every key.
 */
export type KeyRange =
  | { key: Key }
  | { prefix: Key }
  | { start: Key; end?: Key }
  | { fromKey: Key }
  | { all: true };

/** A key or a {@link KeyRange}. */
export type KeySelector = Key | KeyRange;

/** A range as etcd's requests carry it: `key` and `rangeEnd` (empty for a single key). */
export interface WireRange {
  key: Buffer;
  rangeEnd: Buffer;
}

/** The wire form (`key`, `rangeEnd`) of a key or a {@link KeyRange}. */
export function toWireRange(selector: KeySelector): WireRange {
  if (typeof selector === "string" || selector instanceof Uint8Array) {
    return { key: toBuffer(selector), rangeEnd: Buffer.alloc(0) };
  }
  if ("key" in selector) return { key: toBuffer(selector.key), rangeEnd: Buffer.alloc(0) };
  if ("prefix" in selector) {
    const key = toBuffer(selector.prefix);
    // An empty prefix means every key: etcd wants key "\0" and range end "\0".
    if (key.length === 0)
      return { key: Buffer.from(ALL_KEYS_FROM), rangeEnd: Buffer.from(ALL_KEYS_FROM) };
    return { key, rangeEnd: prefixEnd(key) };
  }
  if ("start" in selector) {
    return {
      key: toBuffer(selector.start),
      rangeEnd: selector.end === undefined ? Buffer.alloc(0) : toBuffer(selector.end),
    };
  }
  if ("fromKey" in selector) {
    return { key: toBuffer(selector.fromKey), rangeEnd: Buffer.from(ALL_KEYS_FROM) };
  }
  return { key: Buffer.from(ALL_KEYS_FROM), rangeEnd: Buffer.from(ALL_KEYS_FROM) };
}

/** The 16-digit lower-case hex form of a 64-bit id, as etcdctl prints lease and member ids. */
export function hexId(id: bigint): string {
  return BigInt.asUintN(64, id).toString(16);
}

/**
 * Parses a lease or member id written in hex, as etcdctl prints and reads them (an
 * optional `0x` prefix is accepted). Lease ids are etcd int64s (`signed`, the
 * default: values above 2^63-1 wrap to negative); member ids are uint64s.
 */
export function parseId(text: string, signed = true): bigint {
  const t = text.trim().replace(/^0x/i, "");
  if (!/^[0-9a-f]{1,16}$/i.test(t)) throw new RangeError(`not a hex id: ${JSON.stringify(text)}`);
  const n = BigInt(`0x${t}`);
  return signed ? BigInt.asIntN(64, n) : n;
}
