/**
 * Unit tests of the auth pieces: the store's etcd rules and revision bumps, permission
 * coverage (against a brute-force reference), passwords, simple tokens and JWTs.
 */
import { generateKeyPairSync } from "node:crypto";
import { authpb, EtcdError } from "@chainfire/api";
import type { WriteBatch } from "@chainfire/storage";
import { describe, expect, it } from "vitest";
import { AuthStore, ROOT_PERMISSION } from "./auth-store.js";
import { createJwtProvider } from "./jwt.js";
import { MemberAuth } from "./member-auth.js";
import { hashPassword, logNForCost, verifyPassword } from "./password.js";
import { checkAdmin, checkRange, checkTxn, covers, intervalOf, txnWrites } from "./permissions.js";
import { parseDuration, parseTokenOption, TokenManager } from "./tokens.js";

function fakeBatch(): WriteBatch & { ops: string[] } {
  const ops: string[] = [];
  return {
    ops,
    put: (cf: string, k: Buffer) => ops.push(`put ${cf} ${k.toString()}`),
    del: (cf: string, k: Buffer) => ops.push(`del ${cf} ${k.toString()}`),
  } as unknown as WriteBatch & { ops: string[] };
}

function etcdMessage(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (err instanceof EtcdError) return err.message;
    throw err;
  }
}

const RW = authpb.Permission_Type.READWRITE;
const R = authpb.Permission_Type.READ;
const W = authpb.Permission_Type.WRITE;
const b = (s: string) => Buffer.from(s);

describe("AuthStore: etcd's rules", () => {
  it("enable needs root with the root role; root and its role are protected while on", () => {
    const s = new AuthStore();
    const batch = fakeBatch();
    expect(s.revision).toBe(1n);
    expect(etcdMessage(() => s.enable(batch))).toBe("etcdserver: root user does not exist");
    s.addUser(batch, "root", "h", false);
    expect(etcdMessage(() => s.enable(batch))).toBe(
      "etcdserver: root user does not have root role",
    );
    s.grantRole(batch, "root", "root"); // the root role need not exist as a role
    const rev = s.revision;
    s.enable(batch);
    expect(s.enabled).toBe(true);
    expect(s.revision).toBe(rev); // enable does not bump (etcd)
    expect(etcdMessage(() => s.revokeRole(batch, "root", "root"))).toBe(
      "etcdserver: invalid auth management",
    );
    expect(etcdMessage(() => s.deleteUser(batch, "root"))).toBe(
      "etcdserver: invalid auth management",
    );
    expect(etcdMessage(() => s.deleteRole(batch, "root"))).toBe(
      "etcdserver: invalid auth management",
    );
    s.disable(batch);
    expect(s.enabled).toBe(false);
    expect(s.revision).toBe(rev + 1n);
    s.disable(batch); // no-op
    expect(s.revision).toBe(rev + 1n);
    expect(batch.ops).toContain("put meta auth/enabled");
  });

  it("users and roles: errors and revision bumps", () => {
    const s = new AuthStore();
    const batch = fakeBatch();
    expect(etcdMessage(() => s.addUser(batch, "", "h", false))).toBe(
      "etcdserver: user name is empty",
    );
    s.addUser(batch, "u", "h", false);
    expect(etcdMessage(() => s.addUser(batch, "u", "h", false))).toBe(
      "etcdserver: user name already exists",
    );
    expect(etcdMessage(() => s.addRole(batch, ""))).toBe("etcdserver: role name is empty");
    s.addRole(batch, "r");
    expect(etcdMessage(() => s.addRole(batch, "r"))).toBe("etcdserver: role name already exists");
    expect(etcdMessage(() => s.grantRole(batch, "x", "r"))).toBe("etcdserver: user name not found");
    expect(etcdMessage(() => s.grantRole(batch, "u", "x"))).toBe("etcdserver: role name not found");
    s.grantRole(batch, "u", "r");
    const rev = s.revision;
    s.grantRole(batch, "u", "r"); // already granted: no-op, no bump
    expect(s.revision).toBe(rev);
    expect(etcdMessage(() => s.revokeRole(batch, "u", "zz"))).toBe(
      "etcdserver: role is not granted to the user",
    );
    expect(etcdMessage(() => s.grantPermission(batch, "r", undefined))).toBe(
      "etcdserver: permission not given",
    );
    s.grantPermission(batch, "r", { permType: R, key: b("b"), rangeEnd: b("c") });
    s.grantPermission(batch, "r", { permType: W, key: b("a"), rangeEnd: b("") });
    s.grantPermission(batch, "r", { permType: RW, key: b("b"), rangeEnd: b("c") }); // update
    expect(
      s.role("r")?.perms.map((p) => [p.key.toString(), p.rangeEnd.toString(), p.permType]),
    ).toEqual([
      ["a", "", W],
      ["b", "c", RW],
    ]);
    expect(etcdMessage(() => s.revokePermission(batch, "r", b("b"), b("d")))).toBe(
      "etcdserver: permission is not granted to the role",
    );
    s.revokePermission(batch, "r", b("b"), b("c"));
    s.deleteRole(batch, "r"); // also removed from the user
    expect(s.user("u")?.roles).toEqual([]);
    expect(s.revision).toBe(rev + 5n);
    s.addUser(batch, "np", "ignored", true);
    expect(s.user("np")).toMatchObject({ noPassword: true, password: "" });
    expect(s.userNames()).toEqual(["np", "u"]);
  });
});

describe("permissions", () => {
  it("covers: the union must hold the whole requested range (vs. a brute-force model)", () => {
    // Keys over the alphabet {a,b,c} of length <= 2; intervals drawn from a seeded PRNG.
    const seed = 20261122;
    console.log(`permissions coverage seed ${seed}`);
    let x = seed;
    const rnd = (n: number) => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return x % n;
    };
    const keys = ["", "a", "aa", "ab", "b", "ba", "bb", "c", "ca", "cc"];
    const pick = () => keys[rnd(keys.length)];
    const inIv = (k: string, s: string, e: string | undefined) =>
      Buffer.compare(b(k), b(s)) >= 0 && (e === undefined || Buffer.compare(b(k), b(e)) < 0);
    for (let trial = 0; trial < 500; trial++) {
      const perms = Array.from({ length: rnd(4) }, () => {
        const s = pick();
        const kind = rnd(3);
        const e = kind === 0 ? "" : kind === 1 ? "\0" : pick();
        return { s, e };
      });
      const ivs = perms.map((p) => intervalOf(b(p.s), b(p.e)));
      const qs = pick();
      const qe = rnd(2) === 0 ? "" : pick();
      const q = intervalOf(b(qs), b(qe));
      if (q.end !== undefined && Buffer.compare(Buffer.from(q.end), b(qs)) <= 0) continue;
      // Model: every probe key in the query (the keys list plus their "\0" extensions) is
      // in some permitted interval; open-ended queries also need an unbounded permission.
      const probes = [...keys, ...keys.map((k) => `${k}\0`)].filter((k) =>
        inIv(k, qs, q.end === undefined ? undefined : Buffer.from(q.end).toString()),
      );
      const allIn = probes.every((k) =>
        ivs.some((iv) =>
          inIv(k, Buffer.from(iv.start).toString(), iv.end && Buffer.from(iv.end).toString()),
        ),
      );
      const unbounded = q.end !== undefined || ivs.some((iv) => iv.end === undefined);
      const want = allIn && unbounded;
      expect(covers(ivs, b(qs), b(qe)), JSON.stringify({ perms, qs, qe })).toBe(want);
    }
  });

  it("checkRange / checkAdmin / checkTxn answer etcd's errors", () => {
    const s = new AuthStore();
    const batch = fakeBatch();
    s.addUser(batch, "root", "h", false);
    s.grantRole(batch, "root", "root");
    s.addUser(batch, "u", "h", false);
    s.addRole(batch, "r");
    s.grantRole(batch, "u", "r");
    s.grantPermission(batch, "r", { permType: R, key: b("a"), rangeEnd: b("b") });
    s.grantPermission(batch, "r", { permType: W, key: b("a/w"), rangeEnd: b("") });
    // Auth off: everything allowed.
    expect(etcdMessage(() => checkRange(s, undefined, b("z"), b(""), "write"))).toBeUndefined();
    s.enable(batch);
    const u = { username: "u", revision: s.revision };
    expect(etcdMessage(() => checkRange(s, undefined, b("a"), b(""), "read"))).toBe(
      "etcdserver: user name is empty",
    );
    expect(etcdMessage(() => checkRange(s, u, b("a"), b("b"), "read"))).toBeUndefined();
    expect(etcdMessage(() => checkRange(s, u, b("a"), b("c"), "read"))).toBe(
      "etcdserver: permission denied",
    );
    expect(etcdMessage(() => checkRange(s, u, b("a/w"), b(""), "write"))).toBeUndefined();
    expect(etcdMessage(() => checkRange(s, u, b("a/x"), b(""), "write"))).toBe(
      "etcdserver: permission denied",
    );
    expect(etcdMessage(() => checkRange(s, { ...u, revision: 1n }, b("a"), b(""), "read"))).toBe(
      "etcdserver: revision of auth store is old",
    );
    expect(etcdMessage(() => checkAdmin(s, u))).toBe("etcdserver: permission denied");
    expect(etcdMessage(() => checkAdmin(s, { username: "ghost", revision: 9n }))).toBe(
      "etcdserver: user name not found",
    );
    expect(etcdMessage(() => checkAdmin(s, { username: "root", revision: 1n }))).toBeUndefined();
    const txn = {
      compare: [],
      success: [
        {
          request: {
            $case: "requestTxn" as const,
            value: {
              compare: [],
              success: [
                {
                  request: {
                    $case: "requestPut" as const,
                    value: { key: b("a/x"), prevKv: false } as never,
                  },
                },
              ],
              failure: [],
            },
          },
        },
      ],
      failure: [],
    };
    expect(txnWrites(txn)).toBe(true);
    expect(etcdMessage(() => checkTxn(s, u, txn))).toBe("etcdserver: permission denied");
    expect(s.role("r")?.perms.length).toBe(2);
    expect(ROOT_PERMISSION.rangeEnd).toEqual(b("\0"));
  });
});

describe("passwords and tokens", () => {
  it("scrypt hashes verify; a wrong password or a broken hash does not", async () => {
    expect(logNForCost(10)).toBe(14);
    expect(logNForCost(99)).toBe(14); // out of range: etcd's default cost
    const h = await hashPassword("s3cret", 4);
    expect(h).toMatch(/^scrypt\$8\$8\$1\$/);
    expect(await verifyPassword("s3cret", h)).toBe(true);
    expect(await verifyPassword("s3cret!", h)).toBe(false);
    expect(await verifyPassword("s3cret", "")).toBe(false);
    expect(await verifyPassword("s3cret", h.replace("$8$8$", "$99$8$"))).toBe(false);
    expect(await hashPassword("s3cret", 4)).not.toBe(h); // random salt
  });

  it("simple tokens expire after the TTL since their last use", () => {
    let now = 1_000;
    const t = new TokenManager({ type: "simple" }, 10, () => now);
    t.registerSimple("abc.5", "u");
    expect(TokenManager.simpleTokenIndex("abc.5")).toBe(5n);
    expect(TokenManager.simpleTokenIndex("abc")).toBeUndefined();
    now += 9_000;
    expect(t.info("abc.5", 3n)).toEqual({ username: "u", revision: 3n });
    now += 9_000; // 18 s after issue, 9 s after last use
    expect(t.info("abc.5", 3n)).toBeDefined();
    now += 10_001;
    expect(t.info("abc.5", 3n)).toBeUndefined();
    t.registerSimple("d.6", "u");
    t.registerSimple("e.7", "v");
    t.invalidateUser("u");
    expect(t.info("d.6", 1n)).toBeUndefined();
    expect(t.info("e.7", 1n)).toBeDefined();
  });

  it("JWT: RS256, ES256, PS256, HS256 sign and verify; tampering, expiry and wrong keys fail", () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const pem = (k: { export(o: object): string | Buffer }, type: string) =>
      k.export({ type, format: "pem" }).toString();
    let now = 1_700_000_000_000;
    const cases = [
      { m: "RS256", priv: pem(rsa.privateKey, "pkcs8"), pub: pem(rsa.publicKey, "spki") },
      { m: "PS256", priv: pem(rsa.privateKey, "pkcs8"), pub: pem(rsa.publicKey, "spki") },
      { m: "ES256", priv: pem(ec.privateKey, "pkcs8"), pub: pem(ec.publicKey, "spki") },
      { m: "HS256", priv: "a-shared-secret", pub: undefined },
    ];
    for (const c of cases) {
      const p = createJwtProvider(
        { type: "jwt", signMethod: c.m, privateKey: c.priv, publicKey: c.pub, ttlMs: 60_000 },
        () => now,
      );
      const tok = p.sign("alice", 7n);
      expect(p.verify(tok), c.m).toEqual({ username: "alice", revision: 7n });
      const [h, body, sig] = tok.split(".");
      const forged = Buffer.from(
        JSON.stringify({ username: "root", revision: 7, exp: 9e9 }),
      ).toString("base64url");
      expect(p.verify(`${h}.${forged}.${sig}`), c.m).toBeUndefined();
      expect(p.verify(`${h}.${body}`), c.m).toBeUndefined();
      now += 61_000;
      expect(p.verify(tok), `${c.m} expired`).toBeUndefined();
    }
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 });
    expect(() =>
      createJwtProvider({
        type: "jwt",
        signMethod: "RS256",
        privateKey: pem(rsa.privateKey, "pkcs8"),
        publicKey: pem(other.publicKey, "spki"),
        ttlMs: 1000,
      }),
    ).toThrow(/don't match/);
  });

  it("--auth-token parsing", () => {
    expect(parseTokenOption("simple")).toEqual({ type: "simple" });
    expect(() => parseTokenOption("opaque")).toThrow(/unknown --auth-token type/);
    expect(() => parseTokenOption("jwt,sign-method=RS256")).toThrow(/pub-key/);
    expect(() => parseTokenOption("jwt,ttl")).toThrow(/invalid --auth-token option/);
    const cfg = parseTokenOption("jwt,priv-key=k,sign-method=HS512,ttl=1m30s", () => "secret");
    expect(cfg).toMatchObject({ type: "jwt", signMethod: "HS512", ttlMs: 90_000 });
    expect(parseDuration("500ms")).toBe(500);
    expect(() => parseDuration("5 minutes")).toThrow(/invalid duration/);
  });
});

describe("MemberAuth: who sent a call", () => {
  function setup(cn?: string) {
    const store = new AuthStore();
    const batch = fakeBatch();
    store.addUser(batch, "root", "h", false);
    store.grantRole(batch, "root", "root");
    store.addUser(batch, "alice", "h", false);
    store.enable(batch);
    const tokens = new TokenManager({ type: "simple" }, 300);
    let applied = 10n;
    const listeners = new Set<(e: { index: bigint }) => void>();
    const auth = new MemberAuth({
      store: () => store,
      tokens,
      bcryptCost: 4,
      appliedIndex: () => applied,
      onApplied: (l) => {
        listeners.add(l);
        return { dispose: () => listeners.delete(l) };
      },
      waitTimeoutMs: 10_000,
      certificateCommonName: cn === undefined ? undefined : () => cn,
    });
    const apply = (index: bigint) => {
      applied = index;
      for (const l of [...listeners]) l({ index });
    };
    return { store, tokens, auth, apply, listeners };
  }
  const call = (token?: string) => ({
    metadata: { get: (k: string) => (k === "token" && token !== undefined ? [token] : []) },
  });

  it("a token wins over the certificate; the certificate's CN is the user without one", async () => {
    const { auth, tokens, store } = setup("alice");
    expect(await auth.authInfo(call())).toEqual({ username: "alice", revision: store.revision });
    tokens.registerSimple("t.3", "root");
    expect(await auth.authInfo(call("t.3"))).toEqual({
      username: "root",
      revision: store.revision,
    });
    await expect(auth.authInfo(call("zz.3"))).rejects.toThrow("etcdserver: invalid auth token");
    expect(() => auth.authInfoNow(call("zz.3"))).toThrow("etcdserver: invalid auth token");
    const none = setup();
    expect(await none.auth.authInfo(call())).toBeUndefined();
  });

  it("waits for a simple token's Authenticate entry to be applied here", async () => {
    const { auth, tokens, apply, listeners } = setup();
    const pending = auth.authInfo(call("abc.12"));
    await Promise.resolve();
    expect(listeners.size).toBe(1); // waiting: index 12 > applied 10
    tokens.registerSimple("abc.12", "alice"); // what applying entry 12 does
    apply(12n);
    expect(await pending).toMatchObject({ username: "alice" });
    expect(listeners.size).toBe(0);
  });
});
