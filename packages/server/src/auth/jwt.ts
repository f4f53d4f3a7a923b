/**
 * JWT tokens with node:crypto (no dependency): compact JWS, claims
 * `{ username, revision, exp }` as etcd's jwt token provider writes them. Methods:
 * RS256/384/512, PS256/384/512, ES256/384/512, EdDSA (key pairs in PEM files) and
 * HS256/384/512 (the priv-key file's content is the secret). With only a public key the
 * member verifies tokens but cannot issue them (Authenticate fails).
 */
import {
  constants,
  createHmac,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  sign,
  timingSafeEqual,
  verify,
} from "node:crypto";
import type { AuthInfo } from "./permissions.js";
import { AuthTokenOptionError, type TokenConfig } from "./token-config.js";

export interface JwtProvider {
  sign(username: string, revision: bigint): string;
  /** The claims of a valid, unexpired token; undefined otherwise. */
  verify(token: string): AuthInfo | undefined;
}

const b64url = (b: Buffer) => b.toString("base64url");

interface Alg {
  hash: string;
  kind: "rsa" | "pss" | "ec" | "ed" | "hmac";
}

function algOf(method: string): Alg {
  const m = /^(RS|PS|ES|HS)(256|384|512)$/.exec(method);
  if (m) {
    const kind = { RS: "rsa", PS: "pss", ES: "ec", HS: "hmac" }[m[1]] as Alg["kind"];
    return { hash: `sha${m[2]}`, kind };
  }
  if (method === "EdDSA") return { hash: "", kind: "ed" };
  throw new AuthTokenOptionError(`jwt: unsupported sign-method ${method}`);
}

/** Creates the provider for a jwt {@link TokenConfig}; throws AuthTokenOptionError on bad keys. */
export function createJwtProvider(
  cfg: Extract<TokenConfig, { type: "jwt" }>,
  now: () => number = Date.now,
): JwtProvider {
  const alg = algOf(cfg.signMethod);
  let priv: KeyObject | Buffer | undefined;
  let pub: KeyObject | Buffer | undefined;
  try {
    if (alg.kind === "hmac") {
      const secret = cfg.privateKey ?? cfg.publicKey;
      priv = pub = Buffer.from(secret ?? "");
      if (priv.length === 0) throw new Error("empty secret");
    } else {
      if (cfg.privateKey !== undefined) priv = createPrivateKey(cfg.privateKey);
      pub =
        cfg.publicKey !== undefined
          ? createPublicKey(cfg.publicKey)
          : createPublicKey(priv as KeyObject);
    }
  } catch (err) {
    throw new AuthTokenOptionError(`jwt: cannot load the keys: ${(err as Error).message}`);
  }
  const header = b64url(Buffer.from(JSON.stringify({ alg: cfg.signMethod, typ: "JWT" })));
  const opts = (key: KeyObject) => ({
    key,
    ...(alg.kind === "pss"
      ? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
      : {}),
    ...(alg.kind === "ec" ? { dsaEncoding: "ieee-p1363" as const } : {}),
  });
  const signBytes = (data: Buffer): Buffer => {
    if (priv === undefined) throw new AuthTokenOptionError("jwt: no private key (verify only)");
    if (alg.kind === "hmac")
      return createHmac(alg.hash, priv as Buffer)
        .update(data)
        .digest();
    return sign(alg.kind === "ed" ? null : alg.hash, data, opts(priv as KeyObject));
  };
  const checkBytes = (data: Buffer, sig: Buffer): boolean => {
    if (alg.kind === "hmac") {
      const want = createHmac(alg.hash, pub as Buffer)
        .update(data)
        .digest();
      return want.length === sig.length && timingSafeEqual(want, sig);
    }
    return verify(alg.kind === "ed" ? null : alg.hash, data, opts(pub as KeyObject), sig);
  };
  if (priv !== undefined && alg.kind !== "hmac") {
    const probe = Buffer.from("chainfire");
    if (!checkBytes(probe, signBytes(probe))) {
      throw new AuthTokenOptionError("jwt: public and private keys don't match");
    }
  }
  return {
    sign(username, revision) {
      const claims = {
        username,
        revision: Number(revision),
        exp: Math.floor((now() + cfg.ttlMs) / 1000),
      };
      const body = `${header}.${b64url(Buffer.from(JSON.stringify(claims)))}`;
      return `${body}.${b64url(signBytes(Buffer.from(body)))}`;
    },
    verify(token) {
      const parts = token.split(".");
      if (parts.length !== 3) return undefined;
      try {
        const h = JSON.parse(Buffer.from(parts[0], "base64url").toString()) as { alg?: string };
        if (h.alg !== cfg.signMethod) return undefined;
        const data = Buffer.from(`${parts[0]}.${parts[1]}`);
        if (!checkBytes(data, Buffer.from(parts[2], "base64url"))) return undefined;
        const c = JSON.parse(Buffer.from(parts[1], "base64url").toString()) as {
          username?: unknown;
          revision?: unknown;
          exp?: unknown;
        };
        if (typeof c.username !== "string" || typeof c.revision !== "number") return undefined;
        if (typeof c.exp === "number" && c.exp * 1000 <= now()) return undefined;
        if (!Number.isSafeInteger(c.revision) || c.revision < 0) return undefined;
        return { username: c.username, revision: BigInt(c.revision) };
      } catch {
        return undefined;
      }
    },
  };
}
