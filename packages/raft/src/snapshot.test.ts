/** Snapshots: InstallSnapshot when entries were compacted, reporting, and restore. */
import { describe, expect, it } from "vitest";
import {
  b,
  ids,
  msg,
  Network,
  newNode,
  nodeWithLog,
  storageWith,
  TestNode,
  testConfig,
} from "./__tests__/util.js";
import { SnapshotTemporarilyUnavailableError } from "./storage.js";
import { MessageType, type Snapshot, SnapshotStatus, StateType } from "./types.js";

const cs3 = {
  voters: ids(3),
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
};

/** Compacts the leader's storage up to its applied index, keeping a snapshot there. */
function compactLeader(n: TestNode, data = "state"): Snapshot {
  const applied = n.raft.raftLog.applied;
  const snap = n.storage.createSnapshot(applied, n.status().config, b(data));
  n.storage.compact(applied);
  return snap;
}

describe("sending snapshots", () => {
  it("sends a snapshot to a follower that needs compacted entries, then resumes", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    nw.isolate(3);
    for (const x of ["a", "b", "c"]) nw.propose(1, x);
    const l = nw.node(1);
    compactLeader(l);
    nw.recover();
    nw.tickAll(1); // heartbeat -> response -> probe finds the entries gone -> MsgSnap
    const snaps = nw.log.filter((m) => m.type === MessageType.MsgSnap);
    expect(snaps.length).toBe(1);
    expect(snaps[0].snapshot?.metadata.index).toBe(4);
    const f = nw.node(3);
    expect(f.storage.snapshot().metadata.index).toBe(4);
    expect(f.raft.raftLog.committed).toBe(4);
    // The follower acked the snapshot: the leader moved it out of snapshot state already
    // (MsgAppResp at the snapshot index). The caller still reports the outcome.
    nw.act(1, (n) => n.rn.reportSnapshot(3n, SnapshotStatus.Finish));
    nw.propose(1, "d");
    expect(f.appliedData()).toEqual(["d"]);
    expect(l.status().progress.get(3n)?.state).toBe("replicate");
  });

  it("pauses replication in snapshot state until the snapshot is reported", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    nw.isolate(3);
    nw.propose(1, "a");
    const l = nw.node(1);
    compactLeader(l);
    nw.recover();
    nw.ignore(MessageType.MsgSnap); // the transport loses it
    nw.tickAll(1);
    let pr = l.status().progress.get(3n)!;
    expect([pr.state, pr.pendingSnapshot]).toEqual(["snapshot", 2]);
    nw.recover();
    const mark = nw.log.length;
    nw.propose(1, "b");
    // Nothing is sent to 3 while its snapshot is outstanding.
    expect(nw.log.slice(mark).filter((m) => m.to === 3n)).toEqual([]);
    nw.act(1, (n) => n.rn.reportSnapshot(3n, SnapshotStatus.Failure));
    pr = l.status().progress.get(3n)!;
    expect([pr.state, pr.pendingSnapshot]).toEqual(["probe", 0]);
    // The next heartbeat response resumes probing; a fresh snapshot goes out and lands.
    nw.tickAll(2);
    expect(nw.node(3).appliedData()).toEqual(["b"]);
    expect(nw.node(3).storage.snapshot().metadata.index).toBeGreaterThanOrEqual(2);
  });

  it("does not send a snapshot to a follower that was not recently active", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    nw.propose(1, "a");
    const l = nw.node(1);
    compactLeader(l);
    const pr = l.raft.trk.progress.get(3n)!;
    pr.recentActive = false;
    pr.becomeProbe();
    pr.next = 1;
    l.rn.step(msg({ type: MessageType.MsgHeartbeatResp, from: 3n, to: 1n, term: 1 }));
    // The heartbeat response itself marks it active again, so a snapshot does go out.
    expect(l.drain().some((m) => m.type === MessageType.MsgSnap)).toBe(true);
    pr.becomeProbe();
    pr.next = 1;
    pr.recentActive = false;
    l.rn.reportUnreachable(3n);
    l.raft.pendingBcast = true;
    expect(l.drain().some((m) => m.type === MessageType.MsgSnap)).toBe(false);
  });

  it("retries later when the storage has no snapshot ready", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    nw.isolate(3);
    nw.propose(1, "a");
    const l = nw.node(1);
    compactLeader(l);
    const real = l.storage.snapshot.bind(l.storage);
    let unavailable = true;
    l.storage.snapshot = () => {
      if (unavailable) throw new SnapshotTemporarilyUnavailableError();
      return real();
    };
    nw.recover();
    nw.tickAll(1);
    expect(l.status().progress.get(3n)?.state).toBe("probe");
    unavailable = false;
    nw.tickAll(2);
    expect(nw.node(3).storage.snapshot().metadata.index).toBe(2);
  });
});

describe("restoring snapshots on a follower", () => {
  const snap = (index: number, term: number): Snapshot => ({
    metadata: { index, term, confState: cs3 },
    data: b("snapdata"),
  });

  it("restores a newer snapshot: the log is reset to it", () => {
    const n = nodeWithLog(2n, ids(3), [1, 1, 1], { term: 1, commit: 1 });
    n.rn.step(msg({ type: MessageType.MsgSnap, from: 1n, to: 2n, term: 2, snapshot: snap(11, 2) }));
    expect(n.raft.raftLog.lastIndex()).toBe(11);
    expect(n.raft.raftLog.committed).toBe(11);
    expect(n.raft.raftLog.lastTerm()).toBe(2);
    const rd = n.rn.ready();
    expect(rd.snapshot?.metadata.index).toBe(11);
    expect(rd.committedEntries).toEqual([]);
    expect(rd.messagesAfterPersist.map((m) => [m.type, m.index])).toEqual([
      [MessageType.MsgAppResp, 11],
    ]);
    n.persist(rd);
    n.rn.advance(rd);
    expect(n.raft.raftLog.applied).toBe(11);
    expect(n.storage.firstIndex()).toBe(12);
    // Entries after the snapshot append normally.
    n.rn.step(
      msg({
        type: MessageType.MsgApp,
        from: 1n,
        to: 2n,
        term: 2,
        logTerm: 2,
        index: 11,
        commit: 12,
        entries: [{ term: 2, index: 12, type: 0, data: b("x") }],
      }),
    );
    n.drain();
    expect(n.appliedData()).toEqual(["x"]);
  });

  it("ignores a snapshot at or below its commit index", () => {
    const n = nodeWithLog(2n, ids(3), [1, 1, 1], { term: 1, commit: 3 });
    n.rn.step(msg({ type: MessageType.MsgSnap, from: 1n, to: 2n, term: 1, snapshot: snap(2, 1) }));
    const rd = n.rn.ready();
    expect(rd.snapshot).toBeUndefined();
    expect(rd.messagesAfterPersist.map((m) => [m.type, m.index])).toEqual([
      [MessageType.MsgAppResp, 3],
    ]);
  });

  it("fast-forwards the commit index when its log already has the snapshot's entry", () => {
    const n = nodeWithLog(2n, ids(3), [1, 1, 1, 1], { term: 1, commit: 1 });
    n.rn.step(msg({ type: MessageType.MsgSnap, from: 1n, to: 2n, term: 1, snapshot: snap(3, 1) }));
    expect(n.raft.raftLog.committed).toBe(3);
    expect(n.raft.raftLog.lastIndex()).toBe(4); // entries kept
    expect(n.rn.ready().snapshot).toBeUndefined();
  });

  it("refuses a snapshot whose configuration does not include it", () => {
    const n = newNode(4n, ids(3));
    const s = { ...snap(5, 1), metadata: { ...snap(5, 1).metadata } };
    n.rn.step(msg({ type: MessageType.MsgSnap, from: 1n, to: 4n, term: 1, snapshot: s }));
    expect(n.raft.raftLog.lastIndex()).toBe(0);
  });

  it("a node that installed a snapshot cannot campaign until it is persisted", () => {
    const n = nodeWithLog(2n, ids(3), [1], { term: 1 });
    n.rn.step(msg({ type: MessageType.MsgSnap, from: 1n, to: 2n, term: 2, snapshot: snap(5, 2) }));
    n.rn.campaign();
    expect(n.raft.state).toBe(StateType.Follower);
    n.drain();
    n.rn.campaign();
    expect(n.raft.state).toBe(StateType.Candidate);
  });

  it("a new node joins from a snapshot that carries the configuration", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    nw.propose(1, "a");
    const s4 = storageWith([]);
    const n4 = new TestNode(s4, testConfig(4n, s4));
    nw.nodes.set(4n, n4);
    // The leader's log is compacted before 4 hears from it: 4 must get a snapshot (its
    // log replay alone would not tell it the initial membership).
    nw.isolate(4);
    nw.act(1, (n) =>
      n.rn.proposeConfChange({ type: 0, nodeId: 4n, context: new Uint8Array(0), id: 0n }),
    );
    compactLeader(nw.node(1));
    nw.recover();
    nw.tickAll(3);
    expect(s4.snapshot().metadata.confState.voters).toEqual([1n, 2n, 3n, 4n]);
    expect(n4.status().config.voters).toEqual([1n, 2n, 3n, 4n]);
    nw.propose(1, "b");
    expect(n4.appliedData()).toEqual(["b"]);
  });
});

describe("snapshot while a conf change is being applied", () => {
  it("is refused until the application advanced, then accepted", () => {
    const n = nodeWithLog(2n, ids(3), [1], { term: 1, commit: 1 }, { applied: 1 });
    n.raft.becomeFollower(1, 1n);
    // The leader sends a committed conf change (add learner 4).
    const enc = Uint8Array.from([
      0xc1, 3, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    n.rn.step(
      msg({
        type: MessageType.MsgApp,
        from: 1n,
        to: 2n,
        term: 1,
        logTerm: 1,
        index: 1,
        commit: 2,
        entries: [{ term: 1, index: 2, type: 1, data: enc }],
      }),
    );
    const rd = n.rn.ready();
    expect(rd.committedEntries.map((e) => e.type)).toEqual([1]);
    // Before rd is applied, a snapshot whose configuration already has learner 4 arrives.
    const cs = {
      voters: ids(3),
      learners: [4n],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    };
    const snap = { metadata: { index: 9, term: 1, confState: cs }, data: b("s") };
    n.rn.step(msg({ type: MessageType.MsgSnap, from: 1n, to: 2n, term: 1, snapshot: snap }));
    expect(n.raft.raftLog.committed).toBe(2); // refused
    n.persist(rd);
    n.apply(rd); // applyConfChange(add learner 4) works on the pre-snapshot config
    n.rn.advance(rd);
    n.drain();
    expect(n.status().config.learners).toEqual([4n]);
    n.rn.step(msg({ type: MessageType.MsgSnap, from: 1n, to: 2n, term: 1, snapshot: snap }));
    expect(n.raft.raftLog.committed).toBe(9);
  });
});
