/**
 * The Lease service on an in-process three-member cluster (fast raft: 25 ms heartbeat,
 * 250 ms election timeout, so the minimum TTL is 1 s; the lessor ticks every 50 ms).
 */
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kv, pollUntil, TestCluster } from "../__tests__/cluster.js";
import {
  closeLeaseClients,
  historyEvents,
  keeper,
  lease,
} from "../lease/__tests__/lease-clients.js";

const b = (s: string) => Buffer.from(s);

const FAST_LESSOR = { deps: { lessor: { tickMs: 50, checkpointIntervalMs: 500 } } };

/** Two members that are not the leader. */
function followers(c: TestCluster, leader: number): [number, number] {
  const f = c.running().filter((i) => i !== leader);
  return [f[0], f[1]];
}

async function rejects(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code: number; details: string };
    return { code: e.code, details: e.details };
  }
  throw new Error("expected a failure");
}

async function keyExists(c: TestCluster, i: number, key: string): Promise<boolean> {
  const r = await kv(c.client(i)).range({ key: b(key) });
  return r.kvs.length === 1;
}

describe("Lease service", () => {
  let c: TestCluster;
  let leader: number;
  beforeAll(async () => {
    c = await TestCluster.start(FAST_LESSOR);
    leader = await c.waitLeader();
    await Promise.all(c.running().map((i) => c.member(i).ready));
  });
  afterAll(async () => {
    closeLeaseClients();
    await c?.close();
  });

  it("grants on any member, answers TimeToLive and Leases everywhere, revokes with DELETE events", async () => {
    const [f1, f2] = followers(c, leader);
    const g = await lease(c, f1).grant(30n);
    expect(g.ID).toBeGreaterThan(0n);
    expect(g.TTL).toBe(30n);
    expect(g.header?.revision).toBeGreaterThan(0n);
    const chosen = await lease(c, f2).grant(60n, 0x1234n);
    expect(chosen.ID).toBe(0x1234n);
    expect(await rejects(lease(c, leader).grant(60n, 0x1234n))).toEqual({
      code: status.FAILED_PRECONDITION,
      details: "etcdserver: lease already exists",
    });

    const p1 = await kv(c.client(leader)).put({ key: b("lz/a"), value: b("1"), lease: g.ID });
    await kv(c.client(f2)).put({ key: b("lz/b"), value: b("2"), lease: g.ID });
    await kv(c.client(f1)).put({ key: b("lz/other"), value: b("3"), lease: chosen.ID });

    for (const i of c.running()) {
      const t = await lease(c, i).timeToLive(g.ID, true);
      expect(t.ID).toBe(g.ID);
      expect(t.grantedTTL).toBe(30n);
      expect(t.TTL).toBeGreaterThanOrEqual(27n);
      expect(t.TTL).toBeLessThanOrEqual(30n);
      expect(t.keys.map((k) => k.toString()).sort()).toEqual(["lz/a", "lz/b"]);
      expect((await lease(c, i).timeToLive(g.ID, false)).keys).toEqual([]);
      const ids = (await lease(c, i).leases()).leases.map((l) => l.ID);
      expect(ids).toEqual(expect.arrayContaining([g.ID, 0x1234n]));
    }

    const r = await lease(c, f2).revoke(g.ID);
    expect(r.header?.revision).toBe(p1.header!.revision + 3n);
    for (const i of c.running()) {
      expect(await keyExists(c, i, "lz/a")).toBe(false);
      expect(await keyExists(c, i, "lz/b")).toBe(false);
      expect(await keyExists(c, i, "lz/other")).toBe(true);
    }
    const events = await historyEvents(c, f1, "lz/a", "lz/c", p1.header!.revision, 4);
    expect(events.slice(2)).toEqual([
      { type: "DELETE", key: "lz/a", revision: r.header!.revision },
      { type: "DELETE", key: "lz/b", revision: r.header!.revision },
    ]);

    // An unknown lease: TTL -1, keep-alive TTL 0, etcd's errors.
    for (const i of c.running()) {
      const t = await lease(c, i).timeToLive(g.ID, true);
      expect({ TTL: t.TTL, grantedTTL: t.grantedTTL, keys: t.keys }).toEqual({
        TTL: -1n,
        grantedTTL: 0n,
        keys: [],
      });
      const k = await lease(c, i).keepAliveOnce(g.ID);
      expect({ ID: k.ID, TTL: k.TTL }).toEqual({ ID: g.ID, TTL: 0n });
      expect((await lease(c, i).leases()).leases.map((l) => l.ID)).not.toContain(g.ID);
    }
    expect(await rejects(lease(c, f1).revoke(g.ID))).toEqual({
      code: status.NOT_FOUND,
      details: "etcdserver: requested lease not found",
    });
    expect(
      await rejects(kv(c.client(f1)).put({ key: b("lz/x"), value: b("v"), lease: g.ID })),
    ).toEqual({ code: status.NOT_FOUND, details: "etcdserver: requested lease not found" });
  });

  it("bounds TTLs like etcd: too large is refused, below the minimum is raised", async () => {
    expect(await rejects(lease(c, leader).grant(9_000_000_001n))).toEqual({
      code: status.OUT_OF_RANGE,
      details: "etcdserver: too large lease TTL",
    });
    const big = await lease(c, leader).grant(9_000_000_000n);
    expect(big.TTL).toBe(9_000_000_000n);
    // 25 ms heartbeat, 250 ms election: (3 × 10) / 2 heartbeats = 375 ms → 1 s.
    const tiny = await lease(c, followers(c, leader)[0]).grant(0n);
    expect(tiny.TTL).toBe(1n);
    await lease(c, leader).revoke(big.ID);
    await lease(c, leader).revoke(tiny.ID);
  });

  it("keep-alives through a follower reach the leader; when they stop, the lease expires and its keys are deleted", async () => {
    const [f1] = followers(c, leader);
    const g = await lease(c, f1).grant(1n);
    const put = await kv(c.client(f1)).put({ key: b("lk/k"), value: b("v"), lease: g.ID });
    const k = keeper(c, g.ID, f1, 250);
    const grantedAt = performance.now();
    // Alive for 2.5 TTLs: only the leader's renewals can have kept it.
    await pollUntil(
      async () => {
        expect(await keyExists(c, f1, "lk/k")).toBe(true);
        return performance.now() - grantedAt > 2_500 ? true : undefined;
      },
      10_000,
      "2.5 TTLs of keep-alives",
    );
    await k.stop();
    expect(k.failures).toEqual([]);
    expect(k.ttls.length).toBeGreaterThan(4);
    expect(new Set(k.ttls)).toEqual(new Set([1n]));
    const leaderLessor = c.member(leader).lessor;
    expect(leaderLessor.isPrimary).toBe(true);
    expect(leaderLessor.primary?.expiryOf(g.ID)).toBeGreaterThan(performance.now() - 1_000);

    const stoppedAt = performance.now();
    await pollUntil(
      async () => ((await keyExists(c, f1, "lk/k")) ? undefined : true),
      5_000,
      "the expired lease's key to be deleted",
    );
    // Never before its TTL after the last keep-alive.
    expect(performance.now() - stoppedAt).toBeGreaterThan(500);
    const events = await historyEvents(c, f1, "lk/k", "", put.header!.revision, 2);
    expect(events.map((e) => e.type)).toEqual(["PUT", "DELETE"]);
    for (const i of c.running()) {
      expect((await lease(c, i).timeToLive(g.ID)).TTL).toBe(-1n);
    }
  });

  it("a new leader neither expires a lease early nor restarts it from its full TTL", async () => {
    leader = await c.waitLeader();
    const [f1] = followers(c, leader);
    const g = await lease(c, leader).grant(3n);
    await kv(c.client(leader)).put({ key: b("lm/k"), value: b("v"), lease: g.ID });
    // Let a checkpoint record the remaining TTL (every 500 ms here), then move the leader.
    await pollUntil(
      () => ((c.member(leader).leases.get(g.ID)?.remainingTtl ?? 0) > 0 ? true : undefined),
      5_000,
      "a checkpoint of the lease",
    );
    const renewed = performance.now();
    expect((await lease(c, f1).keepAliveOnce(g.ID)).TTL).toBe(3n);
    // The renewal reset the checkpoint before it was answered.
    expect(c.member(leader).leases.get(g.ID)?.remainingTtl).toBe(0);
    await pollUntil(
      () => ((c.member(leader).leases.get(g.ID)?.remainingTtl ?? 0) > 0 ? true : undefined),
      5_000,
      "a checkpoint after the renewal",
    );
    await c.member(leader).moveLeader(c.member(f1).id);
    await pollUntil(
      () => (c.member(f1).lessor.isPrimary ? true : undefined),
      5_000,
      "the new leader's promotion",
    );
    // What the new leader promoted from (it applied everything before promoting).
    const recorded = c.member(f1).leases.get(g.ID)?.remainingTtl ?? 0;
    expect(recorded).toBeGreaterThan(0);
    expect(recorded).toBeLessThan(3);
    // It continued from that checkpoint (≤ 2 s left) plus one election timeout (250 ms),
    // so it reports at most 2 s left; from the full TTL it would report 3. Any delay here
    // only lowers the number.
    expect((await lease(c, f1).timeToLive(g.ID)).TTL).toBeLessThanOrEqual(2n);
    // Alive until 3 s after the renewal, on every member: a read that finds the key gone
    // and returns before then proves an early expiry. (A slow read that returns later
    // proves nothing, so the check does not depend on how fast this machine is.)
    for (;;) {
      const started = performance.now();
      for (const i of c.running()) {
        if (await keyExists(c, i, "lm/k")) continue;
        const at = performance.now() - renewed;
        expect(
          at,
          `key gone on ${c.slots[i].name} ${Math.round(at)} ms after the renewal`,
        ).toBeGreaterThan(3_000);
      }
      if (started - renewed > 2_800) break;
      await new Promise((r) => setTimeout(r, 10)); // pacing the reads
    }
    // ... and gone once the new leader's expiry passed.
    await pollUntil(
      async () => ((await keyExists(c, f1, "lm/k")) ? undefined : true),
      10_000,
      "the lease's expiry",
    );
  });

  it("the leader stops during keep-alives: the client moves on and the lease survives", async () => {
    leader = await c.waitLeader();
    // TTL 5 s: one keep-alive may wait out its 2 s deadline on a member that cannot reach a
    // leader during the election and the lease must still survive; a client that never
    // moved on would lose it within TTL + one election timeout.
    const ttl = 5n;
    const g = await lease(c, leader).grant(ttl);
    await kv(c.client(leader)).put({ key: b("ls/k"), value: b("v"), lease: g.ID });
    const k = keeper(c, g.ID, leader, 300);
    const stopped = leader;
    try {
      await pollUntil(() => (k.ttls.length >= 2 ? true : undefined), 5_000, "keep-alives");
      await c.stopMember(stopped);
      const next = await c.waitLeader();
      expect(next).not.toBe(stopped);
      const changed = performance.now();
      const answered = k.ttls.length;
      await pollUntil(
        async () => {
          expect(await keyExists(c, next, "ls/k")).toBe(true);
          expect((await lease(c, next).timeToLive(g.ID)).TTL).toBeGreaterThanOrEqual(0n);
          return performance.now() - changed > 2 * Number(ttl) * 1_000 + 500 ? true : undefined;
        },
        25_000,
        "two TTLs after the leader change",
      );
      await k.stop();
      expect(k.ttls.length, `failures: ${k.failures.join("; ")}`).toBeGreaterThan(answered + 5);
      expect(new Set(k.ttls)).toEqual(new Set([ttl]));
      await lease(c, next).revoke(g.ID);
    } finally {
      await k.stop();
      // Later tests (and a retry) need all three members again.
      if (!c.running().includes(stopped)) await c.startMember(stopped);
    }
  }, 60_000);
});
