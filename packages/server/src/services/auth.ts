/**
 * The etcd v3 Auth service. Changes (enable/disable, users, roles, permissions) and
 * Authenticate go through the log and are applied by every member
 * (auth/apply-auth.ts); reads (AuthStatus, UserGet/List, RoleGet/List) are served from
 * this member's auth state after a linearizable read barrier. Who may call what is
 * decided by services/auth-gate.ts (root for everything but Authenticate, a user's own
 * UserGet and RoleGet of its own roles) and again at apply.
 *
 * Passwords are hashed here, on the member receiving the request, before proposing
 * (auth/password.ts); the log carries the hash only. Authenticate checks the password
 * here too, then proposes a password-less record of the success that registers the
 * token on every member (etcd's InternalAuthenticateRequest); if the auth state changed
 * between the check and the apply, it checks again (etcd's loop).
 */
import {
  ErrAuthOldRevision,
  ErrRoleEmpty,
  ErrRoleNotFound,
  ErrUserEmpty,
  ErrUserNotFound,
  EtcdError,
  type etcdserverpb,
} from "@chainfire/api";
import { ROOT_PERMISSION, ROOT_ROLE } from "../auth/auth-store.js";
import { simpleTokenPrefix } from "../auth/tokens.js";
import type { MemberContext } from "../member-context.js";
import { unaryHandler } from "./interceptors.js";

/** Attempts of Authenticate when the auth state keeps changing under it. */
const AUTHENTICATE_ATTEMPTS = 5;

/** The Auth service of `ctx` (registered by services/index.ts). */
export function authService(ctx: MemberContext): etcdserverpb.AuthServer {
  const stop = ctx.stopping;
  const h = () => ctx.header();
  const write = <R extends Parameters<MemberContext["propose"]>[0]>(r: R, signal: AbortSignal) =>
    ctx.propose(r, signal);
  const store = () => ctx.auth.store;

  return {
    authEnable: unaryHandler(
      (_req: etcdserverpb.AuthEnableRequest, signal) =>
        write({ $case: "authEnable", value: {} }, signal),
      stop,
    ),
    authDisable: unaryHandler(
      (_req: etcdserverpb.AuthDisableRequest, signal) =>
        write({ $case: "authDisable", value: {} }, signal),
      stop,
    ),
    authStatus: unaryHandler(async (_req: etcdserverpb.AuthStatusRequest, signal) => {
      await ctx.readBarrier(signal);
      const s = store();
      return { header: h(), enabled: s.enabled, authRevision: s.revision };
    }, stop),
    authenticate: unaryHandler(async (req: etcdserverpb.AuthenticateRequest, signal) => {
      await ctx.readBarrier(signal);
      const auth = ctx.auth;
      for (let i = 0; i < AUTHENTICATE_ATTEMPTS; i++) {
        const checkedAt = await auth.checkPassword(req.name, req.password);
        const simple = auth.tokens.type === "simple";
        const res = await ctx.propose(
          {
            $case: "authAuthenticate",
            value: { name: req.name, simpleToken: simple ? simpleTokenPrefix() : "" },
          },
          signal,
        );
        if (checkedAt !== auth.store.revision) continue; // the user may have changed
        const token = simple ? res.token : auth.tokens.signJwt(res.username, res.revision);
        return { header: h(), token };
      }
      throw new EtcdError(ErrAuthOldRevision);
    }, stop),
    userAdd: unaryHandler(async (req: etcdserverpb.AuthUserAddRequest, signal) => {
      if (req.name === "") throw new EtcdError(ErrUserEmpty);
      const noPassword = req.options?.noPassword ?? false;
      const hashedPassword = noPassword ? "" : await ctx.auth.hash(req.password);
      return write(
        {
          $case: "authUserAdd",
          value: { name: req.name, password: "", hashedPassword, options: req.options },
        },
        signal,
      );
    }, stop),
    userGet: unaryHandler(async (req: etcdserverpb.AuthUserGetRequest, signal) => {
      await ctx.readBarrier(signal);
      const u = store().user(req.name);
      if (u === undefined) throw new EtcdError(ErrUserNotFound);
      return { header: h(), roles: u.roles };
    }, stop),
    userList: unaryHandler(async (_req: etcdserverpb.AuthUserListRequest, signal) => {
      await ctx.readBarrier(signal);
      return { header: h(), users: store().userNames() };
    }, stop),
    userDelete: unaryHandler(
      (req: etcdserverpb.AuthUserDeleteRequest, signal) =>
        write({ $case: "authUserDelete", value: { name: req.name } }, signal),
      stop,
    ),
    userChangePassword: unaryHandler(
      async (req: etcdserverpb.AuthUserChangePasswordRequest, signal) => {
        const u = store().user(req.name);
        if (u === undefined) throw new EtcdError(ErrUserNotFound);
        const hashedPassword = u.noPassword ? "" : await ctx.auth.hash(req.password);
        return write(
          {
            $case: "authUserChangePassword",
            value: { name: req.name, password: "", hashedPassword },
          },
          signal,
        );
      },
      stop,
    ),
    userGrantRole: unaryHandler(
      (req: etcdserverpb.AuthUserGrantRoleRequest, signal) =>
        write({ $case: "authUserGrantRole", value: { user: req.user, role: req.role } }, signal),
      stop,
    ),
    userRevokeRole: unaryHandler(
      (req: etcdserverpb.AuthUserRevokeRoleRequest, signal) =>
        write({ $case: "authUserRevokeRole", value: { name: req.name, role: req.role } }, signal),
      stop,
    ),
    roleAdd: unaryHandler((req: etcdserverpb.AuthRoleAddRequest, signal) => {
      if (req.name === "") throw new EtcdError(ErrRoleEmpty);
      return write({ $case: "authRoleAdd", value: { name: req.name } }, signal);
    }, stop),
    roleGet: unaryHandler(async (req: etcdserverpb.AuthRoleGetRequest, signal) => {
      await ctx.readBarrier(signal);
      const r = store().role(req.role);
      if (r === undefined) throw new EtcdError(ErrRoleNotFound);
      const perm = r.name === ROOT_ROLE ? [ROOT_PERMISSION] : r.perms;
      return { header: h(), perm: perm.map((p) => ({ ...p })) };
    }, stop),
    roleList: unaryHandler(async (_req: etcdserverpb.AuthRoleListRequest, signal) => {
      await ctx.readBarrier(signal);
      return { header: h(), roles: store().roleNames() };
    }, stop),
    roleDelete: unaryHandler(
      (req: etcdserverpb.AuthRoleDeleteRequest, signal) =>
        write({ $case: "authRoleDelete", value: { role: req.role } }, signal),
      stop,
    ),
    roleGrantPermission: unaryHandler(
      (req: etcdserverpb.AuthRoleGrantPermissionRequest, signal) =>
        write({ $case: "authRoleGrantPermission", value: req }, signal),
      stop,
    ),
    roleRevokePermission: unaryHandler(
      (req: etcdserverpb.AuthRoleRevokePermissionRequest, signal) =>
        write({ $case: "authRoleRevokePermission", value: req }, signal),
      stop,
    ),
  };
}
