/**
 * Permission checks (etcd's isOpPermitted / IsAdminPermitted and range_perm_cache.go),
 * pure functions of an {@link AuthStore}, used both by the services (before a request is
 * proposed or served) and by the apply (with the request's recorded user and auth
 * revision, so every member decides the same).
 *
 * A request on [key, rangeEnd) is allowed when the union of the user's permitted
 * intervals of that kind covers it entirely (etcd: IntervalTree.Contains); a single key
 * (empty rangeEnd) when some permitted interval holds it. A permission's rangeEnd "\0"
 * means "every key from key on"; so does a request's.
 */
import {
  authpb,
  ErrAuthOldRevision,
  ErrPermissionDenied,
  ErrUserEmpty,
  ErrUserNotFound,
  EtcdError,
  type etcdserverpb,
  type internalpb,
} from "@chainfire/api";
import { compareBytes } from "@chainfire/storage";
import { type AuthPermission, type AuthStore, hasRootRole } from "./auth-store.js";

/** The kind of a replicated request (its `$case`). */
export type RequestCase = NonNullable<internalpb.InternalRequest["request"]>["$case"];

/** Auth requests that need the root role (etcd's needAdminPermission). */
export const ADMIN_REQUESTS: ReadonlySet<RequestCase> = new Set<RequestCase>([
  "authEnable",
  "authDisable",
  "authUserAdd",
  "authUserDelete",
  "authUserChangePassword",
  "authUserGrantRole",
  "authUserRevokeRole",
  "authRoleAdd",
  "authRoleDelete",
  "authRoleGrantPermission",
  "authRoleRevokePermission",
]);

/** Who sent a request: the user and the auth revision it was checked at (0: nobody). */
export interface AuthInfo {
  username: string;
  revision: bigint;
}

export type PermKind = "read" | "write";

/** [start, end) with end undefined = unbounded. */
interface Interval {
  start: Uint8Array;
  end: Uint8Array | undefined;
}

const ZERO = Buffer.from([0]);

function isFromKey(end: Uint8Array): boolean {
  return end.length === 1 && end[0] === 0;
}

/** The interval a (key, rangeEnd) pair denotes; a single key is [key, key+"\0"). */
export function intervalOf(key: Uint8Array, rangeEnd: Uint8Array): Interval {
  if (rangeEnd.length === 0) return { start: key, end: Buffer.concat([key, ZERO]) };
  if (isFromKey(rangeEnd)) return { start: key, end: undefined };
  return { start: key, end: rangeEnd };
}

function grants(p: AuthPermission, kind: PermKind): boolean {
  if (p.permType === authpb.Permission_Type.READWRITE) return true;
  return kind === "read"
    ? p.permType === authpb.Permission_Type.READ
    : p.permType === authpb.Permission_Type.WRITE;
}

/** Whether the union of `perms` covers [key, rangeEnd) (see the module comment). */
export function covers(perms: readonly Interval[], key: Uint8Array, rangeEnd: Uint8Array): boolean {
  const q = intervalOf(key, rangeEnd);
  // An empty or inverted request range asks for nothing beyond its start key.
  if (q.end !== undefined && compareBytes(q.end, q.start) <= 0) {
    return covers(perms, key, Buffer.alloc(0));
  }
  const sorted = [...perms].sort((a, b) => compareBytes(a.start, b.start));
  let cur: Uint8Array = q.start;
  for (const iv of sorted) {
    if (compareBytes(iv.start, cur) > 0) return false; // a gap before iv
    if (iv.end === undefined) return true;
    if (compareBytes(iv.end, cur) > 0) cur = iv.end;
    if (q.end !== undefined && compareBytes(cur, q.end) >= 0) return true;
  }
  return false;
}

/**
 * etcd's isOpPermitted: nothing to check while auth is off; ErrUserEmpty without a user
 * (revision 0); ErrAuthOldRevision when checked at an older auth revision than now;
 * ErrPermissionDenied for an unknown user or a range not covered; root may do anything.
 */
export function checkRange(
  store: AuthStore,
  ai: AuthInfo | undefined,
  key: Uint8Array,
  rangeEnd: Uint8Array,
  kind: PermKind,
): void {
  if (!store.enabled) return;
  if (ai === undefined || ai.revision === 0n) throw new EtcdError(ErrUserEmpty);
  if (ai.revision < store.revision) throw new EtcdError(ErrAuthOldRevision);
  const user = store.user(ai.username);
  if (user === undefined) throw new EtcdError(ErrPermissionDenied);
  if (hasRootRole(user)) return;
  const ivs = store
    .permissionsOf(user)
    .filter((p) => grants(p, kind))
    .map((p) => intervalOf(p.key, p.rangeEnd));
  if (!covers(ivs, key, rangeEnd)) throw new EtcdError(ErrPermissionDenied);
}

/** etcd's IsAdminPermitted: the user must hold the root role (no revision check). */
export function checkAdmin(store: AuthStore, ai: AuthInfo | undefined): void {
  if (!store.enabled) return;
  if (ai === undefined || ai.username === "") throw new EtcdError(ErrUserEmpty);
  const user = store.user(ai.username);
  if (user === undefined) throw new EtcdError(ErrUserNotFound);
  if (!hasRootRole(user)) throw new EtcdError(ErrPermissionDenied);
}

/** etcd's checkTxnAuth: every compare needs read, every op its own permission, nested too. */
export function checkTxn(
  store: AuthStore,
  ai: AuthInfo | undefined,
  txn: etcdserverpb.TxnRequest,
): void {
  if (!store.enabled) return;
  for (const c of txn.compare) checkRange(store, ai, c.key, c.rangeEnd, "read");
  for (const ops of [txn.success, txn.failure]) {
    for (const op of ops) {
      const r = op.request;
      switch (r?.$case) {
        case "requestRange":
          checkRange(store, ai, r.value.key, r.value.rangeEnd, "read");
          break;
        case "requestPut":
          checkPut(store, ai, r.value);
          break;
        case "requestDeleteRange":
          checkDeleteRange(store, ai, r.value);
          break;
        case "requestTxn":
          checkTxn(store, ai, r.value);
          break;
      }
    }
  }
}

/** Put: write on the key; read too when the previous value is asked for. */
export function checkPut(
  store: AuthStore,
  ai: AuthInfo | undefined,
  r: Pick<etcdserverpb.PutRequest, "key" | "prevKv">,
): void {
  checkRange(store, ai, r.key, Buffer.alloc(0), "write");
  if (r.prevKv) checkRange(store, ai, r.key, Buffer.alloc(0), "read");
}

/** DeleteRange: write on the range; read too when previous values are asked for. */
export function checkDeleteRange(
  store: AuthStore,
  ai: AuthInfo | undefined,
  r: Pick<etcdserverpb.DeleteRangeRequest, "key" | "rangeEnd" | "prevKv">,
): void {
  checkRange(store, ai, r.key, r.rangeEnd, "write");
  if (r.prevKv) checkRange(store, ai, r.key, r.rangeEnd, "read");
}

/** Whether a txn writes anything (otherwise it is served as a read). */
export function txnWrites(txn: etcdserverpb.TxnRequest): boolean {
  for (const ops of [txn.success, txn.failure]) {
    for (const op of ops) {
      const r = op.request;
      if (r?.$case === "requestPut" || r?.$case === "requestDeleteRange") return true;
      if (r?.$case === "requestTxn" && txnWrites(r.value)) return true;
    }
  }
  return false;
}
