/**
 * Authentication management (`client.auth`): enable/disable, users, roles and
 * permissions. To *use* authentication, give `auth: { username, password }` to the
 * client.
 *
 * @module
 */
import { authpb, etcdserverpb } from "@chainfire/api";
import { type KeySelector, toWireRange } from "./bytes.js";
import { type Header, toHeader } from "./kv.js";
import type { CallOptions, Invoke, Transport } from "./transport.js";

/** A permission kind. */
export type PermissionType = "read" | "write" | "readwrite";

/** A permission of a role on a key or range. */
export interface Permission {
  type: PermissionType;
  key: Buffer;
  /** End of the range (empty for one key). */
  rangeEnd: Buffer;
}

const permTypes: Record<PermissionType, authpb.Permission_Type> = {
  read: authpb.Permission_Type.READ,
  write: authpb.Permission_Type.WRITE,
  readwrite: authpb.Permission_Type.READWRITE,
};

function permName(t: authpb.Permission_Type): PermissionType {
  if (t === authpb.Permission_Type.READ) return "read";
  if (t === authpb.Permission_Type.WRITE) return "write";
  return "readwrite";
}

/** The auth-management calls of a client. Every call here is a write except the getters. */
export class AuthApi {
  constructor(private readonly transport: Transport) {}

  private write<T extends { header?: etcdserverpb.ResponseHeader }>(
    invoke: Invoke<T>,
    options?: CallOptions,
  ): Promise<T> {
    return this.transport.unary(invoke, { idempotent: false, requireLeader: true }, options);
  }

  private read<T>(invoke: Invoke<T>, options?: CallOptions): Promise<T> {
    return this.transport.unary(invoke, { idempotent: true, requireLeader: true }, options);
  }

  /** Turns authentication on (the user "root" with the role "root" must exist). */
  async enable(options?: CallOptions): Promise<Header> {
    return toHeader(
      (await this.write((s, md, o, cb) => s.auth.authEnable({}, md, o, cb), options)).header,
    );
  }

  /** Turns authentication off. */
  async disable(options?: CallOptions): Promise<Header> {
    return toHeader(
      (await this.write((s, md, o, cb) => s.auth.authDisable({}, md, o, cb), options)).header,
    );
  }

  /** Whether authentication is on, and the auth store's revision (etcd v3.5+). */
  async status(options?: CallOptions): Promise<{ enabled: boolean; authRevision: bigint }> {
    const r = await this.read<etcdserverpb.AuthStatusResponse>(
      (s, md, o, cb) => s.auth.authStatus({}, md, o, cb),
      options,
    );
    return { enabled: r.enabled, authRevision: r.authRevision };
  }

  /** Adds a user (`noPassword` users authenticate only by TLS certificate). */
  async userAdd(
    name: string,
    password: string,
    options: CallOptions & { noPassword?: boolean } = {},
  ): Promise<Header> {
    const req = etcdserverpb.AuthUserAddRequest.fromPartial({
      name,
      password,
      options: { noPassword: options.noPassword ?? false },
    });
    return toHeader(
      (await this.write((s, md, o, cb) => s.auth.userAdd(req, md, o, cb), options)).header,
    );
  }

  /** Deletes a user. */
  async userDelete(name: string, options?: CallOptions): Promise<Header> {
    return toHeader(
      (await this.write((s, md, o, cb) => s.auth.userDelete({ name }, md, o, cb), options)).header,
    );
  }

  /** The roles of a user. */
  async userGet(name: string, options?: CallOptions): Promise<string[]> {
    return (
      await this.read<etcdserverpb.AuthUserGetResponse>(
        (s, md, o, cb) => s.auth.userGet({ name }, md, o, cb),
        options,
      )
    ).roles;
  }

  /** Every user name. */
  async userList(options?: CallOptions): Promise<string[]> {
    return (
      await this.read<etcdserverpb.AuthUserListResponse>(
        (s, md, o, cb) => s.auth.userList({}, md, o, cb),
        options,
      )
    ).users;
  }

  /** Changes a user's password. */
  async userChangePassword(name: string, password: string, options?: CallOptions): Promise<Header> {
    const req = etcdserverpb.AuthUserChangePasswordRequest.fromPartial({ name, password });
    return toHeader(
      (await this.write((s, md, o, cb) => s.auth.userChangePassword(req, md, o, cb), options))
        .header,
    );
  }

  /** Grants a role to a user. */
  async userGrantRole(user: string, role: string, options?: CallOptions): Promise<Header> {
    return toHeader(
      (await this.write((s, md, o, cb) => s.auth.userGrantRole({ user, role }, md, o, cb), options))
        .header,
    );
  }

  /** Revokes a role from a user. */
  async userRevokeRole(name: string, role: string, options?: CallOptions): Promise<Header> {
    return toHeader(
      (
        await this.write(
          (s, md, o, cb) => s.auth.userRevokeRole({ name, role }, md, o, cb),
          options,
        )
      ).header,
    );
  }

  /** Adds a role. */
  async roleAdd(name: string, options?: CallOptions): Promise<Header> {
    return toHeader(
      (await this.write((s, md, o, cb) => s.auth.roleAdd({ name }, md, o, cb), options)).header,
    );
  }

  /** Deletes a role. */
  async roleDelete(role: string, options?: CallOptions): Promise<Header> {
    return toHeader(
      (await this.write((s, md, o, cb) => s.auth.roleDelete({ role }, md, o, cb), options)).header,
    );
  }

  /** The permissions of a role. */
  async roleGet(role: string, options?: CallOptions): Promise<Permission[]> {
    const r = await this.read<etcdserverpb.AuthRoleGetResponse>(
      (s, md, o, cb) => s.auth.roleGet({ role }, md, o, cb),
      options,
    );
    return r.perm.map((p) => ({ type: permName(p.permType), key: p.key, rangeEnd: p.rangeEnd }));
  }

  /** Every role name. */
  async roleList(options?: CallOptions): Promise<string[]> {
    return (
      await this.read<etcdserverpb.AuthRoleListResponse>(
        (s, md, o, cb) => s.auth.roleList({}, md, o, cb),
        options,
      )
    ).roles;
  }

  /** Lets a role read and/or write a key or range. */
  async roleGrantPermission(
    role: string,
    type: PermissionType,
    keys: KeySelector,
    options?: CallOptions,
  ): Promise<Header> {
    const { key, rangeEnd } = toWireRange(keys);
    const req = etcdserverpb.AuthRoleGrantPermissionRequest.fromPartial({
      name: role,
      perm: { permType: permTypes[type], key, rangeEnd },
    });
    return toHeader(
      (await this.write((s, md, o, cb) => s.auth.roleGrantPermission(req, md, o, cb), options))
        .header,
    );
  }

  /** Takes a role's permission on a key or range away. */
  async roleRevokePermission(
    role: string,
    keys: KeySelector,
    options?: CallOptions,
  ): Promise<Header> {
    const { key, rangeEnd } = toWireRange(keys);
    const req = etcdserverpb.AuthRoleRevokePermissionRequest.fromPartial({ role, key, rangeEnd });
    return toHeader(
      (await this.write((s, md, o, cb) => s.auth.roleRevokePermission(req, md, o, cb), options))
        .header,
    );
  }
}
