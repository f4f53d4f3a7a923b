import {
  ErrClusterIdMismatch,
  ErrCompacted,
  ErrDuplicateKey,
  ErrEmptyKey,
  ErrFutureRev,
  ErrKeyNotFound,
  ErrLeaseNotFound,
  ErrRequestTooLarge,
  ErrTooManyOps,
  ErrValueProvided,
  type EtcdErrorSpec,
  etcdserverpb,
  peerpb,
} from "@chainfire/api";
import { credentials, Metadata, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kv, pollUntil, TestCluster } from "./__tests__/cluster.js";
import { PROTOCOL_VERSION } from "./transport/peer-connection.js";
import { LaneKind } from "./transport/raw-frame.js";
import { RawLaneStream } from "./transport/raw-lane-sender.js";

const b = (s: string) => Buffer.from(s);

async function expectEtcdError(p: Promise<unknown>, spec: EtcdErrorSpec): Promise<void> {
  const err = (await p.then(
    () => undefined,
    (e: unknown) => e,
  )) as { code: number; details: string } | undefined;
  expect(err, `expected ${spec.message}`).toBeDefined();
  expect({ code: err?.code, details: err?.details }).toEqual({
    code: spec.code,
    details: spec.message,
  });
}

describe("Member: a three-member in-process cluster", () => {
  let c: TestCluster;
  beforeAll(async () => {
    c = await TestCluster.start({ maxRequestBytes: 64 * 1024 });
    await c.waitLeader();
    await Promise.all(c.running().map((i) => c.member(i).ready));
  });
  afterAll(async () => {
    await c?.close();
  });

  it("writes on any member; reads on any member, linearizable and serializable", async () => {
    for (const i of [0, 1, 2]) {
      const r = await kv(c.client(i)).put({ key: b(`k${i}`), value: b(`v${i}`) });
      expect(r.header?.memberId).toBe(c.member(i).id);
      expect(r.header?.clusterId).toBe(c.member(i).clusterId);
      expect(r.header?.raftTerm).toBeGreaterThan(1n);
    }
    for (const i of [0, 1, 2]) {
      for (const j of [0, 1, 2]) {
        // Linearizable: a write acknowledged by any member is visible everywhere at once.
        const r = await kv(c.client(i)).range({ key: b(`k${j}`) });
        expect(r.kvs.map((x) => x.value.toString())).toEqual([`v${j}`]);
        expect(r.header?.memberId).toBe(c.member(i).id);
      }
    }
    // Serializable reads are local; they converge.
    for (const i of [0, 1, 2]) {
      await pollUntil(
        async () => {
          const r = await kv(c.client(i)).range({
            key: b("k"),
            rangeEnd: b("l"),
            serializable: true,
          });
          return r.count === 3n ? true : undefined;
        },
        5_000,
        "serializable reads to converge",
      );
    }
  });

  it("answers a txn, delete and compact with etcd's results", async () => {
    const k = kv(c.client(1));
    const p = await k.put({ key: b("t"), value: b("1") });
    const rev = p.header!.revision;
    const t = await k.txn({
      compare: [
        {
          key: b("t"),
          target: etcdserverpb.Compare_CompareTarget.MOD,
          result: etcdserverpb.Compare_CompareResult.EQUAL,
          targetUnion: { $case: "modRevision", value: rev },
        },
      ],
      success: [
        { request: { $case: "requestPut", value: { key: b("t"), value: b("2") } } },
        { request: { $case: "requestRange", value: { key: b("t") } } },
      ],
    });
    expect(t.succeeded).toBe(true);
    expect(t.header?.revision).toBe(rev + 1n);
    const inner = t.responses[1].response;
    expect(inner?.$case === "responseRange" && inner.value.kvs[0].value.toString()).toBe("2");
    // A read-only txn is served without the log.
    const ro = await kv(c.client(2)).txn({
      success: [{ request: { $case: "requestRange", value: { key: b("t") } } }],
    });
    expect(ro.header?.revision).toBe(rev + 1n);
    const d = await k.deleteRange({ key: b("t"), prevKv: true });
    expect(d.deleted).toBe(1n);
    expect(d.prevKvs[0].value.toString()).toBe("2");
    const nothing = await k.deleteRange({ key: b("t") });
    expect(nothing.header?.revision).toBe(d.header?.revision); // no revision for nothing
    await k.compact({ revision: rev, physical: true });
    await expectEtcdError(k.range({ key: b("t"), revision: rev - 1n }), ErrCompacted);
    await expectEtcdError(k.compact({ revision: rev }), ErrCompacted);
  });

  it("returns etcd's errors for bad input and keeps serving", async () => {
    const k = kv(c.client(0));
    const before = (await k.range({ key: b("x") })).header!.revision;
    await expectEtcdError(k.put({ key: b("") }), ErrEmptyKey);
    await expectEtcdError(k.range({ key: b("") }), ErrEmptyKey);
    await expectEtcdError(k.deleteRange({ key: b("") }), ErrEmptyKey);
    await expectEtcdError(k.put({ key: b("nope"), ignoreValue: true }), ErrKeyNotFound);
    await expectEtcdError(
      k.put({ key: b("x"), value: b("v"), ignoreValue: true }),
      ErrValueProvided,
    );
    await expectEtcdError(k.put({ key: b("x"), value: b("v"), lease: 12345n }), ErrLeaseNotFound);
    await expectEtcdError(k.range({ key: b("x"), revision: before + 1000n }), ErrFutureRev);
    await expectEtcdError(k.compact({ revision: before + 1000n }), ErrFutureRev);
    const put = (key: string) => ({ request: { $case: "requestPut", value: { key: b(key) } } });
    await expectEtcdError(k.txn({ success: [put("a"), put("a")] }), ErrDuplicateKey);
    await expectEtcdError(
      k.txn({ success: Array.from({ length: 129 }, (_, i) => put(`op${i}`)) }),
      ErrTooManyOps,
    );
    await expectEtcdError(
      k.put({ key: b("big"), value: Buffer.alloc(64 * 1024) }),
      ErrRequestTooLarge,
    );
    // Nothing changed, and the member still serves.
    const after = await k.range({ key: b("x") });
    expect(after.header!.revision).toBe(before);
    await k.put({ key: b("x"), value: b("fine") });
  });

  it("refuses peers of another cluster with etcd's cluster ID mismatch", async () => {
    const peer = new peerpb.PeerClient(
      c.slots[0].peerUrl.replace("http://", ""),
      credentials.createInsecure(),
    );
    try {
      const hello = (clusterId: bigint) =>
        new Promise<peerpb.HelloResponse>((resolve, reject) =>
          peer.hello(
            peerpb.HelloRequest.fromPartial({ clusterId, memberId: 99n, name: "intruder" }),
            new Metadata(),
            { deadline: Date.now() + 5_000 },
            (e, r) => (e ? reject(e) : resolve(r!)),
          ),
        );
      await expectEtcdError(hello(42n), ErrClusterIdMismatch);
      // The right cluster id (or 0, a joining member) gets the membership.
      const ok = await hello(0n);
      expect(ok.clusterId).toBe(c.member(0).clusterId);
      expect(ok.members.map((m) => m.name).sort()).toEqual(["n1", "n2", "n3"]);
      // A raft lane from another cluster is refused too.
      const refused = await new Promise<unknown>((resolve) => {
        const lane = new RawLaneStream(
          c.slots[0].peerUrl,
          undefined,
          {
            protocolVersion: PROTOCOL_VERSION,
            lane: LaneKind.Bulk,
            clusterId: 42n,
            from: 99n,
            to: c.member(0).id,
          },
          resolve,
        );
        lane.write(peerpb.RaftBatch.fromPartial({ clusterId: 42n, from: 99n, to: c.member(0).id }));
      });
      expect((refused as { details: string }).details).toBe(ErrClusterIdMismatch.message);
      // and the gRPC Raft stream is gone (raft messages travel on raw lanes only).
      const grpcRaft = await new Promise<unknown>((resolve) => {
        const call = peer.raft((e) => resolve(e));
        call.write(peerpb.RaftBatch.fromPartial({ clusterId: 42n, from: 99n, to: c.member(0).id }));
      });
      expect((grpcRaft as { code: number }).code).toBe(status.UNIMPLEMENTED);
    } finally {
      peer.close();
    }
    // and the cluster still works
    await kv(c.client(0)).put({ key: b("still"), value: b("ok") });
  });

  it("group-commits: many concurrent proposals share Readies", async () => {
    const li = await c.waitLeader();
    const leader = c.member(li);
    const k = kv(c.client(li));
    const n = 300;
    const r0 = leader.driverStats;
    await Promise.all(
      Array.from({ length: n }, (_, i) => k.put({ key: b(`gc${i}`), value: b("v") })),
    );
    const r1 = leader.driverStats;
    expect(r1.entries - r0.entries).toBeGreaterThanOrEqual(n);
    // Far fewer Readies (one write batch, at most one fsync each) than proposals.
    expect(r1.readies - r0.readies).toBeLessThan(n / 3);
  });
});
