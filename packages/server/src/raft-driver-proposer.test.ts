import { ErrCanceled, ErrTooManyRequests, EtcdError, internalpb } from "@chainfire/api";
import type { WriteStall } from "@chainfire/storage";
import { describe, expect, it } from "vitest";
import type { RaftDriver } from "./raft-driver.js";
import { MAX_APPLY_LAG, Proposer } from "./raft-driver-proposer.js";
import { STALL_POLL_MS, STALL_WINDOW_S } from "./storage-stall.js";

/** A proposer with no leader: proposals are held (waiting) until the test fails them. */
function proposer(o: { lag?: () => number; maxPending?: number; maxPendingBytes?: number }) {
  return new Proposer(
    {
      driver: () => {
        throw new Error("no driver: nothing is proposed without a leader");
      },
      canPropose: () => false,
      leaderElectedAt: () => 0,
      applyLag: o.lag ?? (() => 0),
    },
    {
      memberId: 1n,
      requestTimeoutMs: 60_000,
      electionTimeoutMs: 1000,
      maxRequestBytes: 1 << 20,
      maxPending: o.maxPending ?? 100,
      maxPendingBytes: o.maxPendingBytes ?? 1 << 20,
    },
  );
}

const put = (bytes: number) =>
  ({
    $case: "put",
    value: {
      key: Buffer.from("k"),
      value: Buffer.alloc(bytes),
      lease: 0n,
      prevKv: false,
      ignoreValue: false,
      ignoreLease: false,
    },
  }) as const;

async function refusal(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (e: unknown) => (e instanceof EtcdError ? e.message : String(e)),
  );
}

describe("Proposer backpressure", () => {
  it("refuses with 'too many requests' once maxPending proposals wait, and takes more as they end", async () => {
    const p = proposer({ maxPending: 3 });
    const held = [p.propose(put(1)), p.propose(put(1)), p.propose(put(1))];
    for (const h of held) h.catch(() => {});
    expect(await refusal(p.propose(put(1)))).toBe(ErrTooManyRequests.message);
    expect(p.pending).toBe(3);
    p.failAll(new Error("released"));
    await Promise.allSettled(held);
    expect(p.pending).toBe(0);
    const next = p.propose(put(1));
    next.catch(() => {});
    expect(p.pending).toBe(1);
    p.close();
  });

  it("bounds the encoded bytes of waiting proposals", async () => {
    const p = proposer({ maxPendingBytes: 10_000 });
    const a = p.propose(put(6_000));
    a.catch(() => {});
    expect(p.pendingBytes).toBeGreaterThan(6_000);
    expect(await refusal(p.propose(put(6_000)))).toBe(ErrTooManyRequests.message);
    const small = p.propose(put(100));
    small.catch(() => {});
    p.close();
    await Promise.allSettled([a, small]);
    expect(p.pendingBytes).toBe(0);
  });

  it(`refuses while applied lags committed by more than ${MAX_APPLY_LAG} entries (etcd's rule)`, async () => {
    let lag = MAX_APPLY_LAG + 1;
    const p = proposer({ lag: () => lag });
    expect(await refusal(p.propose(put(1)))).toBe(ErrTooManyRequests.message);
    expect(p.pending).toBe(0);
    lag = MAX_APPLY_LAG;
    const ok = p.propose(put(1));
    ok.catch(() => {});
    expect(p.pending).toBe(1);
    p.close();
  });
});

/** A proposer with a leader whose raft records what is proposed; `stall` is the engine's. */
function admitting() {
  const box: { stall: WriteStall } = { stall: { stopped: false, delayedRate: 0 } };
  const proposed: bigint[] = [];
  const driver = {
    propose: (data: Uint8Array) => {
      proposed.push(internalpb.InternalRequest.decode(data).header?.id ?? 0n);
    },
  } as unknown as RaftDriver;
  const p = new Proposer(
    {
      driver: () => driver,
      canPropose: () => true,
      leaderElectedAt: () => 0,
      applyLag: () => 0,
      writeStall: () => box.stall,
    },
    {
      memberId: 1n,
      requestTimeoutMs: 60_000,
      electionTimeoutMs: 1000,
      maxRequestBytes: 1 << 20,
      maxPending: 100,
      maxPendingBytes: 8 << 20,
    },
  );
  /** Answers the proposal with raft id `id` as applied. */
  const apply = (id: bigint) => p.onApplied([{ id, outcome: { ok: true, value: null } }]);
  return { p, box, proposed, apply };
}

/** Polls until `cond` holds (deadline 10 s). */
async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, STALL_POLL_MS));
  }
}

describe("Proposer storage admission (RocksDB write stalls)", () => {
  it("sends every proposal to raft at once when RocksDB does not stall", () => {
    const { p, proposed } = admitting();
    for (let i = 0; i < 5; i++) p.propose(put(100_000)).catch(() => {});
    expect(proposed).toHaveLength(5);
    expect(p.stallWaits).toBe(0);
    p.close();
  });

  it("holds proposals, in order, while writes are stopped; sends them when the stop ends", async () => {
    const { p, box, proposed, apply } = admitting();
    box.stall = { stopped: true, delayedRate: 0 };
    const calls = [p.propose(put(10)), p.propose(put(10)), p.propose(put(10))];
    await new Promise((r) => setTimeout(r, 5 * STALL_POLL_MS));
    expect(proposed).toHaveLength(0);
    expect(p.stallWaits).toBe(3);
    expect(p.pending).toBe(3); // they wait as pending proposals, with their timeout
    box.stall = { stopped: false, delayedRate: 0 };
    await until("the three proposals", () => proposed.length === 3);
    expect([...proposed].sort((a, b) => (a < b ? -1 : 1))).toEqual(proposed); // in order
    for (const id of proposed) apply(id);
    await Promise.all(calls);
    p.close();
  });

  it("while writes are delayed, lets through what the delayed rate writes in the window", async () => {
    const { p, box, proposed, apply } = admitting();
    // At 1 MB/s the window holds 50 KB of writes; each proposal is written twice here.
    const rate = 1_000_000;
    box.stall = { stopped: false, delayedRate: rate };
    const big = Math.floor((rate * STALL_WINDOW_S) / 2 / 1.5); // ~16.6 KB: one fits, two do not
    const a = p.propose(put(big));
    expect(proposed).toHaveLength(1); // nothing in flight: one always goes
    const b = p.propose(put(big));
    const c = p.propose(put(10)); // small, but behind b: order is kept
    await new Promise((r) => setTimeout(r, 5 * STALL_POLL_MS));
    expect(proposed).toHaveLength(1);
    apply(proposed[0]);
    await a;
    await until("b and c", () => proposed.length === 3);
    for (const id of proposed.slice(1)) apply(id);
    await Promise.all([b, c]);
    expect(p.pendingBytes).toBe(0);
    p.close();
  });

  it("drops a cancelled proposal from the wait; it is never proposed", async () => {
    const { p, box, proposed, apply } = admitting();
    box.stall = { stopped: true, delayedRate: 0 };
    const ac = new AbortController();
    const gone = p.propose(put(10), ac.signal);
    const kept = p.propose(put(10));
    ac.abort();
    expect(await refusal(gone)).toBe(ErrCanceled.message);
    box.stall = { stopped: false, delayedRate: 0 };
    await until("the kept proposal", () => proposed.length === 1);
    await new Promise((r) => setTimeout(r, 3 * STALL_POLL_MS));
    expect(proposed).toHaveLength(1);
    apply(proposed[0]);
    await kept;
    expect(p.pendingBytes).toBe(0);
    p.close();
  });

  it("fails waiting proposals on close", async () => {
    const { p, box, proposed } = admitting();
    box.stall = { stopped: true, delayedRate: 0 };
    const w = p.propose(put(10));
    p.close();
    expect(await refusal(w)).toBeDefined();
    box.stall = { stopped: false, delayedRate: 0 };
    await new Promise((r) => setTimeout(r, 3 * STALL_POLL_MS));
    expect(proposed).toHaveLength(0);
    expect(p.pendingBytes).toBe(0);
  });
});
