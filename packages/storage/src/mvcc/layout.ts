/**
 * Keys and small values of the MVCC tables other than the records (record.ts).
 *
 * - `revs`:      encodeRevision(first change) → chunk of changes (revlog.ts)
 * - `leasekeys`: lease id (int64 big-endian) ‖ user key → (empty)
 * - `kvmeta`:    "rev" → current revision; "compact" → compact revision;
 *                "compact-done" → the compact revision whose physical compaction finished;
 *                "compact-cursor" → next `revs` key the compactor looks at
 *                (all 8-byte big-endian int64)
 */
import { StorageBugError } from "../errors.js";

export const REV_PUT = 1;
export const REV_DELETE = 2;

/** `leasekeys` key of (lease, key). */
export function leaseKey(lease: bigint, key: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(8 + key.length);
  out.writeBigInt64BE(lease, 0);
  out.set(key, 8);
  return out;
}

/** [start, end) of all `leasekeys` entries of `lease`. */
export function leaseSpan(lease: bigint): { start: Buffer; end: Buffer | undefined } {
  const start = Buffer.allocUnsafe(8);
  start.writeBigInt64BE(lease, 0);
  const end = Buffer.from(start);
  for (let i = 7; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] += 1;
      return { start, end: end.subarray(0, i + 1) };
    }
  }
  return { start, end: undefined };
}

export const META_REV = Buffer.from("rev");
export const META_COMPACT = Buffer.from("compact");
export const META_COMPACT_DONE = Buffer.from("compact-done");
export const META_COMPACT_CURSOR = Buffer.from("compact-cursor");

/** 8-byte big-endian int64 of `n`. */
export function encodeInt(n: number): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeBigInt64BE(BigInt(n), 0);
  return out;
}

/** Inverse of {@link encodeInt}; `fallback` when absent. */
export function decodeInt(v: Buffer | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (v.length !== 8) throw new StorageBugError("corrupt MVCC meta value");
  return Number(v.readBigInt64BE(0));
}
