/**
 * Lessor unit tests: fake members sharing one lease table and one fake clock (no raft, no
 * timers; the test ticks, applies and fails proposals itself).
 */
import { afterEach, describe, expect, it } from "vitest";
import { type FakeMember, fakeCluster, settle } from "./__tests__/fake-member.js";
import type { LessorOptions } from "./options.js";
import { isNotPrimary } from "./primary-lessor.js";

const never = new AbortController().signal;

type Cluster = ReturnType<typeof fakeCluster>;
const clusters: Cluster[] = [];

function cluster(n: number, options: Partial<LessorOptions> = {}): Cluster {
  const c = fakeCluster(n, { checkpointIntervalMs: 0, ...options });
  clusters.push(c);
  return c;
}

afterEach(() => {
  for (const c of clusters.splice(0)) for (const m of c.members) m.lessor.close();
});

/** Makes member `i` the leader of `term` (the others follow it) and waits for its promotion. */
async function lead(c: Cluster, i: number, term: bigint): Promise<FakeMember> {
  const m = c.members[i];
  for (const o of c.members) if (o !== m) o.setLeadership(false, term, m.id);
  m.setLeadership(true, term, m.id);
  await settle();
  expect(m.lessor.isPrimary).toBe(true);
  return m;
}

describe("Lessor", () => {
  it("expires a lease TTL after its grant, with one proposal bound to the leader's term", async () => {
    const c = cluster(1);
    const m = await lead(c, 0, 5n);
    c.table.grant(1n, 10);
    c.clock.advance(9_999);
    m.lessor.tick();
    expect(m.proposals).toEqual([]);
    c.clock.advance(1);
    m.lessor.tick();
    expect(m.proposals.map((p) => p.req)).toEqual([{ term: 5n, expired: [1n], checkpoints: [] }]);
    expect(await m.applyNext()).toEqual([1n]);
    expect(c.table.records.has(1n)).toBe(false);
    expect(await m.lessor.keepAlive(1n, never)).toBe(0n);
  });

  it("a keep-alive answers the granted TTL and moves the expiry to TTL from now", async () => {
    const c = cluster(1);
    const m = await lead(c, 0, 2n);
    c.table.grant(7n, 10);
    c.clock.advance(6_000);
    expect(await m.lessor.keepAlive(7n, never)).toBe(10n);
    c.clock.advance(9_999);
    m.lessor.tick();
    expect(m.proposals).toEqual([]);
    c.clock.advance(1);
    m.lessor.tick();
    expect(m.proposals[0].req.expired).toEqual([7n]);
  });

  it("TimeToLive truncates to whole seconds like etcd; -1 and no keys for an unknown lease", async () => {
    const c = cluster(1);
    const m = await lead(c, 0, 2n);
    c.table.grant(3n, 10);
    c.table.keys.set(3n, ["a", "b"]);
    c.clock.advance(1);
    expect(await m.lessor.timeToLive(3n, true, never)).toEqual({
      ID: 3n,
      TTL: 9n,
      grantedTTL: 10n,
      keys: [Buffer.from("a"), Buffer.from("b")],
    });
    expect((await m.lessor.timeToLive(3n, false, never)).keys).toEqual([]);
    c.clock.advance(20_000); // expired, not yet revoked: 0, not -1
    expect((await m.lessor.timeToLive(3n, false, never)).TTL).toBe(0n);
    expect(await m.lessor.timeToLive(4n, true, never)).toEqual({
      ID: 4n,
      TTL: -1n,
      grantedTTL: 0n,
      keys: [],
    });
    expect(await m.lessor.keepAlive(4n, never)).toBe(0n);
  });

  it("rate-limits revocations and proposes one entry at a time", async () => {
    const c = cluster(1, { maxCheckpointBatch: 1000 });
    const m = await lead(c, 0, 2n);
    for (let id = 1n; id <= 1200n; id++) c.table.grant(id, 1);
    c.clock.advance(1_000);
    m.lessor.tick(); // 500 ms tick at 1000/s: 500 leases
    m.lessor.tick(); // 500 more decided, but not proposed while the first is in flight
    expect(m.proposals.map((p) => p.req.expired.length)).toEqual([500]);
    await m.applyNext();
    expect(m.proposals.map((p) => p.req.expired.length)).toEqual([500]);
    await m.applyNext();
    m.lessor.tick();
    await m.applyNext();
    expect(c.table.records.size).toBe(0);
  });

  it("re-proposes an expiry whose proposal failed, after the retry interval", async () => {
    const c = cluster(1, { expiredRetryMs: 3_000 });
    const m = await lead(c, 0, 2n);
    c.table.grant(1n, 2);
    c.clock.advance(2_000);
    m.lessor.tick();
    await m.failNext();
    c.clock.advance(2_999);
    m.lessor.tick();
    expect(m.proposals).toEqual([]);
    c.clock.advance(1);
    m.lessor.tick();
    expect(m.proposals[0].req.expired).toEqual([1n]);
  });

  it("an expired lease cannot be renewed: the keep-alive waits for its revocation (TTL 0)", async () => {
    const c = cluster(1);
    const m = await lead(c, 0, 2n);
    c.table.grant(1n, 2);
    c.clock.advance(2_000);
    m.lessor.tick();
    let answered: bigint | undefined;
    const ka = m.lessor.keepAlive(1n, never).then((ttl) => {
      answered = ttl;
    });
    await settle();
    expect(answered).toBeUndefined();
    await m.applyNext();
    await ka;
    expect(answered).toBe(0n);
  });

  it("an expired lease's keep-alive goes on with the next leader if the revocation was lost", async () => {
    const c = cluster(2);
    const m = await lead(c, 0, 2n);
    c.table.grant(1n, 2);
    c.clock.advance(2_000);
    m.lessor.tick(); // proposes the expiry ...
    const ac = new AbortController();
    const ka = m.lessor.keepAlive(1n, ac.signal);
    await settle();
    await m.failNext(); // ... which is lost with the leadership
    const next = await lead(c, 1, 3n);
    // The old leader's keep-alive left its (demoted) lessor and now tries the new leader
    // (this fake has no peer to forward to): it ends only with its caller.
    ac.abort();
    await expect(ka).rejects.toThrow("etcdserver: request canceled");
    // The new leader never saw the expiry: the lease lives on (etcd's semantics).
    expect(await next.lessor.keepAlive(1n, never)).toBe(2n);
  });

  it("checkpoints the remaining TTL every interval; a renewal resets it before answering", async () => {
    const c = cluster(1, { checkpointIntervalMs: 1_000 });
    const m = await lead(c, 0, 4n);
    c.table.grant(1n, 10);
    c.table.grant(2n, 1); // not longer than the interval: never checkpointed
    c.clock.advance(1_000);
    m.lessor.tick();
    expect(m.proposals.map((p) => p.req)).toEqual([
      { term: 4n, expired: [2n], checkpoints: [{ ID: 1n, remainingTTL: 9n }] },
    ]);
    await m.applyNext();
    expect(c.table.records.get(1n)?.remainingTtl).toBe(9);

    let answered: bigint | undefined;
    const ka = m.lessor.keepAlive(1n, never).then((ttl) => {
      answered = ttl;
    });
    await settle();
    expect(answered).toBeUndefined();
    expect(m.proposals.map((p) => p.req.checkpoints)).toEqual([[{ ID: 1n, remainingTTL: 0n }]]);
    await m.applyNext();
    await ka;
    expect(answered).toBe(10n);
    expect(c.table.records.get(1n)?.remainingTtl).toBe(0);
    // Without a recorded checkpoint a renewal costs no log entry.
    expect(await m.lessor.keepAlive(1n, never)).toBe(10n);
    expect(m.proposals).toEqual([]);
  });

  it("a renewal during an in-flight checkpoint waits for it, then resets", async () => {
    const c = cluster(1, { checkpointIntervalMs: 1_000 });
    const m = await lead(c, 0, 4n);
    c.table.grant(1n, 10);
    c.clock.advance(1_000);
    m.lessor.tick(); // checkpoint of 9 s proposed, not applied yet
    let answered: bigint | undefined;
    const ka = m.lessor.keepAlive(1n, never).then((ttl) => {
      answered = ttl;
    });
    await settle();
    expect(m.proposals).toHaveLength(1);
    await m.applyNext(); // the stale 9 s lands ...
    await settle();
    expect(answered).toBeUndefined();
    expect(m.proposals.map((p) => p.req.checkpoints)).toEqual([[{ ID: 1n, remainingTTL: 0n }]]);
    await m.applyNext(); // ... and is cleared before the renewal is answered
    await ka;
    expect(answered).toBe(10n);
    expect(c.table.records.get(1n)?.remainingTtl).toBe(0);
  });

  it("promotion: checkpointed remaining (or the full TTL) plus one election timeout", async () => {
    const c = cluster(2, { promoteExtendMs: 1_000 });
    c.table.records.set(1n, { id: 1n, ttl: 10, remainingTtl: 3 });
    c.table.records.set(2n, { id: 2n, ttl: 10, remainingTtl: 0 });
    const m = await lead(c, 1, 7n);
    c.clock.advance(3_999);
    m.lessor.tick();
    expect(m.proposals).toEqual([]);
    c.clock.advance(1);
    m.lessor.tick();
    expect(m.proposals.map((p) => p.req.expired)).toEqual([[1n]]);
    await m.applyNext();
    c.clock.advance(6_999);
    m.lessor.tick();
    expect(m.proposals).toEqual([]);
    c.clock.advance(1);
    m.lessor.tick();
    expect(m.proposals.map((p) => p.req.expired)).toEqual([[2n]]);
  });

  it("promotion waits for the read barrier (entries of earlier terms applied) and is dropped if the term moved on", async () => {
    const c = cluster(1);
    const m = c.members[0];
    let release!: () => void;
    m.barrier = new Promise((r) => {
      release = r;
    });
    m.setLeadership(true, 3n, m.id);
    await settle();
    expect(m.lessor.isPrimary).toBe(false);
    m.setLeadership(true, 4n, m.id); // re-elected before the barrier returned
    release();
    m.barrier = null;
    await settle();
    expect(m.lessor.primary?.term).toBe(4n);
  });

  it("a deposed leader stops expiring, and its expiry applied in a later term is skipped", async () => {
    const c = cluster(2);
    const old = await lead(c, 0, 5n);
    c.table.grant(1n, 1);
    c.clock.advance(1_000);
    old.lessor.tick();
    expect(old.proposals[0].req).toEqual({ term: 5n, expired: [1n], checkpoints: [] });
    // Deposed before the expiry committed; a new leader promotes (lease: 1 s + 1 s).
    const next = await lead(c, 1, 6n);
    expect(old.lessor.isPrimary).toBe(false);
    c.clock.advance(5_000);
    old.lessor.tick();
    expect(old.proposals).toHaveLength(1); // nothing more from the deposed leader
    // The old proposal, re-proposed (or forwarded) into term 6, changes nothing.
    expect(await old.applyNext(6n)).toBe("skipped");
    expect(c.table.records.has(1n)).toBe(true);
    expect(
      isNotPrimary(
        await old.lessor.handleForward("LeaseKeepAlive", Buffer.alloc(0), never).catch((e) => e),
      ),
    ).toBe(true);
    // The new leader decides for itself.
    next.lessor.tick();
    expect(next.proposals.map((p) => p.req)).toEqual([
      { term: 6n, expired: [1n], checkpoints: [] },
    ]);
  });
});
