import { describe, expect, it } from "vitest";
import {
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  None,
  newMessage,
} from "../index.js";
import { chainHash } from "./hash.js";
import { ReadChecker } from "./read-checker.js";
import { type ReadyView, SafetyChecker, SafetyViolation } from "./safety-checker.js";

// Hand-made histories: each test builds the observations a simulation would report and
// asserts that the checker accepts a correct history and rejects the broken one.

const BASE = { index: 2, term: 1, chain: 42 };
const enc = new TextEncoder();

function ent(index: number, term: number, data = ""): Entry {
  return { index, term, type: EntryType.Normal, data: enc.encode(data) };
}

function hs(term: number, vote: bigint, commit: number): HardState {
  return { term, vote, commit };
}

function ready(init: Partial<ReadyView>): ReadyView {
  return { entries: [], committedEntries: [], messages: [], messagesAfterPersist: [], ...init };
}

function cluster(n = 3): SafetyChecker {
  const c = new SafetyChecker();
  for (let i = 1; i <= n; i++) c.addNode(BigInt(i), BASE, hs(0, None, 2));
  return c;
}

function violation(f: () => void): string {
  try {
    f();
  } catch (e) {
    if (e instanceof SafetyViolation) return e.property;
    throw e;
  }
  return "none";
}

/** Node `id` becomes leader of `term` and appends `entries` (persisted at once). */
function lead(c: SafetyChecker, id: bigint, term: number, entries: Entry[], commit = 2): void {
  c.observe(id, { term, commit, isLeader: true });
  c.onReady(id, ready({ hardState: hs(term, id, commit), entries }), term);
  c.onPersist(id);
}

function follow(
  c: SafetyChecker,
  id: bigint,
  term: number,
  vote: bigint,
  entries: Entry[],
  commit: number,
): void {
  c.observe(id, { term, commit, isLeader: false });
  c.onReady(id, ready({ hardState: hs(term, vote, commit), entries }), term);
  c.onPersist(id);
}

describe("SafetyChecker", () => {
  it("accepts a plain election, replication and apply", () => {
    const c = cluster();
    lead(c, 1n, 1, [ent(3, 1)]);
    follow(c, 2n, 1, 1n, [ent(3, 1)], 2);
    c.observe(1n, { term: 1, commit: 3, isLeader: true });
    c.onReady(1n, ready({ hardState: hs(1, 1n, 3), committedEntries: [ent(3, 1)] }), 1);
    c.onPersist(1n);
    c.onApply(1n, ent(3, 1));
    follow(c, 2n, 1, 1n, [], 3);
    c.onApply(2n, ent(3, 1));
    expect(c.applied(2n)).toBe(3);
  });

  it("Election Safety: two leaders in one term", () => {
    const c = cluster();
    c.observe(1n, { term: 2, commit: 2, isLeader: true });
    expect(violation(() => c.observe(2n, { term: 2, commit: 2, isLeader: true }))).toBe(
      "Election Safety",
    );
  });

  it("Election Safety holds across time: a later leader of an old term is caught", () => {
    const c = cluster();
    c.observe(1n, { term: 2, commit: 2, isLeader: true });
    c.observe(1n, { term: 3, commit: 2, isLeader: false });
    expect(violation(() => c.observe(3n, { term: 2, commit: 2, isLeader: true }))).toBe(
      "Election Safety",
    );
  });

  it("Log Matching: same index and term, different content", () => {
    const c = cluster();
    lead(c, 1n, 1, [ent(3, 1, "a")]);
    expect(violation(() => follow(c, 2n, 1, 1n, [ent(3, 1, "b")], 2))).toBe("Log Matching");
  });

  it("Log Matching: same last entry, different prefix", () => {
    const c = cluster();
    lead(c, 1n, 1, [ent(3, 1, "a"), ent(4, 1, "x")]);
    expect(violation(() => follow(c, 2n, 1, 1n, [ent(3, 1, "b"), ent(4, 1, "x")], 2))).toBe(
      "Log Matching",
    );
  });

  it("Leader Append-Only: a leader truncates its own log", () => {
    const c = cluster();
    lead(c, 1n, 1, [ent(3, 1, "a"), ent(4, 1, "b")]);
    c.observe(1n, { term: 1, commit: 2, isLeader: true });
    expect(violation(() => c.onReady(1n, ready({ entries: [ent(4, 1, "c")] }), 1))).toBe(
      "Leader Append-Only",
    );
  });

  it("a follower may truncate uncommitted entries of an old term", () => {
    const c = cluster();
    lead(c, 1n, 1, [ent(3, 1, "a")]);
    follow(c, 2n, 1, 1n, [ent(3, 1, "a")], 2);
    // Node 3 leads term 2 without entry 3 (it was never committed) and overwrites it on 2.
    lead(c, 3n, 2, [ent(3, 2, "")]);
    follow(c, 2n, 2, 3n, [ent(3, 2, "")], 2);
  });

  it("Leader Completeness: a new leader lacks a committed entry", () => {
    const c = cluster();
    lead(c, 1n, 1, [ent(3, 1, "a")]);
    follow(c, 2n, 1, 1n, [ent(3, 1, "a")], 2);
    // Leader 1 commits index 3.
    c.onReady(1n, ready({ hardState: hs(1, 1n, 3) }), 1);
    c.onPersist(1n);
    // Node 3 never got entry 3 but becomes leader of term 2.
    c.observe(3n, { term: 2, commit: 2, isLeader: true });
    expect(
      violation(() => c.onReady(3n, ready({ hardState: hs(2, 3n, 2), entries: [ent(3, 2)] }), 2)),
    ).toBe("Leader Completeness");
  });

  it("Leader Completeness: an entry committed in an earlier term is found later", () => {
    const c = cluster();
    lead(c, 1n, 1, [ent(3, 1, "a")]);
    follow(c, 2n, 1, 1n, [ent(3, 1, "a")], 2);
    // Node 3 leads term 2 without entry 3; nothing is known committed at 3 yet.
    lead(c, 3n, 2, [ent(3, 2, "")]);
    // Then leader 1's commit of index 3 (term 1) becomes durable: node 3 should have had it.
    c.onReady(1n, ready({ hardState: hs(1, 1n, 3) }), 1);
    expect(violation(() => c.onPersist(1n))).toBe("Leader Completeness");
  });

  it("State Machine Safety: two nodes apply different entries at one index", () => {
    const c = cluster();
    lead(c, 1n, 1, [ent(3, 1, "a")]);
    c.onReady(1n, ready({ hardState: hs(1, 1n, 3) }), 1);
    c.onPersist(1n);
    c.onApply(1n, ent(3, 1, "a"));
    // Node 2 (wrongly) believes a different entry 3 is committed: caught when its commit
    // becomes durable, before it even applies.
    expect(violation(() => follow(c, 2n, 2, 2n, [ent(3, 2, "z")], 3))).toBe("State Machine Safety");
    const d = cluster();
    lead(d, 1n, 1, [ent(3, 1, "a")], 3);
    d.onApply(1n, ent(3, 1, "a"));
    d.observe(2n, { term: 1, commit: 2, isLeader: false });
    d.onReady(2n, ready({ hardState: hs(1, 1n, 2), entries: [ent(3, 1, "a")] }), 1);
    d.onPersist(2n);
    d.onReady(2n, ready({ hardState: hs(1, 1n, 3) }), 1);
    d.onPersist(2n);
    expect(violation(() => d.onApply(2n, ent(3, 1, "b")))).toBe("State Machine Safety");
  });

  it("State Machine Safety: an entry applied twice or skipped", () => {
    const c = cluster();
    lead(c, 1n, 1, [ent(3, 1), ent(4, 1)], 4);
    expect(violation(() => c.onApply(1n, ent(4, 1)))).toBe("State Machine Safety");
  });

  it("Monotonic Term and Commit, across a crash of volatile state", () => {
    const c = cluster();
    follow(c, 2n, 3, None, [], 2);
    c.observe(2n, { term: 4, commit: 2, isLeader: false });
    c.onCrash(2n);
    // After a restart the volatile term may fall back to the durable one (3), not below.
    c.observe(2n, { term: 3, commit: 2, isLeader: false });
    expect(violation(() => c.observe(2n, { term: 2, commit: 2, isLeader: false }))).toBe(
      "Monotonic Term",
    );
    expect(violation(() => c.onReady(2n, ready({ hardState: hs(1, None, 2) }), 3))).toBe(
      "Monotonic Term",
    );
    const d = cluster();
    lead(d, 1n, 1, [ent(3, 1)], 3);
    expect(violation(() => d.observe(1n, { term: 1, commit: 2, isLeader: true }))).toBe(
      "Monotonic Commit",
    );
  });

  it("One Vote Per Term: a durable vote changes, or two grants leave", () => {
    const c = cluster();
    follow(c, 2n, 2, 1n, [], 2);
    expect(violation(() => c.onReady(2n, ready({ hardState: hs(2, 3n, 2) }), 2))).toBe(
      "One Vote Per Term",
    );
    const d = cluster();
    follow(d, 2n, 2, 1n, [], 2);
    const grant = (to: bigint): Message =>
      newMessage({ type: MessageType.MsgVoteResp, from: 2n, to, term: 2 });
    d.onSend(grant(1n));
    expect(violation(() => d.onSend(grant(3n)))).toBe("One Vote Per Term");
  });

  it("Durability Contract: a vote or an ack leaves before it is durable", () => {
    const c = cluster();
    c.observe(2n, { term: 2, commit: 2, isLeader: false });
    const rd = ready({
      hardState: hs(2, 1n, 2),
      messages: [newMessage({ type: MessageType.MsgVoteResp, from: 2n, to: 1n, term: 2 })],
    });
    expect(violation(() => c.onReady(2n, rd, 2))).toBe("Durability Contract");
    const d = cluster();
    // The grant is sent after persistence, but the durable state says another vote.
    expect(
      violation(() =>
        d.onSend(newMessage({ type: MessageType.MsgVoteResp, from: 2n, to: 1n, term: 2 })),
      ),
    ).toBe("Durability Contract");
    expect(
      violation(() =>
        d.onSend(newMessage({ type: MessageType.MsgAppResp, from: 2n, to: 1n, term: 1, index: 5 })),
      ),
    ).toBe("Durability Contract");
  });

  it("a leader may send MsgApp before persisting", () => {
    const c = cluster();
    c.observe(1n, { term: 2, commit: 2, isLeader: true });
    const m = newMessage({
      type: MessageType.MsgApp,
      from: 1n,
      to: 2n,
      term: 2,
      entries: [ent(3, 2)],
    });
    c.onReady(1n, ready({ hardState: hs(2, 1n, 2), entries: [ent(3, 2)], messages: [m] }), 2);
  });

  it("Applied <= Committed <= Last: commit past the end of the log", () => {
    const c = cluster();
    c.observe(2n, { term: 1, commit: 2, isLeader: false });
    expect(violation(() => c.onReady(2n, ready({ hardState: hs(1, None, 5) }), 1))).toBe(
      "Applied <= Committed <= Last",
    );
  });

  it("snapshots restore a chain that must match what was committed", () => {
    const c = cluster();
    lead(c, 1n, 1, [ent(3, 1, "a")], 3);
    c.onApply(1n, ent(3, 1, "a"));
    const good = chainHash(BASE.chain, 1, EntryType.Normal, enc.encode("a"));
    c.observe(3n, { term: 1, commit: 3, isLeader: false });
    c.onReady(
      3n,
      ready({ hardState: hs(1, None, 3), snapshot: { metadata: { index: 3, term: 1 } } }),
      1,
    );
    c.onPersist(3n);
    c.onRestore(3n, 3, good);
    expect(violation(() => c.onRestore(2n, 3, good + 1))).toBe("State Machine Safety");
  });
});

describe("ReadChecker", () => {
  it("accepts a read that covers every acknowledged write", () => {
    const r = new ReadChecker();
    r.onWriteAcked(7);
    r.onReadStart("r1", 0);
    r.onReadServed("r1", 7, 8);
  });

  it("rejects a stale read index", () => {
    const r = new ReadChecker();
    r.onWriteAcked(7);
    r.onReadStart("r1", 0);
    expect(violation(() => r.onReadServed("r1", 6, 9))).toBe("Read Linearizability");
  });

  it("a write acknowledged after the read started does not constrain it", () => {
    const r = new ReadChecker();
    r.onReadStart("r1", 0);
    r.onWriteAcked(9);
    r.onReadServed("r1", 3, 3);
  });
});
