/** Learners and membership changes: simple and joint consensus (thesis §4). */
import { describe, expect, it } from "vitest";
import { b, ids, Network, newNode, storageWith, TestNode, testConfig } from "./__tests__/util.js";
import { decodeConfChangeV2, encodeConfChangeV2 } from "./conf-change.js";
import { ConfChangeError } from "./errors.js";
import { MemoryStorage } from "./memory-storage.js";
import {
  type ConfChange,
  ConfChangeTransition,
  ConfChangeType,
  type ConfChangeV2,
  EntryType,
  MessageType,
  StateType,
} from "./types.js";

const cc = (type: ConfChangeType, nodeId: bigint): ConfChange => ({
  type,
  nodeId,
  context: new Uint8Array(0),
  id: 0n,
});
const v2 = (
  transition: ConfChangeTransition,
  ...changes: [ConfChangeType, bigint][]
): ConfChangeV2 => ({
  transition,
  changes: changes.map(([type, nodeId]) => ({ type, nodeId })),
  context: new Uint8Array(0),
});
const { AddNode, RemoveNode, AddLearnerNode } = ConfChangeType;

/** Adds a node that joins with an empty log and no configuration (etcd's join flow). */
function joiner(nw: Network, id: bigint, over = {}): TestNode {
  const s = storageWith([]);
  const n = new TestNode(s, testConfig(id, s, over));
  nw.nodes.set(id, n);
  return n;
}

describe("learners", () => {
  it("a learner receives entries but never votes toward commit nor campaigns", () => {
    const peers = ids(2);
    const nw = new Network([
      newNode(1n, peers, {}, [3n]),
      newNode(2n, peers, {}, [3n]),
      newNode(3n, peers, {}, [3n]),
    ]);
    nw.campaign(1);
    nw.propose(1, "a");
    expect(nw.node(3).appliedData()).toEqual(["a"]);
    expect(nw.node(3).raft.isLearner).toBe(true);
    // A learner never campaigns, however long it waits.
    for (let i = 0; i < 100; i++) nw.node(3).rn.tick();
    nw.node(3).rn.campaign();
    expect(nw.node(3).state).toBe(StateType.Follower);
    // The learner's ack does not count: with 2 down, nothing commits.
    nw.isolate(2);
    const c0 = nw.node(1).raft.raftLog.committed;
    nw.propose(1, "b");
    expect(nw.node(1).raft.raftLog.committed).toBe(c0);
    expect(nw.node(1).status().progress.get(3n)!.match).toBe(c0 + 1);
  });

  it("a learner is promoted to voter", () => {
    const peers = ids(2);
    const nw = new Network([
      newNode(1n, peers, {}, [3n]),
      newNode(2n, peers, {}, [3n]),
      newNode(3n, peers, {}, [3n]),
    ]);
    nw.campaign(1);
    nw.act(1, (n) => n.rn.proposeConfChange(cc(AddNode, 3n)));
    for (const n of nw.nodes.values()) {
      expect(n.confState?.voters).toEqual([1n, 2n, 3n]);
      expect(n.confState?.learners).toEqual([]);
    }
    expect(nw.node(3).raft.isLearner).toBe(false);
    nw.isolate(1);
    nw.campaign(3);
    expect(nw.node(3).state).toBe(StateType.Leader);
  });
});

describe("simple membership changes", () => {
  it("adds a new (empty) node that catches up from the leader", () => {
    const nw = Network.bootstrapped(3);
    nw.campaign(1);
    nw.propose(1, "a");
    joiner(nw, 4n);
    nw.act(1, (n) => n.rn.proposeConfChange(cc(AddNode, 4n)));
    nw.propose(1, "b");
    nw.tickAll(2);
    expect(nw.node(4).appliedData()).toEqual(["a", "b"]);
    expect(nw.node(1).status().config.voters).toEqual([1n, 2n, 3n, 4n]);
    expect(nw.node(4).status().config.voters).toEqual([1n, 2n, 3n, 4n]);
  });

  it("removes a follower; it stops counting", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    nw.act(1, (n) => n.rn.proposeConfChange(cc(RemoveNode, 3n)));
    expect(nw.node(1).status().config.voters).toEqual([1n, 2n]);
    expect(nw.node(1).raft.trk.progress.has(3n)).toBe(false);
    nw.isolate(3);
    nw.propose(1, "after");
    expect(nw.node(2).appliedData()).toEqual(["after"]);
  });

  it("removing the leader makes it step down; the others elect a new leader", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    nw.act(1, (n) => n.rn.proposeConfChange(cc(RemoveNode, 1n)));
    expect(nw.node(1).state).toBe(StateType.Follower);
    expect(nw.node(2).status().config.voters).toEqual([2n, 3n]);
    for (let i = 0; i < 30 && nw.leader() === undefined; i++) nw.tickAll(1);
    const leader = nw.leader()!;
    expect([2n, 3n]).toContain(leader.id);
    nw.propose(Number(leader.id), "x");
    expect(nw.node(2).appliedData()).toEqual(["x"]);
    // The removed node cannot campaign and its proposals are not accepted by itself.
    nw.node(1).rn.campaign();
    expect(nw.node(1).state).toBe(StateType.Follower);
  });

  it("a removed leader that has not applied its removal drops proposals", () => {
    const n = newNode(1n, [1n, 2n]);
    n.raft.becomeCandidate();
    n.raft.becomeLeader();
    n.rn.applyConfChange(cc(RemoveNode, 1n));
    n.raft.abortLeaderTransfer(); // isolate the membership check from the hand-off
    expect(n.raft.state).toBe(StateType.Leader);
    expect(() => n.rn.propose(b("x"))).toThrow(/not a voter/);
    expect(() => n.rn.proposeConfChange(cc(AddNode, 3n))).toThrow(/not a voter/);
  });

  it("only one conf change may be pending: a second becomes an empty entry", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    nw.ignore(MessageType.MsgApp); // keep the first change uncommitted
    const l = nw.node(1);
    l.rn.proposeConfChange(cc(AddLearnerNode, 4n));
    l.rn.proposeConfChange(cc(AddLearnerNode, 5n));
    l.drain();
    const ents = l.raft.raftLog.allEntries().slice(-2);
    expect(ents.map((e) => e.type)).toEqual([EntryType.ConfChange, EntryType.Normal]);
    expect(ents[1].data.byteLength).toBe(0);
  });

  it("a new leader does not accept a conf change while one may be unapplied in its log", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    nw.ignore(MessageType.MsgAppResp); // the change replicates but does not commit
    nw.act(1, (n) => n.rn.proposeConfChange(cc(AddLearnerNode, 4n)));
    nw.recover();
    nw.isolate(1);
    nw.ignore(MessageType.MsgApp); // the new leader cannot commit anything yet
    nw.campaign(2);
    const l = nw.node(2);
    expect(l.state).toBe(StateType.Leader);
    expect(l.raft.pendingConfIndex).toBeGreaterThanOrEqual(2);
    l.rn.proposeConfChange(cc(AddLearnerNode, 5n));
    l.drain();
    const last = l.raft.raftLog.allEntries().at(-1)!;
    expect([last.type, last.data.byteLength]).toEqual([EntryType.Normal, 0]);
    // Once everything is applied, a change is accepted again.
    nw.recover();
    nw.isolate(1);
    nw.tickAll(2);
    expect(l.raft.raftLog.applied).toBe(l.raft.raftLog.committed);
    nw.act(2, (n) => n.rn.proposeConfChange(cc(AddLearnerNode, 5n)));
    expect(l.status().config.learners).toEqual([4n, 5n]);
  });

  it("a change that would remove every voter is replaced by an empty entry", () => {
    const n = newNode(1n, [1n]);
    n.rn.campaign();
    n.drain();
    n.rn.proposeConfChange(cc(RemoveNode, 1n));
    n.drain();
    const last = n.raft.raftLog.allEntries().at(-1)!;
    expect(last.type).toBe(EntryType.Normal);
    expect(n.status().config.voters).toEqual([1n]);
  });

  it("applyConfChange throws on an invalid change (caller bug)", () => {
    const n = newNode(1n, [1n]);
    expect(() => n.rn.applyConfChange(cc(RemoveNode, 1n))).toThrow(ConfChangeError);
  });
});

describe("joint consensus", () => {
  it("replaces two voters through a joint configuration left automatically", () => {
    const nw = Network.bootstrapped(3);
    joiner(nw, 4n);
    joiner(nw, 5n);
    nw.campaign(1);
    nw.act(1, (n) =>
      n.rn.proposeConfChange(
        v2(
          ConfChangeTransition.Auto,
          [AddNode, 4n],
          [AddNode, 5n],
          [RemoveNode, 2n],
          [RemoveNode, 3n],
        ),
      ),
    );
    nw.tickAll(3);
    const l = nw.node(1);
    expect(l.status().config).toEqual({
      voters: [1n, 4n, 5n],
      learners: [],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    });
    // Both transitions are in the log: enter joint, then the automatic leave.
    const ccs = l.applied
      .filter((e) => e.type === EntryType.ConfChangeV2)
      .map((e) => decodeConfChangeV2(e.data));
    expect(ccs.map((c) => c.changes.length)).toEqual([4, 0]);
    nw.isolate(2);
    nw.isolate(3);
    nw.propose(1, "new config");
    expect(nw.node(4).appliedData()).toEqual(["new config"]);
  });

  it("while joint, commit needs a majority of both configurations", () => {
    const nw = Network.bootstrapped(3);
    joiner(nw, 4n);
    nw.campaign(1);
    nw.act(1, (n) =>
      n.rn.proposeConfChange(
        v2(ConfChangeTransition.JointExplicit, [AddNode, 4n], [RemoveNode, 3n]),
      ),
    );
    const l = nw.node(1);
    expect(l.status().config.votersOutgoing).toEqual([1n, 2n, 3n]);
    expect(l.status().config.voters).toEqual([1n, 2n, 4n]);
    // Explicit: stays joint.
    nw.tickAll(3);
    expect(l.status().config.votersOutgoing).toEqual([1n, 2n, 3n]);
    // 1 and 4 are a majority of the new config but not of the old one.
    nw.isolate(2);
    nw.isolate(3);
    const c0 = l.raft.raftLog.committed;
    nw.propose(1, "x");
    expect(l.raft.raftLog.committed).toBe(c0);
    nw.recover();
    nw.isolate(3);
    nw.tickAll(2);
    expect(l.raft.raftLog.committed).toBeGreaterThan(c0);
  });

  it("conf changes other than leaving are refused while joint; leaving is explicit", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    nw.act(1, (n) =>
      n.rn.proposeConfChange(v2(ConfChangeTransition.JointExplicit, [AddLearnerNode, 4n])),
    );
    const l = nw.node(1);
    expect(l.status().config.votersOutgoing).toEqual([1n, 2n, 3n]);
    nw.act(1, (n) => n.rn.proposeConfChange(cc(AddLearnerNode, 5n)));
    expect(l.status().config.learners).toEqual([4n]);
    nw.act(1, (n) => n.rn.proposeConfChange(v2(ConfChangeTransition.Auto)));
    expect(l.status().config).toEqual({
      voters: [1n, 2n, 3n],
      learners: [4n],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    });
    // Leaving when not joint is refused (empty entry).
    const before = l.raft.raftLog.lastIndex();
    nw.act(1, (n) => n.rn.proposeConfChange(v2(ConfChangeTransition.Auto)));
    const last = l.raft.raftLog.allEntries().at(-1)!;
    expect([last.index, last.type]).toEqual([before + 1, EntryType.Normal]);
  });

  it("demotes a voter to learner through learnersNext", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    nw.act(1, (n) =>
      n.rn.proposeConfChange(v2(ConfChangeTransition.JointImplicit, [AddLearnerNode, 3n])),
    );
    nw.tickAll(2);
    expect(nw.node(2).status().config).toEqual({
      voters: [1n, 2n],
      learners: [3n],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    });
    expect(nw.node(3).raft.isLearner).toBe(true);
  });

  it("the leader leaving the configuration through joint consensus steps down at the end", () => {
    const nw = Network.bootstrapped(3);
    joiner(nw, 4n);
    nw.campaign(1);
    nw.act(1, (n) =>
      n.rn.proposeConfChange(
        v2(ConfChangeTransition.JointImplicit, [AddNode, 4n], [RemoveNode, 1n]),
      ),
    );
    nw.tickAll(2);
    expect(nw.node(1).state).toBe(StateType.Follower);
    for (let i = 0; i < 40 && nw.leader()?.id === undefined; i++) nw.tickAll(1);
    const leader = nw.leader()!;
    expect([2n, 3n, 4n]).toContain(leader.id);
    expect(leader.status().config.voters).toEqual([2n, 3n, 4n]);
  });

  it("restarts in a joint configuration", () => {
    const s = storageWith([]);
    s.setConfState({
      voters: [1n, 2n, 4n],
      votersOutgoing: [1n, 2n, 3n],
      learners: [],
      learnersNext: [],
      autoLeave: true,
    });
    const n = new TestNode(s, testConfig(1n, s));
    expect(n.status().config.votersOutgoing).toEqual([1n, 2n, 3n]);
    expect(n.raft.trk.config.autoLeave).toBe(true);
  });

  it("encodes a V2 change that the codec round-trips", () => {
    const c = v2(ConfChangeTransition.JointExplicit, [AddNode, 4n]);
    expect(decodeConfChangeV2(encodeConfChangeV2(c))).toEqual(c);
  });
});

describe("bootstrap", () => {
  it("writes the initial membership into the log, committed at term 1", () => {
    const s = storageWith([]);
    const n = new TestNode(s, testConfig(1n, s));
    n.rn.bootstrap([{ id: 1n }, { id: 2n }, { id: 3n }]);
    expect(n.status().config.voters).toEqual([1n, 2n, 3n]);
    const rd = n.rn.ready();
    expect(rd.hardState).toEqual({ term: 1, vote: 0n, commit: 3 });
    expect(rd.entries.map((e) => [e.term, e.index, e.type])).toEqual([
      [1, 1, EntryType.ConfChange],
      [1, 2, EntryType.ConfChange],
      [1, 3, EntryType.ConfChange],
    ]);
    expect(rd.committedEntries.length).toBe(3);
    n.persist(rd);
    n.apply(rd);
    n.rn.advance(rd);
    expect(n.confState?.voters).toEqual([1n, 2n, 3n]);
    expect(() => n.rn.bootstrap([{ id: 1n }])).toThrow(/nonempty/);
  });
});

describe("removing the leader: liveness", () => {
  it("a removed leader hands leadership to a caught-up voter before stepping down", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    nw.act(1, (n) => n.rn.proposeConfChange(cc(RemoveNode, 1n)));
    const timeoutNow = nw.log.filter((m) => m.type === MessageType.MsgTimeoutNow);
    expect(timeoutNow.map((m) => [m.from, m.to])).toEqual([[1n, 2n]]);
    expect(nw.node(2).state).toBe(StateType.Leader);
    expect(nw.node(2).raft.term).toBe(2);
    expect(nw.node(1).state).toBe(StateType.Follower);
  });

  it("a removed leader refuses proposals while handing off and steps down if it cannot", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    nw.ignore(MessageType.MsgTimeoutNow);
    nw.propose(1, "a");
    // 2 and 3 get the removal but not the final commit index or the hand-off.
    nw.act(1, (n) => n.rn.proposeConfChange(cc(RemoveNode, 1n)));
    const l = nw.node(1);
    expect(l.raft.isRemovedLeader()).toBe(false); // already stepped down after TimeoutNow
    expect(l.state).toBe(StateType.Follower);
    nw.recover();
    for (let i = 0; i < 40 && nw.leader() === undefined; i++) nw.tickAll(1);
    expect([2n, 3n]).toContain(nw.leader()?.id);
  });

  it("a removed leader whose hand-off stalls gives up after an election timeout", () => {
    const n = newNode(1n, ids(2));
    n.raft.becomeCandidate();
    n.raft.becomeLeader();
    n.drain();
    // Remove 1 while 2 has not acknowledged anything: 2 is not caught up.
    n.rn.applyConfChange(cc(RemoveNode, 1n));
    expect(n.raft.state).toBe(StateType.Leader);
    expect(n.raft.leadTransferee).toBe(2n);
    expect(() => n.rn.propose(b("x"))).toThrow(/not a voter|transfer/);
    for (let i = 0; i < n.raft.electionTimeout; i++) n.rn.tick();
    expect(n.raft.state).toBe(StateType.Follower);
  });

  it("nodes learn the commit index from a vote rejection and can then elect a leader", () => {
    // Two voters; leader 1 removes itself. 2 persists the removal, but neither the commit
    // index nor 1's later entry reaches it; 1 steps down before handing off (2's election
    // deposes it). 1 refuses 2's vote (its log is longer) and is no longer a voter, but its
    // rejection tells 2 that the removal committed.
    const nw = Network.of(2);
    nw.campaign(1);
    const l = nw.node(1);
    const f = nw.node(2);
    l.rn.proposeConfChange(cc(RemoveNode, 1n));
    const app = l.drain().find((m) => m.type === MessageType.MsgApp)!;
    f.rn.step(app);
    const ack = f.drain();
    l.rn.propose(b("extra")); // its MsgApp is lost
    l.drain();
    l.rn.step(ack[0]); // the removal commits; 1 applies it and starts handing off
    l.drain(); // ...but everything it sends now is lost
    expect(l.raft.isRemovedLeader()).toBe(true);
    expect(f.raft.raftLog.committed).toBeLessThan(l.raft.raftLog.committed);
    // 2 times out first and deposes 1, which refuses its vote (1's log is longer).
    for (let i = 0; i < 25 && f.state === StateType.Follower; i++) {
      f.rn.tick();
      nw.send();
    }
    for (let i = 0; i < 60 && nw.leader() === undefined; i++) nw.tickAll(1);
    expect(nw.leader()?.id).toBe(2n);
    expect(f.status().config.voters).toEqual([2n]);
    expect(nw.log.some((m) => m.type === MessageType.MsgVoteResp && m.reject && m.commit > 0)).toBe(
      true,
    );
  });
});

describe("a cluster bootstrapped with new MemoryStorage(confState)", () => {
  it("starts its log at index 2; a joining node learns the membership from a snapshot", () => {
    const peers = ids(3);
    const nw = new Network(
      peers.map((id) => {
        const s = new MemoryStorage({ voters: peers });
        return new TestNode(s, testConfig(id, s));
      }),
    );
    nw.campaign(1);
    expect(nw.node(1).raft.term).toBe(2);
    expect(nw.node(1).raft.raftLog.firstIndex()).toBe(2);
    nw.propose(1, "a");
    joiner(nw, 4n);
    nw.isolate(4);
    nw.act(1, (n) => n.rn.proposeConfChange(cc(AddLearnerNode, 4n)));
    // The application snapshots its state (the snapshot a joiner gets must name it).
    const l = nw.node(1);
    l.storage.createSnapshot(l.raft.raftLog.applied, l.status().config, b("state"));
    nw.recover();
    nw.tickAll(3);
    expect(nw.log.some((m) => m.type === MessageType.MsgSnap && m.to === 4n)).toBe(true);
    expect(nw.node(4).status().config).toEqual({
      voters: peers,
      learners: [4n],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    });
    nw.propose(1, "b");
    expect(nw.node(4).appliedData()).toEqual(["b"]);
  });
});
