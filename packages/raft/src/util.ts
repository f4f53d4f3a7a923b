import type { Entry, NodeId } from "./types.js";

/** "No limit" for byte budgets; finite so that any storage can do arithmetic with it. */
export const NO_LIMIT = Number.MAX_SAFE_INTEGER;

/** An empty byte array, shared (never written to). */
export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

/** The byte size raft accounts for one entry: the size of its payload. */
export function entrySize(e: Entry): number {
  return e.data.byteLength;
}

/** The payload size of entries [lo, hi) of `ents`. */
export function entriesSize(ents: readonly Entry[], lo = 0, hi = ents.length): number {
  let s = 0;
  for (let i = lo; i < hi; i++) s += ents[i].data.byteLength;
  return s;
}

/**
 * How many entries of `ents[lo..hi)` fit in `maxSize` bytes. Always at least one when the
 * range is non-empty: a single oversized entry must still make progress.
 */
export function limitCount(
  ents: readonly Entry[],
  lo: number,
  hi: number,
  maxSize: number,
): number {
  if (hi <= lo) return 0;
  if (maxSize >= NO_LIMIT) return hi - lo;
  let size = ents[lo].data.byteLength;
  let i = lo + 1;
  for (; i < hi; i++) {
    size += ents[i].data.byteLength;
    if (size > maxSize) break;
  }
  return i - lo;
}

/** Orders node ids ascending (bigints cannot be subtracted into a number). */
export function compareNodeIds(a: NodeId, b: NodeId): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The ids of an iterable, sorted ascending, in a new array. */
export function sortedIds(ids: Iterable<NodeId>): NodeId[] {
  return Array.from(ids).sort(compareNodeIds);
}

/** Whether two byte arrays hold the same bytes. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
