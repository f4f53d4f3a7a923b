/** Restart from persisted HardState, ConfState, log and snapshot. */
import { describe, expect, it } from "vitest";
import {
  b,
  ids,
  mulberry32,
  Network,
  newNode,
  nodeWithLog,
  str,
  TestNode,
  testConfig,
} from "./__tests__/util.js";
import { describeReady } from "./describe.js";
import { MemoryStorage } from "./memory-storage.js";
import { EntryType, MessageType, StateType } from "./types.js";

/** A copy of a MemoryStorage's durable state (what survives a crash). */
function cloneStorage(s: MemoryStorage): MemoryStorage {
  const c = new MemoryStorage();
  const snap = s.snapshot();
  if (snap.metadata.index > 0) c.applySnapshot(snap);
  const { hardState, confState } = s.initialState();
  c.setConfState(confState);
  c.setHardState(hardState);
  if (s.lastIndex() >= s.firstIndex())
    c.append(s.entries(s.firstIndex(), s.lastIndex() + 1, Number.MAX_SAFE_INTEGER));
  return c;
}

describe("restart", () => {
  it("restores term, vote, commit and log; hands out committed entries after `applied`", () => {
    const n = nodeWithLog(1n, ids(3), [1, 1, 2], { term: 2, vote: 2n, commit: 3 }, { applied: 1 });
    expect([n.raft.term, n.raft.vote, n.raft.raftLog.committed, n.raft.raftLog.applied]).toEqual([
      2,
      2n,
      3,
      1,
    ]);
    expect(n.raft.state).toBe(StateType.Follower);
    const rd = n.rn.ready();
    expect(rd.hardState).toBeUndefined(); // nothing changed since the persisted state
    expect(rd.entries).toEqual([]);
    expect(rd.committedEntries.map((e) => e.index)).toEqual([2, 3]);
  });

  it("restores from a snapshot plus the entries after it", () => {
    const s = new MemoryStorage();
    const cs = {
      voters: ids(3),
      learners: [],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    };
    s.applySnapshot({ metadata: { index: 10, term: 3, confState: cs }, data: b("snap") });
    s.append([
      { term: 3, index: 11, type: EntryType.Normal, data: b("x") },
      { term: 4, index: 12, type: EntryType.Normal, data: b("y") },
    ]);
    s.setHardState({ term: 4, vote: 1n, commit: 12 });
    const n = new TestNode(s, testConfig(1n, s, { applied: 10 }));
    expect([
      n.raft.raftLog.firstIndex(),
      n.raft.raftLog.lastIndex(),
      n.raft.raftLog.applied,
    ]).toEqual([11, 12, 10]);
    expect(n.status().config.voters).toEqual(ids(3));
    n.drain();
    expect(n.appliedData()).toEqual(["x", "y"]);
  });

  it("refuses a HardState whose commit is past the end of the log", () => {
    const s = new MemoryStorage({ voters: [1n] });
    s.setHardState({ term: 1, vote: 0n, commit: 5 });
    expect(() => new TestNode(s, testConfig(1n, s))).toThrow(/out of range/);
  });

  it("two nodes built from the same storage and seed behave identically", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    for (const x of ["a", "b", "c"]) nw.propose(1, x);
    const src = nw.node(2);
    const applied = src.raft.raftLog.applied;
    const mk = () => {
      const s = cloneStorage(src.storage);
      return new TestNode(s, testConfig(2n, s, { applied, random: mulberry32(99) }));
    };
    const x = mk();
    const y = mk();
    const trace = (n: TestNode) => {
      const out: string[] = [];
      for (let i = 0; i < 25; i++) {
        n.rn.tick();
        while (n.rn.hasReady()) {
          const rd = n.rn.ready();
          out.push(describeReady(rd));
          n.persist(rd);
          n.rn.advance(rd);
        }
      }
      return out;
    };
    const tx = trace(x);
    expect(tx.length).toBeGreaterThan(0);
    expect(tx).toEqual(trace(y));
  });

  it("a whole cluster restarts from storage, keeps its log and elects a leader", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    for (const x of ["a", "b"]) nw.propose(1, x);
    const restarted = new Network(
      [...nw.nodes.values()].map((n) => {
        const s = cloneStorage(n.storage);
        const r = new TestNode(s, testConfig(n.id, s, { applied: n.raft.raftLog.applied }));
        r.applied = n.applied.slice();
        return r;
      }),
    );
    for (const n of restarted.nodes.values()) expect(n.raft.raftLog.lastIndex()).toBe(3);
    for (let i = 0; i < 40 && restarted.leader() === undefined; i++) restarted.tickAll(1);
    const l = restarted.leader()!;
    expect(l.raft.term).toBeGreaterThan(1);
    restarted.propose(Number(l.id), "c");
    for (const n of restarted.nodes.values()) expect(n.appliedData()).toEqual(["a", "b", "c"]);
  });

  it("a follower that crashed before persisting a Ready acknowledged nothing from it", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    const f = nw.node(3);
    const before = cloneStorage(f.storage);
    // 3 receives an entry but crashes before its Ready is persisted: its ack never leaves.
    const l = nw.node(1);
    l.rn.propose(b("a"));
    const rd = l.rn.ready();
    l.persist(rd);
    const app = rd.messages.find((m) => m.to === 3n)!;
    l.rn.advance(rd);
    f.rn.step(app);
    const frd = f.rn.ready();
    expect(frd.messagesAfterPersist.map((m) => m.type)).toEqual([MessageType.MsgAppResp]);
    // crash: frd is dropped; restart from `before`
    const f2 = new TestNode(before, testConfig(3n, before, { applied: f.raft.raftLog.applied }));
    expect(f2.raft.raftLog.lastIndex()).toBe(1);
    nw.nodes.set(3n, f2);
    nw.send(...rd.messages.filter((m) => m.to === 2n));
    nw.tickAll(2);
    expect(f2.appliedData()).toEqual(["a"]);
    expect(str(f2.applied.at(-1)!.data)).toBe("a");
  });

  it("a single node restarts and becomes leader again", () => {
    const n = newNode(1n, [1n]);
    n.rn.campaign();
    n.rn.propose(b("a"));
    n.drain();
    const s = cloneStorage(n.storage);
    const r = new TestNode(s, testConfig(1n, s, { applied: n.raft.raftLog.applied }));
    for (let i = 0; i < 25 && r.raft.state !== StateType.Leader; i++) r.rn.tick();
    expect(r.raft.state).toBe(StateType.Leader);
    expect(r.raft.term).toBe(2);
    r.rn.propose(b("b"));
    r.drain();
    expect(r.appliedData()).toEqual(["b"]);
  });
});

describe("restart with a stale commit index", () => {
  it("raises the commit index to the applied index (the commit was not fsynced)", () => {
    const n = nodeWithLog(1n, ids(3), [1, 1, 1, 1], { term: 1, commit: 2 }, { applied: 3 });
    expect([n.raft.raftLog.committed, n.raft.raftLog.applied]).toEqual([3, 3]);
    expect(n.rn.ready().committedEntries).toEqual([]);
  });

  it("throws if the applied index is past the end of the log (lost entries)", () => {
    expect(() => nodeWithLog(1n, ids(3), [1, 1], { term: 1, commit: 2 }, { applied: 3 })).toThrow(
      /out of range/,
    );
  });
});
