import { ErrTooManyRequests, EtcdError } from "@chainfire/api";
import { describe, expect, it } from "vitest";
import { MAX_APPLY_LAG, Proposer } from "./raft-driver-proposer.js";

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
