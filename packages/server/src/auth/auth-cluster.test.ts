/**
 * Auth on a real in-process 3-member cluster: every RPC x (no token, wrong token,
 * insufficient role, right role) answers etcd's code and message; simple tokens work on
 * every member; auth state survives a restart and reaches a member by snapshot.
 */
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil, TestCluster } from "../__tests__/cluster.js";
import { closeStorage, dbDirOf, openStorage } from "../bootstrap.js";
import { restoreSnapshot } from "../cli/snapshot-restore.js";
import { silentLogger } from "../log.js";
import { Clients, outcome } from "./__tests__/grpc.js";

const b = (s: string) => Buffer.from(s);
const EMPTY = "3 etcdserver: user name is empty";
const BAD_TOKEN = "16 etcdserver: invalid auth token";
const DENIED = "7 etcdserver: permission denied";
const PASSES_AUTH = "passes auth";
// etcd 3.4's Defragment, Hash, HashKV and Snapshot: the auth package's errors, untranslated.
const RAW = [
  "2 auth: user name is empty",
  "2 auth: invalid auth token",
  "2 auth: permission denied",
];

let c: TestCluster;
const clients: Clients[] = [];
let root = "";
let alice = "";
let bob = "";

async function authenticate(cl: Clients, name: string, password: string): Promise<string> {
  const r = await cl.call<{ token: string }>("Auth", "authenticate", { name, password });
  return r.token;
}

beforeAll(async () => {
  c = await TestCluster.start({
    snapshotCount: 20,
    catchUpEntries: 5,
    member: { bcryptCost: 4 },
  });
  await c.waitLeader(30_000);
  for (let i = 0; i < 3; i++) {
    await c.member(i).ready;
    clients.push(new Clients(c.slots[i].clientUrl));
  }
  const a = clients[0];
  await a.call("Auth", "userAdd", { name: "root", password: "rootpw" });
  await a.call("Auth", "userGrantRole", { user: "root", role: "root" });
  await a.call("Auth", "roleAdd", { name: "app" });
  // etcdctl role grant-permission --prefix app readwrite a/
  await a.call("Auth", "roleGrantPermission", {
    name: "app",
    perm: { permType: 2, key: b("a/"), rangeEnd: b("a0") },
  });
  await a.call("Auth", "userAdd", { name: "alice", password: "alicepw" });
  await a.call("Auth", "userGrantRole", { user: "alice", role: "app" });
  await a.call("Auth", "userAdd", { name: "bob", password: "bobpw" });
  await a.call("Auth", "userAdd", { name: "robot", password: "", options: { noPassword: true } });
  await a.call("Auth", "authEnable", {});
  root = await authenticate(a, "root", "rootpw");
  alice = await authenticate(a, "alice", "alicepw");
  bob = await authenticate(a, "bob", "bobpw");
}, 120_000);

afterAll(async () => {
  for (const cl of clients) cl.close();
  await c?.close();
});

describe("auth on a cluster", () => {
  it("answers every RPC x identity as etcd does", async () => {
    const cl = clients[1];
    let n = 0;
    const id = () => `${++n}`;
    const who: Array<[string, string | undefined]> = [
      ["none", undefined],
      ["wrong", "not-a-token.1"],
      ["bob", bob],
      ["right", undefined], // filled per row: alice for keys, root for admin calls
    ];
    type Row = [string, (t: string | undefined) => Promise<unknown>, string[], "alice" | "root"];
    const leaseFor = async (t: string) => {
      const g = await cl.call<{ ID: bigint }>("Lease", "leaseGrant", { TTL: 60n }, alice);
      await cl.call("KV", "put", { key: b(`a/l${id()}`), value: b("v"), lease: g.ID }, alice);
      return { ID: g.ID, t };
    };
    const rows: Row[] = [
      [
        "KV.Range",
        (t) => cl.call("KV", "range", { key: b("a/x") }, t),
        [EMPTY, BAD_TOKEN, DENIED],
        "alice",
      ],
      [
        "KV.Range prefix beyond a/",
        (t) => cl.call("KV", "range", { key: b("a/"), rangeEnd: b("b") }, t),
        [EMPTY, BAD_TOKEN, DENIED, DENIED],
        "alice",
      ],
      [
        "KV.Put",
        (t) => cl.call("KV", "put", { key: b("a/x"), value: b("1") }, t),
        [EMPTY, BAD_TOKEN, DENIED],
        "alice",
      ],
      [
        "KV.DeleteRange",
        (t) => cl.call("KV", "deleteRange", { key: b("a/y") }, t),
        [EMPTY, BAD_TOKEN, DENIED],
        "alice",
      ],
      [
        "KV.Txn (nested write)",
        (t) =>
          cl.call(
            "KV",
            "txn",
            {
              compare: [{ key: b("a/x"), target: 0, result: 0, version: 0n }],
              success: [
                {
                  request: {
                    $case: "requestTxn",
                    value: {
                      success: [
                        {
                          request: { $case: "requestPut", value: { key: b("a/t"), value: b("1") } },
                        },
                      ],
                    },
                  },
                },
              ],
            },
            t,
          ),
        [EMPTY, BAD_TOKEN, DENIED],
        "alice",
      ],
      [
        "KV.Compact (any user)",
        async (t) => {
          const p = await cl.call<{ header: { revision: bigint } }>(
            "KV",
            "put",
            { key: b(`a/c${id()}`), value: b("v") },
            alice,
          );
          return cl.call("KV", "compact", { revision: p.header.revision }, t);
        },
        [EMPTY, BAD_TOKEN, "OK"],
        "alice",
      ],
      [
        "Lease.LeaseGrant (open)",
        (t) => cl.call("Lease", "leaseGrant", { TTL: 60n }, t),
        ["OK", BAD_TOKEN, "OK"],
        "alice",
      ],
      [
        "Lease.LeaseRevoke (write on attached keys)",
        async (t) => {
          const l = await leaseFor(alice);
          return cl.call("Lease", "leaseRevoke", { ID: l.ID }, t);
        },
        [EMPTY, BAD_TOKEN, DENIED],
        "alice",
      ],
      [
        "Maintenance.Status (open)",
        (t) => cl.call("Maintenance", "status", {}, t),
        ["OK", "OK", "OK"],
        "root",
      ],
      [
        "Maintenance.HashKV (root)",
        (t) => cl.call("Maintenance", "hashKv", { revision: 0n }, t),
        RAW,
        "root",
      ],
      [
        "Cluster.MemberList (open)",
        (t) => cl.call("Cluster", "memberList", {}, t),
        ["OK", "OK", "OK"],
        "root",
      ],
      [
        "Cluster.MemberUpdate (root)",
        (t) =>
          cl.call(
            "Cluster",
            "memberUpdate",
            { ID: c.member(2).id, peerURLs: [c.slots[2].peerUrl] },
            t,
          ),
        [EMPTY, BAD_TOKEN, DENIED],
        "root",
      ],
      [
        "Auth.AuthStatus (root)",
        (t) => cl.call("Auth", "authStatus", {}, t),
        [EMPTY, BAD_TOKEN, DENIED],
        "root",
      ],
      [
        "Auth.UserList (root)",
        (t) => cl.call("Auth", "userList", {}, t),
        [EMPTY, BAD_TOKEN, DENIED],
        "root",
      ],
      [
        "Auth.UserGet self",
        (t) => cl.call("Auth", "userGet", { name: "alice" }, t),
        [EMPTY, BAD_TOKEN, DENIED],
        "alice",
      ],
      [
        "Auth.RoleGet own role",
        (t) => cl.call("Auth", "roleGet", { role: "app" }, t),
        [EMPTY, BAD_TOKEN, DENIED],
        "alice",
      ],
      [
        "Auth.RoleAdd (root)",
        (t) => cl.call("Auth", "roleAdd", { name: `r${id()}` }, t),
        [EMPTY, BAD_TOKEN, DENIED],
        "root",
      ],
    ];
    const ADMIN = [EMPTY, BAD_TOKEN, DENIED, PASSES_AUTH];
    const OPEN = ["OK", "OK", "OK"];
    const ghost = { name: "ghost", role: "app", user: "ghost", password: "x" };
    rows.push(
      [
        "Lease.LeaseTimeToLive (open)",
        (t) => cl.call("Lease", "leaseTimeToLive", { ID: 1n }, t),
        OPEN,
        "alice",
      ],
      ["Lease.LeaseLeases (open)", (t) => cl.call("Lease", "leaseLeases", {}, t), OPEN, "alice"],
      ["Maintenance.Alarm (open)", (t) => cl.call("Maintenance", "alarm", {}, t), OPEN, "root"],
      [
        "Maintenance.MoveLeader",
        (t) => cl.call("Maintenance", "moveLeader", { targetID: 0x99n }, t),
        ADMIN,
        "root",
      ],
      [
        "Maintenance.Defragment",
        (t) => cl.call("Maintenance", "defragment", {}, t),
        [...RAW, PASSES_AUTH],
        "root",
      ],
      [
        "Maintenance.Hash",
        (t) => cl.call("Maintenance", "hash", {}, t),
        [...RAW, PASSES_AUTH],
        "root",
      ],
      [
        "Cluster.MemberAdd",
        (t) => cl.call("Cluster", "memberAdd", { peerURLs: ["bad"] }, t),
        ADMIN,
        "root",
      ],
      [
        "Cluster.MemberRemove",
        (t) => cl.call("Cluster", "memberRemove", { ID: 0x99n }, t),
        ADMIN,
        "root",
      ],
      [
        "Cluster.MemberPromote",
        (t) => cl.call("Cluster", "memberPromote", { ID: 0x99n }, t),
        ADMIN,
        "root",
      ],
      [
        "Auth.Authenticate (open)",
        (t) => cl.call("Auth", "authenticate", { name: "bob", password: "bobpw" }, t),
        OPEN,
        "root",
      ],
      [
        "Auth.AuthEnable",
        (t) => cl.call("Auth", "authEnable", {}, t),
        [EMPTY, BAD_TOKEN, DENIED],
        "root",
      ],
      [
        "Auth.UserAdd",
        (t) => cl.call("Auth", "userAdd", { name: `u${id()}`, password: "p" }, t),
        [EMPTY, BAD_TOKEN, DENIED],
        "root",
      ],
      [
        "Auth.UserGet other user",
        (t) => cl.call("Auth", "userGet", { name: "root" }, t),
        [EMPTY, BAD_TOKEN, DENIED],
        "root",
      ],
      ["Auth.UserDelete", (t) => cl.call("Auth", "userDelete", ghost, t), ADMIN, "root"],
      [
        "Auth.UserChangePassword",
        (t) => cl.call("Auth", "userChangePassword", ghost, t),
        ADMIN,
        "root",
      ],
      ["Auth.UserGrantRole", (t) => cl.call("Auth", "userGrantRole", ghost, t), ADMIN, "root"],
      ["Auth.UserRevokeRole", (t) => cl.call("Auth", "userRevokeRole", ghost, t), ADMIN, "root"],
      [
        "Auth.RoleGet other role",
        (t) => cl.call("Auth", "roleGet", { role: "root" }, t),
        [EMPTY, BAD_TOKEN, DENIED, DENIED],
        "alice",
      ],
      [
        "Auth.RoleList",
        (t) => cl.call("Auth", "roleList", {}, t),
        [EMPTY, BAD_TOKEN, DENIED],
        "root",
      ],
      [
        "Auth.RoleDelete",
        (t) => cl.call("Auth", "roleDelete", { role: "ghost" }, t),
        ADMIN,
        "root",
      ],
      [
        "Auth.RoleGrantPermission",
        (t) => cl.call("Auth", "roleGrantPermission", { name: "ghost" }, t),
        ADMIN,
        "root",
      ],
      [
        "Auth.RoleRevokePermission",
        (t) => cl.call("Auth", "roleRevokePermission", { role: "ghost", key: b("k") }, t),
        ADMIN,
        "root",
      ],
    );
    const table: string[] = [];
    for (const [name, fn, expected, right] of rows) {
      for (let i = 0; i < who.length; i++) {
        const token = i === 3 ? (right === "root" ? root : alice) : who[i][1];
        const want = i === 3 ? (expected[3] ?? "OK") : expected[i];
        const got = await outcome(fn(token));
        // "passes auth": the call got past authorization (it may still fail on its own).
        const pass =
          want === PASSES_AUTH ? ![EMPTY, BAD_TOKEN, DENIED, ...RAW].includes(got) : got === want;
        table.push(
          `${name} as ${i === 3 ? right : who[i][0]}: ${pass ? "ok" : `got ${got}, want ${want}`}`,
        );
      }
    }
    expect(table.filter((l) => !l.endsWith(": ok"))).toEqual([]);

    // Maintenance.Snapshot (a server stream): root only.
    expect(await outcome(cl.snapshotFirst(bob))).toBe(RAW[2]);
    expect(await outcome(cl.snapshotFirst(undefined))).toBe(RAW[0]);
    expect(await outcome(cl.snapshotFirst(root))).toBe("OK");

    // Watch: a refused create is created + canceled with etcd's reason.
    const reason = "rpc error: code = PermissionDenied desc = etcdserver: permission denied";
    for (const t of [undefined, "not-a-token.1", bob]) {
      const r = await cl.watchCreate(b("a/"), b("a0"), t);
      expect(r).toMatchObject({ created: true, canceled: true, cancelReason: reason });
    }
    expect(await cl.watchCreate(b("a/"), b("a0"), alice)).toMatchObject({
      created: true,
      canceled: false,
    });
    expect((await cl.watchCreate(b("a/"), b("\0"), alice)).canceled).toBe(true); // from-key: beyond a/

    // Authenticate: wrong password, unknown user, no-password user.
    const failed = "3 etcdserver: authentication failed, invalid user ID or password";
    expect(await outcome(authenticate(cl, "alice", "nope"))).toBe(failed);
    expect(await outcome(authenticate(cl, "ghost", "x"))).toBe(failed);
    expect(await outcome(authenticate(cl, "robot", ""))).toBe(failed);
  }, 120_000);

  it("a simple token issued by one member works on every member; a password change revokes it", async () => {
    const t = await authenticate(clients[2], "alice", "alicepw");
    await clients[2].call("KV", "put", { key: b("a/every"), value: b("1") }, t);
    for (const cl of clients) {
      const r = await cl.call<{ kvs: unknown[] }>("KV", "range", { key: b("a/every") }, t);
      expect(r.kvs.length).toBe(1);
    }
    await clients[0].call(
      "Auth",
      "userChangePassword",
      { name: "alice", password: "alicepw2" },
      root,
    );
    for (const cl of clients) {
      // Every member applied the change before answering reads after a barrier.
      await pollUntil(
        async () =>
          (await outcome(cl.call("KV", "range", { key: b("a/every") }, t))) === BAD_TOKEN
            ? true
            : undefined,
        30_000,
        "the old token to be refused",
      );
    }
    alice = await authenticate(clients[0], "alice", "alicepw2");
  }, 60_000);

  it("auth state survives a restart and reaches a lagging member by snapshot", async () => {
    const li = await c.waitLeader(30_000);
    const down = (li + 1) % 3;
    const up = c.running().filter((i) => i !== down);
    clients[down].close();
    await c.stopMember(down);
    // Changes while it is down, then enough writes to compact the log past them.
    await clients[up[0]].call("Auth", "userAdd", { name: "carol", password: "carolpw" }, root);
    await clients[up[0]].call("Auth", "userGrantRole", { user: "carol", role: "app" }, root);
    for (let i = 0; i < 60; i++) {
      await clients[up[i % 2]].call("KV", "put", { key: b(`a/s${i}`), value: b("v") }, alice);
    }
    const leader = c.member(await c.waitLeader(30_000));
    expect(leader.firstLogIndex).toBeGreaterThan(10);
    const m = await c.startMember(down);
    await pollUntil(
      () => (m.appliedIndex() >= leader.appliedIndex() ? true : undefined),
      30_000,
      "the restarted member to catch up",
    );
    expect(m.snapshotsInstalled).toBeGreaterThanOrEqual(1);
    expect(m.auth.store.enabled).toBe(true);
    expect(m.auth.store.user("carol")?.roles).toEqual(["app"]);
    const cl = new Clients(c.slots[down].clientUrl);
    clients[down] = cl;
    const carol = await authenticate(cl, "carol", "carolpw");
    await cl.call("KV", "put", { key: b("a/carol"), value: b("1") }, carol);
    expect(await outcome(cl.call("KV", "put", { key: b("z"), value: b("1") }, carol))).toBe(DENIED);

    // A plain restart (no snapshot): the state is read back from the data dir.
    cl.close();
    await c.stopMember(down);
    const m2 = await c.startMember(down);
    expect(m2.auth.store.enabled).toBe(true);
    expect(m2.auth.store.userNames()).toEqual(leader.auth.store.userNames());
    expect(m2.auth.store.userNames()).toContain("carol");
    expect(m2.auth.store.revision).toBe(leader.auth.store.revision);
    clients[down] = new Clients(c.slots[down].clientUrl);
  }, 120_000);

  it("a data dir restored from a snapshot has the same users and roles", async () => {
    const snap = c.member(0).snapshot();
    const file = path.join(c.dir, "auth.snapshot");
    await pipeline(Readable.from(snap.stream), fs.createWriteStream(file));
    const dataDir = path.join(c.dir, "restored");
    await restoreSnapshot(file, [
      "--name=r1",
      `--data-dir=${dataDir}`,
      "--initial-cluster=r1=http://127.0.0.1:1",
      "--initial-advertise-peer-urls=http://127.0.0.1:1",
    ]);
    const st = await openStorage(dbDirOf(dataDir), silentLogger());
    try {
      expect(st.auth.enabled).toBe(true);
      expect(st.auth.userNames()).toEqual(c.member(0).auth.store.userNames());
      expect(st.auth.role("app")).toEqual(c.member(0).auth.store.role("app"));
      expect(st.auth.revision).toBe(c.member(0).auth.store.revision);
    } finally {
      await closeStorage(st);
    }
  }, 60_000);

  it("AuthDisable needs root; afterwards requests need no token", async () => {
    const cl = clients[0];
    // Simple tokens live in memory: a restarted member forgot them (as etcd's do).
    root = await authenticate(cl, "root", "rootpw");
    bob = await authenticate(cl, "bob", "bobpw");
    expect(await outcome(cl.call("Auth", "authDisable", {}, bob))).toBe(DENIED);
    await cl.call("Auth", "authDisable", {}, root);
    expect(await outcome(cl.call("KV", "put", { key: b("z"), value: b("1") }))).toBe("OK");
    const s = await cl.call<{ enabled: boolean; authRevision: bigint }>("Auth", "authStatus", {});
    expect(s.enabled).toBe(false);
  }, 60_000);
});
