/**
 * The revision log (`revs` column family): which key changed at which revision, for watch
 * catch-up and for compaction. Written as chunks, one RocksDB entry per run of changes of
 * one write batch (at most {@link MAX_CHUNK_ENTRIES}), keyed by the chunk's first
 * revision — one write per batch instead of one per change.
 *
 * ```
 * key:    main ‖ sub of the first change (encodeRevision, 16 bytes)
 * value:  repeated { main (8) | sub (4) | kind (1: PUT, 2: DELETE) | key length (4) | key }
 * ```
 * Changes are in revision order inside a chunk and chunks do not overlap, so the chunks
 * read in key order list every change in revision order. Where the chunk boundaries fall
 * depends on how a member batched its applies; nothing reads them as data.
 */
import { StorageBugError } from "../errors.js";
import { readUint64, writeUint64 } from "../keys.js";

/** Changes per chunk at most. */
export const MAX_CHUNK_ENTRIES = 4096;

/** One change in the log. */
export interface RevLogEntry {
  main: number;
  sub: number;
  /** REV_PUT or REV_DELETE (layout.ts). */
  kind: number;
  /** A view into the chunk. */
  key: Buffer;
}

/** Encode `entries[from, to)` as one chunk value. */
export function encodeChunk(
  entries: readonly { revision: number; sub: number; type: "PUT" | "DELETE"; key: Uint8Array }[],
  from: number,
  to: number,
): Buffer {
  let size = 0;
  for (let i = from; i < to; i++) size += 17 + entries[i]!.key.length;
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (let i = from; i < to; i++) {
    const e = entries[i]!;
    writeUint64(out, o, e.revision);
    out.writeUInt32BE(e.sub, o + 8);
    out[o + 12] = e.type === "PUT" ? 1 : 2;
    out.writeUInt32BE(e.key.length, o + 13);
    out.set(e.key, o + 17);
    o += 17 + e.key.length;
  }
  return out;
}

/** The changes of a chunk value, in order. Keys are views into `v`. */
export function decodeChunk(v: Buffer): RevLogEntry[] {
  const out: RevLogEntry[] = [];
  let o = 0;
  while (o < v.length) {
    if (o + 17 > v.length) throw new StorageBugError("corrupt revision log chunk");
    const main = readUint64(v, o);
    const sub = v.readUInt32BE(o + 8);
    const kind = v[o + 12]!;
    const len = v.readUInt32BE(o + 13);
    if (o + 17 + len > v.length || (kind !== 1 && kind !== 2)) {
      throw new StorageBugError("corrupt revision log chunk");
    }
    out.push({ main, sub, kind, key: v.subarray(o + 17, o + 17 + len) });
    o += 17 + len;
  }
  return out;
}
