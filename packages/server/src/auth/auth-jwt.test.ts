/**
 * JWT tokens on a one-member cluster, and etcd's "revision of auth store is old": a token
 * (or a request) checked at an older auth revision than the one at apply is refused.
 */
import { generateKeyPairSync } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster } from "../__tests__/cluster.js";
import { Clients, outcome } from "./__tests__/grpc.js";
import { runAs } from "./member-auth.js";

const b = (s: string) => Buffer.from(s);
const OLD = "3 etcdserver: revision of auth store is old";

let c: TestCluster;
let cl: Clients;
let keyDir: string;

beforeAll(async () => {
  keyDir = fs.mkdtempSync(path.join(os.tmpdir(), "chainfire-jwt-"));
  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const priv = path.join(keyDir, "priv.pem");
  const pub = path.join(keyDir, "pub.pem");
  fs.writeFileSync(priv, ec.privateKey.export({ type: "pkcs8", format: "pem" }));
  fs.writeFileSync(pub, ec.publicKey.export({ type: "spki", format: "pem" }));
  c = await TestCluster.start({
    size: 1,
    member: {
      bcryptCost: 4,
      authToken: `jwt,pub-key=${pub},priv-key=${priv},sign-method=ES256,ttl=5m`,
    },
  });
  await c.member(0).ready;
  cl = new Clients(c.slots[0].clientUrl);
  await cl.call("Auth", "userAdd", { name: "root", password: "rootpw" });
  await cl.call("Auth", "userGrantRole", { user: "root", role: "root" });
  await cl.call("Auth", "roleAdd", { name: "app" });
  await cl.call("Auth", "roleGrantPermission", {
    name: "app",
    perm: { permType: 2, key: b("a/"), rangeEnd: b("a0") },
  });
  await cl.call("Auth", "userAdd", { name: "alice", password: "alicepw" });
  await cl.call("Auth", "userGrantRole", { user: "alice", role: "app" });
  await cl.call("Auth", "authEnable", {});
}, 60_000);

afterAll(async () => {
  cl?.close();
  await c?.close();
  fs.rmSync(keyDir, { recursive: true, force: true });
});

describe("JWT tokens", () => {
  it("are JWTs with the user and auth revision; an auth change makes them old", async () => {
    const { token } = await cl.call<{ token: string }>("Auth", "authenticate", {
      name: "alice",
      password: "alicepw",
    });
    const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
    const rev = c.member(0).auth.store.revision;
    expect(claims).toMatchObject({ username: "alice", revision: Number(rev) });
    expect(await outcome(cl.call("KV", "put", { key: b("a/1"), value: b("v") }, token))).toBe("OK");
    const { token: rootToken } = await cl.call<{ token: string }>("Auth", "authenticate", {
      name: "root",
      password: "rootpw",
    });
    await cl.call("Auth", "roleAdd", { name: "other" }, rootToken);
    expect(await outcome(cl.call("KV", "put", { key: b("a/1"), value: b("v") }, token))).toBe(OLD);
    expect(await outcome(cl.call("KV", "range", { key: b("a/1") }, token))).toBe(OLD);
    const tampered = `${token.slice(0, -4)}AAAA`;
    expect(await outcome(cl.call("KV", "range", { key: b("a/1") }, tampered))).toBe(
      "16 etcdserver: invalid auth token",
    );
  });

  it("the apply refuses a request recorded at an older auth revision", async () => {
    const m = c.member(0);
    const current = m.auth.store.revision;
    const put = (revision: bigint) =>
      runAs({ username: "alice", revision }, () =>
        m.propose({
          $case: "put",
          value: {
            key: b("a/2"),
            value: b("v"),
            lease: 0n,
            prevKv: false,
            ignoreValue: false,
            ignoreLease: false,
          },
        }),
      );
    await expect(put(current - 1n)).rejects.toThrow("etcdserver: revision of auth store is old");
    await expect(put(current)).resolves.toMatchObject({ header: { revision: expect.any(BigInt) } });
    // No user recorded while auth is on: etcd's "user name is empty".
    await expect(
      m.propose({ $case: "deleteRange", value: { key: b("a/2"), rangeEnd: b(""), prevKv: false } }),
    ).rejects.toThrow("etcdserver: user name is empty");
  });
});
