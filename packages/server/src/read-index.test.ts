import {
  ErrCanceled,
  ErrLeaderChanged,
  ErrStopped,
  ErrTimeout,
  ErrTooManyRequests,
  type EtcdErrorSpec,
} from "@chainfire/api";
import type { ReadState } from "@chainfire/raft";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ReadIndexBatcher } from "./read-index.js";

function fakeHost() {
  const sent: Uint8Array[] = [];
  const host = {
    sent,
    applied: 0,
    lead: 1n,
    readIndex: (ctx: Uint8Array) => sent.push(ctx),
    appliedIndex: () => host.applied,
    leader: () => host.lead,
  };
  return host;
}

const state = (ctx: Uint8Array, index: number): ReadState => ({ index, requestCtx: ctx });

function settled(p: Promise<unknown>) {
  const s = { done: false, err: undefined as unknown };
  p.then(
    () => {
      s.done = true;
    },
    (e) => {
      s.done = true;
      s.err = e;
    },
  );
  return s;
}

const flush = () => new Promise((r) => setImmediate(r));

function expectErr(err: unknown, spec: EtcdErrorSpec) {
  expect((err as Error).message).toBe(spec.message);
}

describe("ReadIndexBatcher", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("serves every read waiting at the start of a round with one ReadIndex; later reads wait for the next", async () => {
    const h = fakeHost();
    const ri = new ReadIndexBatcher(h, { timeoutMs: 10_000, retryMs: 10_000 });
    const a = settled(ri.wait());
    const b = settled(ri.wait());
    expect(h.sent.length).toBe(0); // the round starts at the end of the turn
    await flush();
    expect(h.sent.length).toBe(1); // one round for a and b
    const c = settled(ri.wait()); // arrives during the round
    await flush();
    expect(h.sent.length).toBe(1);
    h.applied = 5;
    ri.onReadStates([state(h.sent[0], 5)]);
    await flush();
    expect([a.done, b.done, c.done]).toEqual([true, true, false]);
    expect(h.sent.length).toBe(2); // the next round, for c
    ri.onReadStates([state(h.sent[1], 7)]);
    await flush();
    expect(c.done).toBe(false); // read index 7 not applied yet
    ri.onApplied(7);
    await flush();
    expect(c.done).toBe(true);
    expect(c.err).toBeUndefined();
    expect(ri.rounds).toBe(2);
  });

  it("ignores answers to other contexts and re-sends a round that got no answer", async () => {
    vi.useFakeTimers();
    const h = fakeHost();
    const ri = new ReadIndexBatcher(h, { timeoutMs: 10_000, retryMs: 100 });
    const a = settled(ri.wait());
    vi.advanceTimersByTime(1); // the round starts
    expect(h.sent.length).toBe(1);
    ri.onReadStates([state(Buffer.from("other"), 1)]);
    vi.advanceTimersByTime(150);
    expect(h.sent.length).toBe(2);
    ri.onReadStates([state(h.sent[0], 1)]); // the stale answer is ignored
    await Promise.resolve();
    expect(a.done).toBe(false);
    ri.onReadStates([state(h.sent[h.sent.length - 1], 0)]);
    await Promise.resolve();
    await Promise.resolve();
    expect(a.done).toBe(true);
    ri.close();
  });

  it("fails a round with ErrLeaderChanged when the leader changes, and re-sends one sent without a leader", async () => {
    const h = fakeHost();
    const ri = new ReadIndexBatcher(h, { timeoutMs: 10_000, retryMs: 10_000 });
    const a = settled(ri.wait());
    await flush();
    ri.onLeaderChange(2n);
    await flush();
    expectErr(a.err, ErrLeaderChanged);
    h.lead = 0n;
    const b = settled(ri.wait());
    await flush();
    expect(h.sent.length).toBe(2);
    h.lead = 3n;
    ri.onLeaderChange(3n);
    expect(h.sent.length).toBe(3); // re-sent now that a leader is known
    ri.onReadStates([state(h.sent[2], 0)]);
    await flush();
    expect(b.done && b.err === undefined).toBe(true);
  });

  it("times out, cancels, and fails everything on close", async () => {
    vi.useFakeTimers();
    const h = fakeHost();
    const ri = new ReadIndexBatcher(h, { timeoutMs: 1_000, retryMs: 10_000 });
    const a = settled(ri.wait());
    vi.advanceTimersByTime(1_001);
    await Promise.resolve();
    await Promise.resolve();
    expectErr(a.err, ErrTimeout);
    const ac = new AbortController();
    const b = settled(ri.wait(ac.signal));
    ac.abort();
    await Promise.resolve();
    await Promise.resolve();
    expectErr(b.err, ErrCanceled);
    const c = settled(ri.wait());
    ri.close();
    await Promise.resolve();
    await Promise.resolve();
    expectErr(c.err, ErrStopped);
    await expect(ri.wait()).rejects.toThrow(ErrStopped.message);
  });

  it("refuses reads beyond maxPending with 'too many requests', and takes more once they settle", async () => {
    const h = fakeHost();
    h.lead = 0n; // no leader: reads wait
    const ri = new ReadIndexBatcher(h, { timeoutMs: 10_000, retryMs: 10_000, maxPending: 2 });
    const ac = new AbortController();
    const a = settled(ri.wait(ac.signal));
    const b = settled(ri.wait());
    const c = settled(ri.wait());
    await flush();
    expectErr(c.err, ErrTooManyRequests);
    expect([a.done, b.done]).toEqual([false, false]);
    ac.abort(); // a settles: room for one more
    await flush();
    const d = settled(ri.wait());
    await flush();
    expect(d.done).toBe(false);
    ri.close();
  });
});
