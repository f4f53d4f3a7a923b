/**
 * Request checks that need no data, done before a request has any effect. They follow
 * etcd v3.5's gRPC-edge checks (`server/etcdserver/api/v3rpc/key.go`): the server may run
 * them before proposing, and the store runs them again when applying (they are pure, so
 * every member decides alike).
 */
import { StorageError } from "../errors.js";
import { compareBytes } from "../keys.js";
import type {
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from "./types.js";
import { byteString } from "./view.js";

/** etcd's default `--max-txn-ops`. */
export const MAX_TXN_OPS = 128;

/** Range: a key is required; sort order and target must be known values. */
export function checkRangeRequest(r: RangeRequest): void {
  if (r.key.length === 0) throw new StorageError("ErrEmptyKey");
  const order = r.sortOrder ?? 0;
  const target = r.sortTarget ?? 0;
  if (!(order >= 0 && order <= 2 && Number.isInteger(order))) {
    throw new StorageError("ErrInvalidSortOption");
  }
  if (!(target >= 0 && target <= 4 && Number.isInteger(target))) {
    throw new StorageError("ErrInvalidSortOption");
  }
}

/** Put: a key is required; ignore_value excludes a value, ignore_lease a lease. */
export function checkPutRequest(r: PutRequest): void {
  if (r.key.length === 0) throw new StorageError("ErrEmptyKey");
  if (r.ignoreValue && r.value !== undefined && r.value.length !== 0) {
    throw new StorageError("ErrValueProvided");
  }
  if (r.ignoreLease && r.lease !== undefined && r.lease !== 0n) {
    throw new StorageError("ErrLeaseProvided");
  }
}

/** DeleteRange: a key is required. */
export function checkDeleteRequest(r: DeleteRangeRequest): void {
  if (r.key.length === 0) throw new StorageError("ErrEmptyKey");
}

/**
 * Txn: at most `maxOps` compares, success ops and failure ops each (a nested txn gets
 * what its parent leaves: maxOps minus the parent's largest list); keys required; no
 * empty ops; then no key written twice ({@link checkIntervals}).
 */
export function checkTxnRequest(r: TxnRequest, maxOps = MAX_TXN_OPS): void {
  checkTxnShape(r, maxOps);
  checkIntervals(r.success ?? []);
  checkIntervals(r.failure ?? []);
}

function checkTxnShape(r: TxnRequest, maxOps: number): void {
  const compare = r.compare ?? [];
  const success = r.success ?? [];
  const failure = r.failure ?? [];
  const opc = Math.max(compare.length, success.length, failure.length);
  if (opc > maxOps) throw new StorageError("ErrTooManyOps");
  for (const c of compare) if (c.key.length === 0) throw new StorageError("ErrEmptyKey");
  for (const u of success) checkRequestOp(u, maxOps - opc);
  for (const u of failure) checkRequestOp(u, maxOps - opc);
}

function checkRequestOp(u: RequestOp, maxOps: number): void {
  const req = u.request;
  switch (req?.$case) {
    case "requestRange":
      checkRangeRequest(req.value);
      return;
    case "requestPut":
      checkPutRequest(req.value);
      return;
    case "requestDeleteRange":
      checkDeleteRequest(req.value);
      return;
    case "requestTxn":
      checkTxnShape(req.value, maxOps);
      return;
    default:
      // an empty op, as etcd answers it
      throw new StorageError("ErrKeyNotFound");
  }
}

/** A delete interval: [begin, end), or the single key `begin` when `end` is undefined. */
interface DelInterval {
  begin: Uint8Array;
  end: Uint8Array | undefined;
}

function intersects(dels: DelInterval[], key: Uint8Array): boolean {
  for (const d of dels) {
    if (d.end === undefined) {
      if (compareBytes(d.begin, key) === 0) return true;
    } else if (compareBytes(d.begin, key) <= 0 && compareBytes(key, d.end) < 0) {
      return true;
    }
  }
  return false;
}

/**
 * etcd's `checkIntervals`: within one list of ops (recursing into nested txns), a put
 * may not repeat another put's key or fall inside a delete range. Exactly etcd's rules,
 * including what they do not catch: two deletes may overlap; a range end of "\0" (all
 * keys >= key) is taken literally as the interval [key, "\0"), which contains nothing;
 * a nested txn's puts are checked against the deletes of the ops and txns before it, not
 * against the deletes of later sibling txns; the success and failure branches of one
 * nested txn may repeat each other's puts.
 */
export function checkIntervals(reqs: RequestOp[]): { puts: Set<string>; dels: DelInterval[] } {
  const dels: DelInterval[] = [];
  for (const u of reqs) {
    if (u.request?.$case !== "requestDeleteRange") continue;
    const d = u.request.value;
    const end = d.rangeEnd !== undefined && d.rangeEnd.length > 0 ? d.rangeEnd : undefined;
    dels.push({ begin: d.key, end });
  }
  const puts = new Set<string>();
  for (const u of reqs) {
    if (u.request?.$case !== "requestTxn") continue;
    const t = u.request.value;
    const then = checkIntervals(t.success ?? []);
    const otherwise = checkIntervals(t.failure ?? []);
    for (const k of then.puts) {
      if (puts.has(k) || intersects(dels, Buffer.from(k, "latin1"))) {
        throw new StorageError("ErrDuplicateKey");
      }
      puts.add(k);
    }
    for (const k of otherwise.puts) {
      if (puts.has(k) && !then.puts.has(k)) throw new StorageError("ErrDuplicateKey");
      if (intersects(dels, Buffer.from(k, "latin1"))) throw new StorageError("ErrDuplicateKey");
      puts.add(k);
    }
    dels.push(...then.dels, ...otherwise.dels);
  }
  for (const u of reqs) {
    if (u.request?.$case !== "requestPut") continue;
    const key = u.request.value.key;
    const k = byteString(key);
    if (puts.has(k) || intersects(dels, key)) throw new StorageError("ErrDuplicateKey");
    puts.add(k);
  }
  return { puts, dels };
}

/** Whether every op of the txn (both branches, not nested) is a Range, as etcd decides. */
export function isTxnReadonly(r: TxnRequest): boolean {
  for (const u of r.success ?? []) if (u.request?.$case !== "requestRange") return false;
  for (const u of r.failure ?? []) if (u.request?.$case !== "requestRange") return false;
  return true;
}
