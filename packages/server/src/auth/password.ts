/**
 * Password hashing: scrypt (node:crypto, on libuv's thread pool, so the event loop keeps
 * serving) with a random 16-byte salt, instead of etcd's bcrypt (no bcrypt in node:crypto;
 * scrypt is as slow by design and memory-hard). The hash is computed by the member that
 * receives UserAdd / UserChangePassword, before proposing, so the log never carries a
 * password and the apply never hashes (etcd 3.5 does the same with its hashedPassword).
 *
 * `--bcrypt-cost` keeps etcd's meaning "higher = slower": scrypt's N is 2^(cost+4),
 * capped at 2^20 (etcd's default cost 10 gives N = 16384, about 50 ms and 16 MiB).
 *
 * Format: "scrypt$<log2 N>$<r>$<p>$<salt base64>$<hash base64>".
 */
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

/** etcd's bcrypt cost range and default. */
export const MIN_COST = 4;
export const MAX_COST = 31;
export const DEFAULT_COST = 10;

const R = 8;
const P = 1;
const KEY_LEN = 32;

function scryptAsync(password: string, salt: Buffer, logN: number): Promise<Buffer> {
  const N = 2 ** logN;
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_LEN, { N, r: R, p: P, maxmem: 256 * N * R }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** scrypt's log2(N) for an etcd bcrypt cost (out-of-range costs use the default, as etcd). */
export function logNForCost(cost: number): number {
  const c = Number.isInteger(cost) && cost >= MIN_COST && cost <= MAX_COST ? cost : DEFAULT_COST;
  return Math.min(c + 4, 20);
}

/** Hashes `password` (see the module comment). */
export async function hashPassword(password: string, cost: number): Promise<string> {
  const logN = logNForCost(cost);
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, logN);
  return `scrypt$${logN}$${R}$${P}$${salt.toString("base64")}$${key.toString("base64")}`;
}

/** Whether `password` matches `hash` (false for a malformed or empty hash). */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const parts = hash.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const logN = Number(parts[1]);
  if (!Number.isInteger(logN) || logN < 1 || logN > 20) return false;
  if (Number(parts[2]) !== R || Number(parts[3]) !== P) return false;
  const salt = Buffer.from(parts[4], "base64");
  const want = Buffer.from(parts[5], "base64");
  if (want.length !== KEY_LEN) return false;
  const got = await scryptAsync(password, salt, logN);
  return timingSafeEqual(got, want);
}
