/**
 * The auth side of the apply path (etcd's authApplierV3 and the auth cases of applierV3):
 *
 * - {@link authorizeAtApply}: before a request takes effect, its permissions are checked
 *   against the auth state at this point of the log with the user and auth revision the
 *   proposing member recorded in the header. Every member decides the same, and a
 *   request checked before an auth change fails with "revision of auth store is old".
 * - {@link applyAuthRequest}: auth changes (users, roles, enable/disable) and
 *   Authenticate, which registers the simple token on every member.
 */
import { ErrAuthFailed, ErrUserEmpty, EtcdError, type internalpb } from "@chainfire/api";
import type { MvccWrite } from "@chainfire/storage";
import type { AuthStore } from "./auth-store.js";
import {
  ADMIN_REQUESTS,
  type AuthInfo,
  checkAdmin,
  checkDeleteRange,
  checkPut,
  checkRange,
  checkTxn,
} from "./permissions.js";
import type { TokenManager } from "./tokens.js";

/** What the applier needs for auth. */
export interface AuthApplyEnv {
  readonly store: AuthStore;
  readonly tokens: TokenManager;
  /** Logs an auth change (info level), as etcd does. */
  log?(obj: object, msg: string): void;
}

/** The result of an applied Authenticate (the proposing member turns it into the answer). */
export interface AuthenticateResult {
  username: string;
  /** The auth revision at the apply. */
  revision: bigint;
  /** The simple token registered on every member; empty for JWT (signed by the proposer). */
  token: string;
}

type Request = NonNullable<internalpb.InternalRequest["request"]>;

/** The requester recorded in the header (undefined: none). */
export function headerAuthInfo(h: internalpb.RequestHeader | undefined): AuthInfo | undefined {
  if (h === undefined || (h.username === "" && h.authRevision === 0n)) return undefined;
  return { username: h.username, revision: h.authRevision };
}

/** Throws the EtcdError etcd's authApplierV3 answers when the request is not allowed. */
export function authorizeAtApply(
  env: AuthApplyEnv,
  w: MvccWrite,
  req: internalpb.InternalRequest,
): void {
  const store = env.store;
  if (!store.enabled) return;
  const r = req.request;
  if (r === undefined) return;
  const ai = headerAuthInfo(req.header);
  if (ADMIN_REQUESTS.has(r.$case)) {
    checkAdmin(store, ai);
    return;
  }
  switch (r.$case) {
    case "put":
      checkPut(store, ai, r.value);
      checkLeaseKeys(store, ai, w, r.value.lease);
      return;
    case "deleteRange":
      checkDeleteRange(store, ai, r.value);
      return;
    case "txn":
      checkTxn(store, ai, r.value);
      return;
    case "leaseRevoke":
      checkLeaseKeys(store, ai, w, r.value.ID);
      return;
    case "compaction":
      // Beyond etcd 3.4 (which checks nothing): compaction needs an authenticated user.
      if (ai === undefined || ai.username === "") throw new EtcdError(ErrUserEmpty);
      return;
    default:
      return;
  }
}

/**
 * etcd's checkLeasePuts: a user may attach to (or revoke) a lease only if it may write
 * every key already attached to it (root skips the check).
 */
function checkLeaseKeys(
  store: AuthStore,
  ai: AuthInfo | undefined,
  w: MvccWrite,
  lease: bigint,
): void {
  if (lease === 0n) return;
  try {
    checkAdmin(store, ai);
    return;
  } catch {
    // not root: check each key
  }
  for (const key of w.keysOfLease(lease)) checkRange(store, ai, key, Buffer.alloc(0), "write");
}

/** Applies an auth request; returns its response (header added by the caller). */
export function applyAuthRequest(
  env: AuthApplyEnv,
  w: MvccWrite,
  r: Request | undefined,
  index: number,
): object | undefined {
  const s = env.store;
  const b = w.batch;
  switch (r?.$case) {
    case "authEnable":
      s.enable(b);
      break;
    case "authDisable":
      s.disable(b);
      env.tokens.clear();
      break;
    case "authUserAdd":
      // The proposer replaced the password by its hash (hashedPassword).
      s.addUser(b, r.value.name, r.value.hashedPassword, r.value.options?.noPassword ?? false);
      break;
    case "authUserDelete":
      s.deleteUser(b, r.value.name);
      env.tokens.invalidateUser(r.value.name);
      break;
    case "authUserChangePassword":
      s.changePassword(b, r.value.name, r.value.hashedPassword);
      env.tokens.invalidateUser(r.value.name);
      break;
    case "authUserGrantRole":
      s.grantRole(b, r.value.user, r.value.role);
      break;
    case "authUserRevokeRole":
      s.revokeRole(b, r.value.name, r.value.role);
      break;
    case "authRoleAdd":
      s.addRole(b, r.value.name);
      break;
    case "authRoleDelete":
      s.deleteRole(b, r.value.role);
      break;
    case "authRoleGrantPermission": {
      const p = r.value.perm;
      s.grantPermission(
        b,
        r.value.name,
        p && { permType: p.permType, key: Buffer.from(p.key), rangeEnd: Buffer.from(p.rangeEnd) },
      );
      break;
    }
    case "authRoleRevokePermission":
      s.revokePermission(b, r.value.role, Buffer.from(r.value.key), Buffer.from(r.value.rangeEnd));
      break;
    case "authAuthenticate":
      return authenticate(env, r.value, index);
    default:
      return undefined;
  }
  env.log?.({ request: r.$case, authRevision: Number(s.revision) }, "auth change applied");
  return {};
}

function authenticate(
  env: AuthApplyEnv,
  a: internalpb.AuthAuthenticate,
  index: number,
): AuthenticateResult {
  const s = env.store;
  s.requireEnabled();
  const u = s.user(a.name);
  // The password was checked by the proposer; the user may be gone or changed since.
  if (u === undefined || u.noPassword) throw new EtcdError(ErrAuthFailed);
  let token = "";
  if (a.simpleToken !== "") {
    token = `${a.simpleToken}.${index}`;
    env.tokens.registerSimple(token, a.name);
  }
  return { username: a.name, revision: s.revision, token };
}
