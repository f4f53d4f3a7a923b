/**
 * The value format of the MVCC tables `kv` (current version of each live key) and
 * `history` (older versions and tombstones). One format for both, so moving a version
 * from `kv` to `history` copies bytes without re-encoding.
 *
 * ```
 * put:        01 | create main (8) | mod main (8) | mod sub (8) | version (8) | lease (8, int64) | value…
 * tombstone:  02 | mod main (8)    | mod sub (8)
 * ```
 * All integers big-endian. The user key is not stored: `kv` is keyed by the raw user key,
 * `history` by `encodeKey(key) ‖ ~main ‖ ~sub`.
 */
import { StorageBugError } from "../errors.js";
import { readUint64, writeUint64 } from "../keys.js";
import type { KeyValue } from "./types.js";

const KIND_PUT = 1;
const KIND_TOMBSTONE = 2;
/** Offset of the value in a put record. */
export const PUT_HEADER = 41;
const TOMBSTONE_LEN = 17;

/** A decoded record. Revisions are numbers (see keys.ts for the 2^53 invariant). */
export interface Rec {
  /** False for a tombstone (then only mod/sub are meaningful). */
  put: boolean;
  create: number;
  mod: number;
  sub: number;
  version: number;
  lease: bigint;
  value: Buffer;
  /** The encoded bytes this record was decoded from (or encoded to). */
  bytes: Buffer;
}

const EMPTY = Buffer.alloc(0);

/** Encode a put record. */
export function encodePut(
  create: number,
  mod: number,
  sub: number,
  version: number,
  lease: bigint,
  value: Uint8Array,
): Buffer {
  const out = Buffer.allocUnsafe(PUT_HEADER + value.length);
  out[0] = KIND_PUT;
  writeUint64(out, 1, create);
  writeUint64(out, 9, mod);
  writeUint64(out, 17, sub);
  writeUint64(out, 25, version);
  if (lease === 0n) out.fill(0, 33, 41);
  else out.writeBigInt64BE(lease, 33);
  out.set(value, PUT_HEADER);
  return out;
}

/** Encode a tombstone record. */
export function encodeTombstone(mod: number, sub: number): Buffer {
  const out = Buffer.allocUnsafe(TOMBSTONE_LEN);
  out[0] = KIND_TOMBSTONE;
  writeUint64(out, 1, mod);
  writeUint64(out, 9, sub);
  return out;
}

/** Whether the record bytes are a put (false: tombstone). */
export function isPut(bytes: Uint8Array): boolean {
  return bytes[0] === KIND_PUT;
}

function readLease(b: Buffer): bigint {
  for (let i = 33; i < 41; i++) if (b[i] !== 0) return b.readBigInt64BE(33);
  return 0n;
}

/** Decode record bytes. Throws a bug error on an unknown format (corruption). */
export function decodeRecord(b: Buffer): Rec {
  if (b[0] === KIND_PUT && b.length >= PUT_HEADER) {
    return {
      put: true,
      create: readUint64(b, 1),
      mod: readUint64(b, 9),
      sub: readUint64(b, 17),
      version: readUint64(b, 25),
      lease: readLease(b),
      value: b.subarray(PUT_HEADER),
      bytes: b,
    };
  }
  if (b[0] === KIND_TOMBSTONE && b.length === TOMBSTONE_LEN) {
    return {
      put: false,
      create: 0,
      mod: readUint64(b, 1),
      sub: readUint64(b, 9),
      version: 0,
      lease: 0n,
      value: EMPTY,
      bytes: b,
    };
  }
  throw new StorageBugError(`corrupt MVCC record (kind ${b[0]}, ${b.length} bytes)`);
}

/** Mod revision (main) of record bytes without a full decode. */
export function recordMod(b: Uint8Array): number {
  return readUint64(b, b[0] === KIND_PUT ? 9 : 1);
}

/** Mod sub-revision of record bytes without a full decode. */
export function recordSub(b: Uint8Array): number {
  return readUint64(b, b[0] === KIND_PUT ? 17 : 9);
}

/** Lease of put record bytes without a full decode; throws on anything but a put record. */
export function recordLease(b: Buffer): bigint {
  if (b[0] !== KIND_PUT || b.length < PUT_HEADER) {
    throw new StorageBugError(`corrupt MVCC put record (kind ${b[0]}, ${b.length} bytes)`);
  }
  return readLease(b);
}

/** Version of put record bytes without a full decode. */
export function recordVersion(b: Uint8Array): number {
  return readUint64(b, 25);
}

/** The KeyValue of a put record's bytes for `key`. */
export function toKeyValue(key: Uint8Array, b: Buffer, withValue = true): KeyValue {
  if (b[0] !== KIND_PUT || b.length < PUT_HEADER) {
    throw new StorageBugError("expected a put record");
  }
  return {
    key,
    createRevision: BigInt(readUint64(b, 1)),
    modRevision: BigInt(readUint64(b, 9)),
    version: BigInt(readUint64(b, 25)),
    value: withValue ? b.subarray(PUT_HEADER) : EMPTY,
    lease: readLease(b),
  };
}

/** The KeyValue of a decoded put record. */
export function recToKeyValue(key: Uint8Array, r: Rec): KeyValue {
  return {
    key,
    createRevision: BigInt(r.create),
    modRevision: BigInt(r.mod),
    version: BigInt(r.version),
    value: r.value,
    lease: r.lease,
  };
}
