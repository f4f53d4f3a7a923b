/**
 * Auth tokens (etcd's TokenProvider): `--auth-token simple` (default) or
 * `--auth-token jwt,pub-key=...,priv-key=...,sign-method=RS256,ttl=5m`.
 *
 * Simple tokens are random strings plus "." + the raft index of the Authenticate entry
 * that created them. Every member registers the token when it applies that entry
 * (apply-auth.ts), so a token works on every member; each use pushes its expiry out by
 * `--auth-token-ttl` seconds (default 300), as etcd's simple tokens do. They live in
 * memory: a restarted member forgets them, and changing a user's password, deleting the
 * user or disabling auth drops that user's (or every) token.
 *
 * JWT tokens are signed by the member that answers Authenticate (node:crypto) and carry
 * the user name, the auth revision and the expiry; any member holding the key verifies
 * them. A token signed before an auth change carries an older revision, so requests with
 * it fail with "revision of auth store is old" until the client authenticates again
 * (etcd behaves the same).
 */
import { randomInt } from "node:crypto";
import { readFileSync } from "node:fs";
import { createJwtProvider, type JwtProvider } from "./jwt.js";
import type { AuthInfo } from "./permissions.js";
import { AuthTokenOptionError, type TokenConfig } from "./token-config.js";

export { AuthTokenOptionError, type TokenConfig };

/** --auth-token-ttl default: 300 s. */
export const DEFAULT_SIMPLE_TOKEN_TTL_S = 300;

/** Go's time.ParseDuration for the forms etcd documents ("5m", "300s", "1h30m", "500ms"). */
export function parseDuration(s: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    const n = Number(m[1]);
    total += n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
    pos = re.lastIndex;
  }
  if (pos !== s.length || s.length === 0) throw new AuthTokenOptionError(`invalid duration ${s}`);
  return total;
}

/** Parses `--auth-token` ("simple", or "jwt,key=value,..."); reads the key files. */
export function parseTokenOption(
  text: string,
  readFile: (p: string) => string = (p) => readFileSync(p, "utf8"),
): TokenConfig {
  const [type, ...rest] = text.split(",");
  const opts = new Map<string, string>();
  for (const pair of rest) {
    const kv = pair.split("=");
    if (kv.length !== 2 || opts.has(kv[0])) {
      throw new AuthTokenOptionError(`invalid --auth-token option ${JSON.stringify(pair)}`);
    }
    opts.set(kv[0], kv[1]);
  }
  if (type === "simple" || type === "") {
    if (opts.size > 0) throw new AuthTokenOptionError("--auth-token simple takes no options");
    return { type: "simple" };
  }
  if (type !== "jwt") throw new AuthTokenOptionError(`unknown --auth-token type ${type}`);
  const signMethod = opts.get("sign-method");
  if (signMethod === undefined) throw new AuthTokenOptionError("jwt: sign-method is required");
  const priv = opts.get("priv-key");
  const pub = opts.get("pub-key");
  if (priv === undefined && pub === undefined) {
    throw new AuthTokenOptionError("jwt: pub-key and/or priv-key is required");
  }
  const read = (p: string, what: string) => {
    try {
      return readFile(p);
    } catch (err) {
      throw new AuthTokenOptionError(`--auth-token jwt: cannot read ${what} ${p}`, { cause: err });
    }
  };
  const cfg: TokenConfig = {
    type: "jwt",
    signMethod,
    privateKey: priv === undefined ? undefined : read(priv, "priv-key"),
    publicKey: pub === undefined ? undefined : read(pub, "pub-key"),
    ttlMs: opts.has("ttl") ? parseDuration(opts.get("ttl") as string) : 5 * 60_000,
  };
  createJwtProvider(cfg); // validates the keys and the method now, not at first use
  return cfg;
}

const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** etcd's simple token prefix: 16 random letters. */
export function simpleTokenPrefix(): string {
  let s = "";
  for (let i = 0; i < 16; i++) s += LETTERS[randomInt(LETTERS.length)];
  return s;
}

/** What the member's services and apply use; see the module comment. */
export class TokenManager {
  readonly #simple = new Map<string, { username: string; expiresAt: number }>();
  readonly #jwt: JwtProvider | undefined;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(config: TokenConfig, simpleTtlS: number, now: () => number = Date.now) {
    this.#jwt = config.type === "jwt" ? createJwtProvider(config) : undefined;
    this.#ttlMs = Math.max(1, simpleTtlS) * 1000;
    this.#now = now;
  }

  get type(): "simple" | "jwt" {
    return this.#jwt ? "jwt" : "simple";
  }

  /** Registers a simple token (every member, at the apply of Authenticate). */
  registerSimple(token: string, username: string): void {
    this.#sweep();
    this.#simple.set(token, { username, expiresAt: this.#now() + this.#ttlMs });
  }

  /** Signs a JWT for `username` at auth revision `revision`. */
  signJwt(username: string, revision: bigint): string {
    if (!this.#jwt) throw new Error("not a jwt token manager");
    return this.#jwt.sign(username, revision);
  }

  /**
   * The user and auth revision of `token`, or undefined if it is not valid. A simple token
   * is valid at the current revision (`revision`) and its expiry is pushed out.
   */
  info(token: string, revision: bigint): AuthInfo | undefined {
    if (this.#jwt) return this.#jwt.verify(token);
    const t = this.#simple.get(token);
    if (t === undefined) return undefined;
    const now = this.#now();
    if (t.expiresAt <= now) {
      this.#simple.delete(token);
      return undefined;
    }
    t.expiresAt = now + this.#ttlMs;
    return { username: t.username, revision };
  }

  /** The raft index a simple token was issued at (its suffix), or undefined. */
  static simpleTokenIndex(token: string): bigint | undefined {
    const dot = token.lastIndexOf(".");
    const s = token.slice(dot + 1);
    if (dot < 0 || !/^\d{1,19}$/.test(s)) return undefined;
    return BigInt(s);
  }

  /** Drops every simple token of `username` (password change, user deleted). */
  invalidateUser(username: string): void {
    for (const [k, v] of this.#simple) if (v.username === username) this.#simple.delete(k);
  }

  /** Drops every simple token (auth disabled). */
  clear(): void {
    this.#simple.clear();
  }

  /** Number of live simple tokens (tests, metrics). */
  get size(): number {
    return this.#simple.size;
  }

  #sweep(): void {
    const now = this.#now();
    for (const [k, v] of this.#simple) if (v.expiresAt <= now) this.#simple.delete(k);
  }
}
