/**
 * Range requests with etcd's options (etcd `txn/range.go` `executeRange` plus mvcc
 * `rangeKeys`): revision checks, count, limit (+1 to learn `more`), min/max filters,
 * sorting, keys_only, count_only.
 */
import { StorageError } from "../errors.js";
import { compareBytes } from "../keys.js";
import { type ReadBudget, scan, spanOf, versionAt } from "./read.js";
import { toKeyValue } from "./record.js";
import {
  type KeyValue,
  type RangeRequest,
  type RangeResult,
  SortOrder,
  SortTarget,
} from "./types.js";
import type { KvView } from "./view.js";

/**
 * Resolve the revision to read: <= 0 means `currentRev`. Throws ErrFutureRev above the
 * current revision and ErrCompacted below the compact revision (reading exactly at the
 * compact revision is allowed, as in etcd).
 */
export function resolveReadRevision(
  revision: bigint | undefined,
  currentRev: number,
  compactRev: number,
): number {
  const r = revision ?? 0n;
  if (r > BigInt(currentRev)) throw new StorageError("ErrFutureRev");
  const rev = r <= 0n ? currentRev : Number(r);
  if (rev < compactRev) throw new StorageError("ErrCompacted");
  return rev;
}

/**
 * Evaluate a (validated) RangeRequest against `view` whose latest revision is currentRev.
 * With a `budget`, a scan that would collect more KeyValue bytes than it has left fails
 * with ErrResponseTooLarge (read.ts {@link ReadBudget}); a single-key read is not charged.
 */
export function executeRange(
  view: KvView,
  r: RangeRequest,
  currentRev: number,
  compactRev: number,
  budget?: ReadBudget,
): RangeResult {
  const rev = resolveReadRevision(r.revision, currentRev, compactRev);
  const header = { revision: BigInt(currentRev) };
  const sortTarget = r.sortTarget ?? SortTarget.KEY;
  let sortOrder = r.sortOrder ?? SortOrder.NONE;
  const minMod = r.minModRevision ?? 0n;
  const maxMod = r.maxModRevision ?? 0n;
  const minCreate = r.minCreateRevision ?? 0n;
  const maxCreate = r.maxCreateRevision ?? 0n;
  const limit = r.limit ?? 0n;
  const filtered = minMod !== 0n || maxMod !== 0n || minCreate !== 0n || maxCreate !== 0n;

  let fetch = limit > 0n ? Number(limit) + 1 : 0;
  if (sortOrder !== SortOrder.NONE || filtered) fetch = 0;
  const withValue = !r.keysOnly || sortTarget === SortTarget.VALUE;
  const countOnly = r.countOnly === true;

  let kvs: KeyValue[];
  let count: number;
  const span = spanOf(r.key, r.rangeEnd);
  if (span === undefined) {
    const rec = rev >= currentRev ? view.get("kv", r.key) : versionAt(view, r.key, rev);
    count = rec ? 1 : 0;
    kvs = rec && !countOnly ? [toKeyValue(r.key, rec, withValue)] : [];
  } else {
    ({ kvs, count } = scan(view, span, rev, currentRev, fetch, countOnly, withValue, budget));
  }

  if (filtered) {
    kvs = kvs.filter(
      (kv) =>
        !(maxMod !== 0n && kv.modRevision > maxMod) &&
        !(minMod !== 0n && kv.modRevision < minMod) &&
        !(maxCreate !== 0n && kv.createRevision > maxCreate) &&
        !(minCreate !== 0n && kv.createRevision < minCreate),
    );
  }

  if (sortTarget !== SortTarget.KEY && sortOrder === SortOrder.NONE) sortOrder = SortOrder.ASCEND;
  else if (sortTarget === SortTarget.KEY && sortOrder === SortOrder.ASCEND) {
    sortOrder = SortOrder.NONE; // already in key order
  }
  if (sortOrder !== SortOrder.NONE) {
    // A stable sort of key-ordered input: ties stay in key order (etcd's sort is not
    // stable, so its tie order is unspecified).
    const cmp = comparatorFor(sortTarget);
    kvs.sort(sortOrder === SortOrder.DESCEND ? (a, b) => cmp(b, a) : cmp);
  }

  let more = false;
  if (limit > 0n && kvs.length > Number(limit)) {
    kvs.length = Number(limit);
    more = true;
  }
  if (r.keysOnly && withValue) {
    kvs = kvs.map((kv) => ({ ...kv, value: new Uint8Array(0) }));
  }
  return { header, kvs, more, count: BigInt(count) };
}

function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function comparatorFor(target: number): (a: KeyValue, b: KeyValue) => number {
  switch (target) {
    case SortTarget.VERSION:
      return (a, b) => cmpBig(a.version, b.version);
    case SortTarget.CREATE:
      return (a, b) => cmpBig(a.createRevision, b.createRevision);
    case SortTarget.MOD:
      return (a, b) => cmpBig(a.modRevision, b.modRevision);
    case SortTarget.VALUE:
      return (a, b) => compareBytes(a.value, b.value);
    default:
      return (a, b) => compareBytes(a.key, b.key);
  }
}
