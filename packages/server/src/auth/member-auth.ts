/**
 * MemberAuth: what a member's services use of auth: the replicated {@link AuthStore} (read
 * only), the {@link TokenManager}, password hashing, and resolving who sent a call.
 *
 * Identity (etcd's AuthInfoFromCtx): while auth is on, a call's "token" metadata entry
 * (or "authorization", etcd's gateway name) names the user; an unknown or expired token
 * is "etcdserver: invalid auth token". Without a token, the common name of a verified
 * client certificate is the user, when the member was given a `certificateCommonName`
 * function (TLS with --client-cert-auth; see services/tls-identity.ts when present).
 * No token and no certificate: no user (requests needing permission then fail with
 * "etcdserver: user name is empty", as with etcd).
 *
 * A simple token is registered by applying its Authenticate entry; a member that has not
 * applied that entry yet (the token's ".index" suffix is above its applied index) waits
 * for it, bounded by the request timeout, before calling the token invalid.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { ErrAuthFailed, ErrInvalidAuthToken, EtcdError } from "@chainfire/api";
import type { AuthStore } from "./auth-store.js";
import { hashPassword, verifyPassword } from "./password.js";
import { ADMIN_REQUESTS, type AuthInfo, type RequestCase } from "./permissions.js";
import { TokenManager } from "./tokens.js";

/** The part of a grpc-js call identity resolution reads. */
export interface CallWithMetadata {
  readonly metadata: { get(key: string): unknown[] };
}

/** Returns the CN of the call's verified client certificate, if any. */
export type CertificateCommonName = (call: CallWithMetadata) => string | undefined;

export interface MemberAuthDeps {
  /** The current store (read each time: a snapshot install replaces it). */
  store(): AuthStore;
  tokens: TokenManager;
  /** --bcrypt-cost. */
  bcryptCost: number;
  appliedIndex(): bigint;
  /** Fires after each applied batch (MemberContext.onApplied; typed here to avoid a cycle). */
  onApplied: (listener: (e: { index: bigint }) => void) => { dispose(): void };
  /** Bound on waiting for a token's Authenticate entry to be applied here. */
  waitTimeoutMs: number;
  certificateCommonName?: CertificateCommonName;
}

/** The requester of the call being served; the proposer records it in the entry header. */
const current = new AsyncLocalStorage<AuthInfo>();

/** Runs `fn` with `ai` as the requester of everything it proposes. */
export function runAs<T>(ai: AuthInfo | undefined, fn: () => T): T {
  return ai === undefined ? fn() : current.run(ai, fn);
}

/** The requester of the current call (see {@link runAs}). */
export function currentRequester(): AuthInfo | undefined {
  return current.getStore();
}

/**
 * The requester to record in the header of a proposal of `request`: the current call's
 * for the kinds clients propose; none for the member's own proposals (lessor expiries,
 * alarms, publishing), even when they are made from a callback that was scheduled while
 * serving a call (the async context follows such callbacks).
 */
export function requesterOf(request: { $case: string } | undefined): AuthInfo | undefined {
  const c = request?.$case;
  if (c === undefined || !CLIENT_REQUESTS.has(c)) return undefined;
  return current.getStore();
}

const CLIENT_REQUESTS: ReadonlySet<string> = new Set<RequestCase>([
  "put",
  "deleteRange",
  "txn",
  "compaction",
  "leaseGrant",
  "leaseRevoke",
  ...ADMIN_REQUESTS,
  "authAuthenticate",
]);

export class MemberAuth {
  readonly #deps: MemberAuthDeps;

  constructor(deps: MemberAuthDeps) {
    this.#deps = deps;
  }

  get store(): AuthStore {
    return this.#deps.store();
  }

  get tokens(): TokenManager {
    return this.#deps.tokens;
  }

  /** Hashes a password for UserAdd / UserChangePassword (before proposing). */
  hash(password: string): Promise<string> {
    return hashPassword(password, this.#deps.bcryptCost);
  }

  /**
   * etcd's CheckPassword: the auth revision the password was checked at. Rejects
   * ErrAuthNotEnabled, or ErrAuthFailed for an unknown user, a no-password user or a wrong
   * password.
   */
  async checkPassword(name: string, password: string): Promise<bigint> {
    const store = this.store;
    store.requireEnabled();
    const u = store.user(name);
    if (u === undefined || u.noPassword) throw new EtcdError(ErrAuthFailed);
    const revision = store.revision;
    if (!(await verifyPassword(password, u.password))) throw new EtcdError(ErrAuthFailed);
    return revision;
  }

  /** Who sent `call` (see the module comment); undefined while auth is off. */
  async authInfo(call: CallWithMetadata): Promise<AuthInfo | undefined> {
    if (!this.store.enabled) return undefined;
    const token = first(call, "token") ?? first(call, "authorization");
    if (token !== undefined) return this.#tokenInfo(token);
    const cn = this.#deps.certificateCommonName?.(call);
    if (cn !== undefined && cn !== "") return { username: cn, revision: this.store.revision };
    return undefined;
  }

  /**
   * {@link authInfo} without waiting for a token's entry to be applied (for requests on
   * an open stream: Watch creates). Throws ErrInvalidAuthToken.
   */
  authInfoNow(call: CallWithMetadata): AuthInfo | undefined {
    if (!this.store.enabled) return undefined;
    const token = first(call, "token") ?? first(call, "authorization");
    if (token !== undefined) {
      const info = this.#deps.tokens.info(token, this.store.revision);
      if (info === undefined) throw new EtcdError(ErrInvalidAuthToken);
      return info;
    }
    const cn = this.#deps.certificateCommonName?.(call);
    if (cn !== undefined && cn !== "") return { username: cn, revision: this.store.revision };
    return undefined;
  }

  async #tokenInfo(token: string): Promise<AuthInfo> {
    const tokens = this.#deps.tokens;
    let info = tokens.info(token, this.store.revision);
    if (info === undefined && tokens.type === "simple") {
      const index = TokenManager.simpleTokenIndex(token);
      if (index !== undefined && index > this.#deps.appliedIndex()) {
        await this.#waitApplied(index);
        info = tokens.info(token, this.store.revision);
      }
    }
    if (info === undefined) throw new EtcdError(ErrInvalidAuthToken);
    return info;
  }

  /** Resolves once `index` is applied here, or after the wait bound (never rejects). */
  #waitApplied(index: bigint): Promise<void> {
    const d = this.#deps;
    if (d.appliedIndex() >= index) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        sub.dispose();
        resolve();
      };
      const timer = setTimeout(done, d.waitTimeoutMs);
      timer.unref();
      const sub = d.onApplied((e) => {
        if (e.index >= index) done();
      });
    });
  }
}

function first(call: CallWithMetadata, key: string): string | undefined {
  const v = call.metadata?.get(key)[0];
  if (typeof v === "string") return v;
  if (Buffer.isBuffer(v)) return v.toString();
  return undefined;
}
