/**
 * AuthStore: the replicated auth state (etcd's server/auth store): whether auth is on,
 * the auth revision, users (name, password hash, roles, options) and roles (key
 * permissions). Kept in the `meta` column family under "auth/" keys, so state snapshots
 * carry it and a restored or snapshotted member has the same users and roles:
 *
 * | key                  | value                                      |
 * | -------------------- | ------------------------------------------ |
 * | "auth/enabled"       | one byte, 1 = on                           |
 * | "auth/revision"      | u64be auth revision                        |
 * | "auth/user/" + name  | authpb.User (password = our hash, see password.ts) |
 * | "auth/role/" + name  | authpb.Role                                |
 *
 * Loaded at open; changed only by applied log entries (apply-auth.ts), which write into
 * the Ready's batch and update memory at once (as the alarm store does; a batch that fails
 * to write stops the member). The rules and errors are etcd 3.4's: see each method.
 *
 * Invariant: every mutation that changes users, roles or disables auth bumps the revision
 * by one (etcd's commitRevision); enabling auth does not. The revision starts at 1.
 */
import {
  authpb,
  ErrAuthNotEnabled,
  ErrInvalidAuthMgmt,
  ErrPermissionNotGiven,
  ErrPermissionNotGranted,
  ErrRoleAlreadyExist,
  ErrRoleEmpty,
  ErrRoleNotFound,
  ErrRoleNotGranted,
  ErrRootRoleNotExist,
  ErrRootUserNotExist,
  ErrUserAlreadyExist,
  ErrUserEmpty,
  ErrUserNotFound,
  EtcdError,
} from "@chainfire/api";
import type { Engine, WriteBatch } from "@chainfire/storage";
import { compareBytes } from "@chainfire/storage";

export const ROOT_USER = "root";
export const ROOT_ROLE = "root";

const ENABLED_KEY = Buffer.from("auth/enabled");
const REVISION_KEY = Buffer.from("auth/revision");
const USER_PREFIX = Buffer.from("auth/user/");
const ROLE_PREFIX = Buffer.from("auth/role/");

/** A user as the store keeps it. Roles sorted ascending (etcd keeps them sorted). */
export interface AuthUser {
  name: string;
  /** Password hash (password.ts format); empty for a no-password user. */
  password: string;
  roles: string[];
  noPassword: boolean;
}

/** A permission of a role: [key, rangeEnd); empty rangeEnd = the key alone; "\0" = from key. */
export interface AuthPermission {
  permType: authpb.Permission_Type;
  key: Buffer;
  rangeEnd: Buffer;
}

export interface AuthRole {
  name: string;
  /** Sorted by key (etcd's permSlice order). */
  perms: AuthPermission[];
}

/** The root role's answer to RoleGet: read-write on every key (etcd's rootPerm). */
export const ROOT_PERMISSION: AuthPermission = {
  permType: authpb.Permission_Type.READWRITE,
  key: Buffer.alloc(0),
  rangeEnd: Buffer.from([0]),
};

function prefixEnd(p: Buffer): Buffer {
  const e = Buffer.from(p);
  e[e.length - 1]++;
  return e;
}

function encodeUser(u: AuthUser): Buffer {
  return Buffer.from(
    authpb.User.encode(
      authpb.User.fromPartial({
        name: Buffer.from(u.name),
        password: Buffer.from(u.password),
        roles: u.roles,
        options: { noPassword: u.noPassword },
      }),
    ).finish(),
  );
}

function decodeUser(v: Uint8Array): AuthUser {
  const u = authpb.User.decode(v);
  return {
    name: u.name.toString(),
    password: u.password.toString(),
    roles: [...u.roles].sort(),
    noPassword: u.options?.noPassword ?? false,
  };
}

function encodeRole(r: AuthRole): Buffer {
  return Buffer.from(
    authpb.Role.encode(
      authpb.Role.fromPartial({ name: Buffer.from(r.name), keyPermission: r.perms }),
    ).finish(),
  );
}

function decodeRole(v: Uint8Array): AuthRole {
  const r = authpb.Role.decode(v);
  return {
    name: r.name.toString(),
    perms: r.keyPermission.map((p) => ({
      permType: p.permType,
      key: Buffer.from(p.key),
      rangeEnd: Buffer.from(p.rangeEnd),
    })),
  };
}

function cloneUser(u: AuthUser): AuthUser {
  return { ...u, roles: [...u.roles] };
}

function cloneRole(r: AuthRole): AuthRole {
  return { name: r.name, perms: r.perms.map((p) => ({ ...p })) };
}

/** Whether `u` holds the root role. */
export function hasRootRole(u: AuthUser): boolean {
  return u.roles.includes(ROOT_ROLE);
}

export class AuthStore {
  #enabled = false;
  #revision = 1n;
  readonly #users = new Map<string, AuthUser>();
  readonly #roles = new Map<string, AuthRole>();

  /** Loads the auth records of `engine` (none: auth off, revision 1, no users). */
  static load(engine: Engine): AuthStore {
    const s = new AuthStore();
    const e = engine.getSync("meta", ENABLED_KEY);
    s.#enabled = e !== undefined && e !== null && e.length > 0 && e[0] === 1;
    const r = engine.getSync("meta", REVISION_KEY);
    if (r && r.length === 8) s.#revision = Buffer.from(r).readBigUInt64BE(0);
    for (const [, v] of engine.iterateSync("meta", {
      gte: USER_PREFIX,
      lt: prefixEnd(USER_PREFIX),
    })) {
      const u = decodeUser(v as Uint8Array);
      s.#users.set(u.name, u);
    }
    for (const [, v] of engine.iterateSync("meta", {
      gte: ROLE_PREFIX,
      lt: prefixEnd(ROLE_PREFIX),
    })) {
      const role = decodeRole(v as Uint8Array);
      s.#roles.set(role.name, role);
    }
    return s;
  }

  // ---- reads ----

  get enabled(): boolean {
    return this.#enabled;
  }

  /** The auth revision: bumped by every change of users, roles, and by disabling auth. */
  get revision(): bigint {
    return this.#revision;
  }

  user(name: string): AuthUser | undefined {
    const u = this.#users.get(name);
    return u ? cloneUser(u) : undefined;
  }

  role(name: string): AuthRole | undefined {
    const r = this.#roles.get(name);
    return r ? cloneRole(r) : undefined;
  }

  /** User names, sorted (etcd lists them in key order). */
  userNames(): string[] {
    return [...this.#users.keys()].sort(byBytes);
  }

  roleNames(): string[] {
    return [...this.#roles.keys()].sort(byBytes);
  }

  /** The permissions of every role `user` holds (root excluded: it allows everything). */
  permissionsOf(user: AuthUser): AuthPermission[] {
    const out: AuthPermission[] = [];
    for (const name of user.roles) {
      const r = this.#roles.get(name);
      if (r) out.push(...r.perms);
    }
    return out;
  }

  // ---- mutations (apply only; each writes into `batch`) ----

  /** etcd AuthEnable: needs the root user with the root role; enabling twice is a no-op. */
  enable(batch: WriteBatch): void {
    if (this.#enabled) return;
    const root = this.#users.get(ROOT_USER);
    if (root === undefined) throw new EtcdError(ErrRootUserNotExist);
    if (!hasRootRole(root)) throw new EtcdError(ErrRootRoleNotExist);
    batch.put("meta", ENABLED_KEY, Buffer.from([1]));
    this.#enabled = true;
  }

  /** etcd AuthDisable: bumps the revision; disabling twice is a no-op. */
  disable(batch: WriteBatch): void {
    if (!this.#enabled) return;
    batch.put("meta", ENABLED_KEY, Buffer.from([0]));
    this.#enabled = false;
    this.#bump(batch);
  }

  /** etcd UserAdd. `passwordHash` is computed by the proposing member (never in apply). */
  addUser(batch: WriteBatch, name: string, passwordHash: string, noPassword: boolean): void {
    if (name.length === 0) throw new EtcdError(ErrUserEmpty);
    if (this.#users.has(name)) throw new EtcdError(ErrUserAlreadyExist);
    this.#putUser(batch, { name, password: noPassword ? "" : passwordHash, roles: [], noPassword });
    this.#bump(batch);
  }

  /** etcd UserDelete: root cannot be deleted while auth is on. */
  deleteUser(batch: WriteBatch, name: string): void {
    if (this.#enabled && name === ROOT_USER) throw new EtcdError(ErrInvalidAuthMgmt);
    if (!this.#users.has(name)) throw new EtcdError(ErrUserNotFound);
    batch.del("meta", Buffer.concat([USER_PREFIX, Buffer.from(name)]));
    this.#users.delete(name);
    this.#bump(batch);
  }

  /** etcd UserChangePassword (a no-password user keeps no password). */
  changePassword(batch: WriteBatch, name: string, passwordHash: string): void {
    const u = this.#users.get(name);
    if (u === undefined) throw new EtcdError(ErrUserNotFound);
    this.#putUser(batch, { ...u, password: u.noPassword ? "" : passwordHash });
    this.#bump(batch);
  }

  /** etcd UserGrantRole: the root role need not exist as a role; granting twice is a no-op. */
  grantRole(batch: WriteBatch, user: string, role: string): void {
    const u = this.#users.get(user);
    if (u === undefined) throw new EtcdError(ErrUserNotFound);
    if (role !== ROOT_ROLE && !this.#roles.has(role)) throw new EtcdError(ErrRoleNotFound);
    if (u.roles.includes(role)) return;
    this.#putUser(batch, { ...u, roles: [...u.roles, role].sort(byBytes) });
    this.#bump(batch);
  }

  /** etcd UserRevokeRole: root keeps the root role while auth is on. */
  revokeRole(batch: WriteBatch, user: string, role: string): void {
    if (this.#enabled && user === ROOT_USER && role === ROOT_ROLE) {
      throw new EtcdError(ErrInvalidAuthMgmt);
    }
    const u = this.#users.get(user);
    if (u === undefined) throw new EtcdError(ErrUserNotFound);
    if (!u.roles.includes(role)) throw new EtcdError(ErrRoleNotGranted);
    this.#putUser(batch, { ...u, roles: u.roles.filter((r) => r !== role) });
    this.#bump(batch);
  }

  /** etcd RoleAdd. */
  addRole(batch: WriteBatch, name: string): void {
    if (name.length === 0) throw new EtcdError(ErrRoleEmpty);
    if (this.#roles.has(name)) throw new EtcdError(ErrRoleAlreadyExist);
    this.#putRole(batch, { name, perms: [] });
    this.#bump(batch);
  }

  /** etcd RoleDelete: also revokes the role from every user; root's role stays while on. */
  deleteRole(batch: WriteBatch, name: string): void {
    if (this.#enabled && name === ROOT_ROLE) throw new EtcdError(ErrInvalidAuthMgmt);
    if (!this.#roles.has(name)) throw new EtcdError(ErrRoleNotFound);
    batch.del("meta", Buffer.concat([ROLE_PREFIX, Buffer.from(name)]));
    this.#roles.delete(name);
    for (const u of [...this.#users.values()]) {
      if (u.roles.includes(name)) {
        this.#putUser(batch, { ...u, roles: u.roles.filter((r) => r !== name) });
      }
    }
    this.#bump(batch);
  }

  /** etcd RoleGrantPermission: the same [key, rangeEnd) updates its type; else added. */
  grantPermission(batch: WriteBatch, name: string, perm: AuthPermission | undefined): void {
    if (perm === undefined) throw new EtcdError(ErrPermissionNotGiven);
    const r = this.#roles.get(name);
    if (r === undefined) throw new EtcdError(ErrRoleNotFound);
    const perms = r.perms.map((p) => ({ ...p }));
    const same = perms.find((p) => p.key.equals(perm.key) && p.rangeEnd.equals(perm.rangeEnd));
    if (same) same.permType = perm.permType;
    else {
      perms.push({ ...perm });
      perms.sort((a, b) => compareBytes(a.key, b.key));
    }
    this.#putRole(batch, { name, perms });
    this.#bump(batch);
  }

  /** etcd RoleRevokePermission: removes the permission with exactly this key and range end. */
  revokePermission(batch: WriteBatch, name: string, key: Buffer, rangeEnd: Buffer): void {
    const r = this.#roles.get(name);
    if (r === undefined) throw new EtcdError(ErrRoleNotFound);
    const perms = r.perms.filter((p) => !(p.key.equals(key) && p.rangeEnd.equals(rangeEnd)));
    if (perms.length === r.perms.length) throw new EtcdError(ErrPermissionNotGranted);
    this.#putRole(batch, { name, perms });
    this.#bump(batch);
  }

  /** Throws ErrAuthNotEnabled unless auth is on (Authenticate's first check). */
  requireEnabled(): void {
    if (!this.#enabled) throw new EtcdError(ErrAuthNotEnabled);
  }

  #putUser(batch: WriteBatch, u: AuthUser): void {
    batch.put("meta", Buffer.concat([USER_PREFIX, Buffer.from(u.name)]), encodeUser(u));
    this.#users.set(u.name, cloneUser(u));
  }

  #putRole(batch: WriteBatch, r: AuthRole): void {
    batch.put("meta", Buffer.concat([ROLE_PREFIX, Buffer.from(r.name)]), encodeRole(r));
    this.#roles.set(r.name, cloneRole(r));
  }

  #bump(batch: WriteBatch): void {
    this.#revision++;
    const v = Buffer.alloc(8);
    v.writeBigUInt64BE(this.#revision);
    batch.put("meta", REVISION_KEY, v);
  }
}

function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
