/**
 * Txn compares (etcd `txn.go` applyCompare/compareKV): every key in a compare's range
 * must satisfy it; with no key in range a VALUE compare is false and the other targets
 * compare a zero KeyValue (VERSION, CREATE, MOD and LEASE of a missing key are 0).
 */
import { compareBytes } from "../keys.js";
import { liveEntries } from "./read.js";
import { toKeyValue } from "./record.js";
import {
  type Compare,
  CompareResult,
  CompareTarget,
  type KeyValue,
  type TxnRequest,
} from "./types.js";
import type { KvView } from "./view.js";

const EMPTY = Buffer.alloc(0);

/**
 * etcd's compareToPath: evaluate the compares of the txn and of every nested txn on the
 * branch taken, all against the state before the txn, in depth-first order.
 */
export function compareToPath(view: KvView, r: TxnRequest, path: boolean[]): void {
  const ok = (r.compare ?? []).every((c) => applyCompare(view, c));
  path.push(ok);
  for (const u of ok ? (r.success ?? []) : (r.failure ?? [])) {
    if (u.request?.$case === "requestTxn") compareToPath(view, u.request.value, path);
  }
}

const ZERO_KV: KeyValue = {
  key: EMPTY,
  createRevision: 0n,
  modRevision: 0n,
  version: 0n,
  value: EMPTY,
  lease: 0n,
};

/**
 * etcd's applyCompare: every key in the compare's range must satisfy it. With no key in
 * range a VALUE compare is false and the others compare a zero KeyValue (so VERSION,
 * CREATE, MOD and LEASE of a missing key are 0).
 */
export function applyCompare(view: KvView, c: Compare): boolean {
  const entries = liveEntries(view, c.key, c.rangeEnd);
  if (entries.length === 0) {
    if (c.target === CompareTarget.VALUE) return false;
    return compareKV(c, ZERO_KV);
  }
  for (const [k, v] of entries) if (!compareKV(c, toKeyValue(k, v))) return false;
  return true;
}

function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareKV(c: Compare, kv: KeyValue): boolean {
  const u = c.targetUnion;
  let result = 0;
  switch (c.target) {
    case CompareTarget.VALUE:
      result = compareBytes(kv.value, u?.$case === "value" ? u.value : EMPTY);
      break;
    case CompareTarget.CREATE:
      result = cmpBig(kv.createRevision, u?.$case === "createRevision" ? u.value : 0n);
      break;
    case CompareTarget.MOD:
      result = cmpBig(kv.modRevision, u?.$case === "modRevision" ? u.value : 0n);
      break;
    case CompareTarget.VERSION:
      result = cmpBig(kv.version, u?.$case === "version" ? u.value : 0n);
      break;
    case CompareTarget.LEASE:
      result = cmpBig(kv.lease, u?.$case === "lease" ? u.value : 0n);
      break;
  }
  switch (c.result) {
    case CompareResult.EQUAL:
      return result === 0;
    case CompareResult.NOT_EQUAL:
      return result !== 0;
    case CompareResult.GREATER:
      return result > 0;
    case CompareResult.LESS:
      return result < 0;
    default:
      return true;
  }
}
