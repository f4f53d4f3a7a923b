/**
 * Authorization at the edge (etcd's checks in v3_server.go, v3rpc/maintenance.go and
 * v3rpc/member.go): while auth is on, each handler of a service is wrapped so that
 *
 * 1. the caller is resolved (token or certificate CN; auth/member-auth.ts) — a bad token
 *    answers "etcdserver: invalid auth token";
 * 2. the method's rule ({@link AUTH_RULES}) is checked against the current auth state —
 *    reads are decided here, writes are refused early here and decided again, for good,
 *    at apply (auth/apply-auth.ts) with the user and auth revision recorded in the entry;
 * 3. the handler runs "as" the caller, so what it proposes carries the caller in its
 *    header (auth/member-auth.ts runAs);
 * 4. reads served locally fail with "etcdserver: revision of auth store is old" if the
 *    auth state changed while they ran (etcd's doSerialize).
 *
 * While auth is off a handler runs unwrapped. Methods without a rule (Status, Alarm,
 * MemberList, the Lease calls other than Revoke, Authenticate) are open, as in etcd 3.4.
 */
import {
  ErrAuthOldRevision,
  ErrInvalidAuthToken,
  ErrPermissionDenied,
  ErrUserEmpty,
  ErrUserNotFound,
  EtcdError,
  type etcdserverpb,
} from "@chainfire/api";
import { status } from "@grpc/grpc-js";
import type { AuthStore } from "../auth/auth-store.js";
import { type CallWithMetadata, type MemberAuth, runAs } from "../auth/member-auth.js";
import {
  type AuthInfo,
  checkAdmin,
  checkDeleteRange,
  checkPut,
  checkRange,
  checkTxn,
  txnWrites,
} from "../auth/permissions.js";
import type { ServiceShape } from "./interceptors.js";

/** How one method is authorized. */
export interface AuthRule {
  /** Throws the EtcdError to answer when the caller may not make this request. */
  check?(store: AuthStore, ai: AuthInfo | undefined, request: unknown): void;
  /** Served locally: refuse the answer if the auth revision moved meanwhile. */
  read?(request: unknown): boolean;
  /**
   * etcd 3.4's authMaintenanceServer (Defragment, Hash, HashKV, Snapshot) returns its auth
   * package's errors untranslated: gRPC code Unknown, "auth: ..." text (measured with
   * etcdctl 3.4 against etcd 3.4.23: test/compat/tls-auth.test.ts).
   */
  untranslated?: boolean;
}

const admin: AuthRule = { check: (s, ai) => checkAdmin(s, ai) };
const maintenanceAdmin: AuthRule = { ...admin, untranslated: true };

/** etcd's auth package texts of the errors {@link AuthRule.untranslated} rules answer. */
const AUTH_PACKAGE_TEXT: ReadonlyMap<string, string> = new Map([
  [ErrUserEmpty.message, "auth: user name is empty"],
  [ErrUserNotFound.message, "auth: user not found"],
  [ErrPermissionDenied.message, "auth: permission denied"],
  [ErrInvalidAuthToken.message, "auth: invalid auth token"],
]);

/** Resolves the caller of `call` and checks `rule` (errors as the rule wants them). */
function authorize(
  a: MemberAuth,
  rule: AuthRule,
  call: CallWithMetadata & { request: unknown },
): Promise<AuthInfo | undefined> {
  const checked = a.authInfo(call).then((ai) => {
    rule.check?.(a.store, ai, call.request);
    return ai;
  });
  if (!rule.untranslated) return checked;
  return checked.catch((error: unknown) => {
    const text = error instanceof EtcdError ? AUTH_PACKAGE_TEXT.get(error.message) : undefined;
    throw text === undefined ? error : new EtcdError(status.UNKNOWN, text);
  });
}
const authenticated: AuthRule = {
  check: (s, ai) => {
    if (s.enabled && (ai === undefined || ai.username === "")) throw new EtcdError(ErrUserEmpty);
  },
};

/** etcd's rules by method path. */
export const AUTH_RULES: ReadonlyMap<string, AuthRule> = new Map<string, AuthRule>([
  [
    "/etcdserverpb.KV/Range",
    {
      check: (s, ai, r) => {
        const q = r as etcdserverpb.RangeRequest;
        checkRange(s, ai, q.key, q.rangeEnd, "read");
      },
      read: () => true,
    },
  ],
  ["/etcdserverpb.KV/Put", { check: (s, ai, r) => checkPut(s, ai, r as etcdserverpb.PutRequest) }],
  [
    "/etcdserverpb.KV/DeleteRange",
    { check: (s, ai, r) => checkDeleteRange(s, ai, r as etcdserverpb.DeleteRangeRequest) },
  ],
  [
    "/etcdserverpb.KV/Txn",
    {
      check: (s, ai, r) => checkTxn(s, ai, r as etcdserverpb.TxnRequest),
      read: (r) => !txnWrites(r as etcdserverpb.TxnRequest),
    },
  ],
  ["/etcdserverpb.KV/Compact", authenticated],
  // LeaseRevoke: decided at apply (write on every attached key); no early check.
  ["/etcdserverpb.Lease/LeaseRevoke", {}],
  ["/etcdserverpb.Lease/LeaseGrant", {}],
  ["/etcdserverpb.Maintenance/Defragment", maintenanceAdmin],
  ["/etcdserverpb.Maintenance/Hash", maintenanceAdmin],
  ["/etcdserverpb.Maintenance/HashKV", maintenanceAdmin],
  ["/etcdserverpb.Maintenance/Snapshot", maintenanceAdmin],
  ["/etcdserverpb.Maintenance/MoveLeader", admin],
  ["/etcdserverpb.Maintenance/Downgrade", admin],
  ["/etcdserverpb.Cluster/MemberAdd", admin],
  ["/etcdserverpb.Cluster/MemberRemove", admin],
  ["/etcdserverpb.Cluster/MemberUpdate", admin],
  ["/etcdserverpb.Cluster/MemberPromote", admin],
  ["/etcdserverpb.Auth/AuthEnable", admin],
  ["/etcdserverpb.Auth/AuthDisable", admin],
  ["/etcdserverpb.Auth/AuthStatus", admin],
  ["/etcdserverpb.Auth/UserAdd", admin],
  ["/etcdserverpb.Auth/UserDelete", admin],
  ["/etcdserverpb.Auth/UserChangePassword", admin],
  ["/etcdserverpb.Auth/UserGrantRole", admin],
  ["/etcdserverpb.Auth/UserRevokeRole", admin],
  ["/etcdserverpb.Auth/UserList", admin],
  ["/etcdserverpb.Auth/RoleAdd", admin],
  ["/etcdserverpb.Auth/RoleDelete", admin],
  ["/etcdserverpb.Auth/RoleGrantPermission", admin],
  ["/etcdserverpb.Auth/RoleRevokePermission", admin],
  ["/etcdserverpb.Auth/RoleList", admin],
  // etcd's authApplierV3.UserGet / RoleGet: a user may read itself and its own roles.
  [
    "/etcdserverpb.Auth/UserGet",
    {
      check: (s, ai, r) => {
        if (ai !== undefined && ai.username === (r as etcdserverpb.AuthUserGetRequest).name) return;
        checkAdmin(s, ai);
      },
    },
  ],
  [
    "/etcdserverpb.Auth/RoleGet",
    {
      check: (s, ai, r) => {
        const role = (r as etcdserverpb.AuthRoleGetRequest).role;
        if (ai !== undefined && s.user(ai.username)?.roles.includes(role)) return;
        checkAdmin(s, ai);
      },
    },
  ],
]);

// biome-ignore lint/suspicious/noExplicitAny: handlers of every call type
type Handler = (call: any, callback?: any) => unknown;
type Callback = (err: unknown, value?: unknown, ...rest: unknown[]) => void;

/** Wraps the handlers of `impl` that have a rule (see the module comment). */
export function authorizeService(
  definition: ServiceShape,
  impl: Record<string, unknown>,
  auth: () => MemberAuth,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...impl };
  for (const [name, method] of Object.entries(definition)) {
    const key = name in impl ? name : method.originalName;
    if (key === undefined) continue;
    const handler = impl[key];
    const rule = AUTH_RULES.get(method.path);
    if (typeof handler !== "function" || rule === undefined) continue;
    out[key] = method.requestStream
      ? handler // Watch / LeaseKeepAlive: decided per request by the service
      : method.responseStream
        ? wrapServerStream(handler as Handler, rule, auth)
        : wrapUnary(handler as Handler, rule, auth);
  }
  return out;
}

function wrapUnary(handler: Handler, rule: AuthRule, auth: () => MemberAuth): Handler {
  return (call: CallWithMetadata & { request: unknown }, callback: Callback) => {
    const a = auth();
    if (!a.store.enabled) return handler(call, callback);
    return authorize(a, rule, call).then((ai) => {
      let cb = callback;
      if (rule.read?.(call.request) && ai !== undefined && ai.revision !== 0n) {
        cb = (err, value, ...rest) => {
          if (err == null && a.store.revision !== ai.revision) {
            return callback(new EtcdError(ErrAuthOldRevision));
          }
          callback(err, value, ...rest);
        };
      }
      return runAs(ai, () => handler(call, cb));
    });
  };
}

function wrapServerStream(handler: Handler, rule: AuthRule, auth: () => MemberAuth): Handler {
  return (call: CallWithMetadata & { request: unknown }) => {
    const a = auth();
    if (!a.store.enabled) return handler(call);
    return authorize(a, rule, call).then((ai) => runAs(ai, () => handler(call)));
  };
}
