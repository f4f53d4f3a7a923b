/** Pre-vote (thesis §9.6), check-quorum and leader leases (thesis §6.2, §4.2.3). */
import { describe, expect, it } from "vitest";
import { b, ids, msg, Network, newNode } from "./__tests__/util.js";
import { MessageType, StateType } from "./types.js";

describe("pre-vote", () => {
  it("elects a leader through a pre-vote round", () => {
    const nw = Network.of(3, { preVote: true });
    nw.campaign(1);
    expect(nw.node(1).state).toBe(StateType.Leader);
    expect(nw.node(1).raft.term).toBe(1);
    const types = nw.log.map((m) => m.type);
    expect(types.indexOf(MessageType.MsgPreVote)).toBeLessThan(types.indexOf(MessageType.MsgVote));
  });

  it("a pre-candidate does not change its term or vote", () => {
    const n = newNode(1n, ids(3), { preVote: true });
    n.rn.campaign();
    expect(n.raft.state).toBe(StateType.PreCandidate);
    expect(n.raft.term).toBe(0);
    expect(n.raft.vote).toBe(0n);
    const rd = n.rn.ready();
    expect(rd.messagesAfterPersist.map((m) => [m.type, m.term])).toEqual([
      [MessageType.MsgPreVote, 1],
      [MessageType.MsgPreVote, 1],
    ]);
    expect(rd.hardState).toBeUndefined();
  });

  it("a partitioned node does not disrupt the cluster when it rejoins", () => {
    const nw = Network.of(3, { preVote: true });
    nw.campaign(1);
    nw.propose(1, "a");
    nw.isolate(3);
    for (let i = 0; i < 100; i++) nw.node(3).rn.tick();
    nw.send();
    // Without pre-vote node 3 would have bumped its term many times.
    expect(nw.node(3).raft.term).toBe(1);
    expect(nw.node(3).state).toBe(StateType.PreCandidate);
    nw.recover();
    nw.tickAll(3);
    expect(nw.node(1).state).toBe(StateType.Leader);
    expect(nw.node(1).raft.term).toBe(1);
    expect(nw.node(3).state).toBe(StateType.Follower);
    nw.propose(1, "b");
    expect(nw.node(3).appliedData()).toEqual(["a", "b"]);
  });

  it("a pre-vote is rejected by a node with a more up-to-date log", () => {
    const nw = Network.of(3, { preVote: true });
    nw.campaign(1);
    nw.isolate(3);
    nw.propose(1, "a");
    nw.recover();
    nw.isolate(1);
    // 3 lacks "a": 2 rejects its pre-vote, so no term is bumped anywhere.
    nw.campaign(3);
    expect(nw.node(3).state).toBe(StateType.PreCandidate);
    expect(nw.node(3).raft.term).toBe(1);
    expect(nw.node(2).raft.term).toBe(1);
    nw.campaign(2);
    expect(nw.node(2).state).toBe(StateType.Leader);
    expect(nw.node(2).raft.term).toBe(2);
  });

  it("a rejected pre-vote with a higher term updates the pre-candidate's term", () => {
    const n = newNode(1n, ids(3), { preVote: true });
    n.rn.campaign();
    n.rn.step(msg({ type: MessageType.MsgPreVoteResp, from: 2n, to: 1n, term: 5, reject: true }));
    expect(n.raft.term).toBe(5);
    expect(n.raft.state).toBe(StateType.Follower);
  });

  it("a pre-vote from a lower term is rejected with our term", () => {
    const n = newNode(1n, ids(3), { preVote: true });
    n.raft.becomeFollower(5, 2n);
    n.rn.step(msg({ type: MessageType.MsgPreVote, from: 3n, to: 1n, term: 3 }));
    const out = n.drain();
    expect(out.map((m) => [m.type, m.term, m.reject])).toEqual([
      [MessageType.MsgPreVoteResp, 5, true],
    ]);
  });
});

describe("check-quorum", () => {
  it("a leader that cannot hear from a quorum steps down after an election timeout", () => {
    const nw = Network.of(3, { checkQuorum: true });
    nw.campaign(1);
    nw.isolate(1);
    const l = nw.node(1);
    for (let i = 0; i < l.raft.electionTimeout; i++) l.rn.tick();
    expect(l.state).toBe(StateType.Leader); // first window: peers were active
    for (let i = 0; i < l.raft.electionTimeout; i++) l.rn.tick();
    expect(l.state).toBe(StateType.Follower);
    expect(l.raft.term).toBe(1);
  });

  it("a leader that hears from a quorum stays leader", () => {
    const nw = Network.of(3, { checkQuorum: true });
    nw.campaign(1);
    nw.isolate(3);
    for (let i = 0; i < 50; i++) {
      nw.node(1).rn.tick();
      nw.node(2).rn.tick();
      nw.send();
    }
    expect(nw.node(1).state).toBe(StateType.Leader);
  });

  it("followers with a live leader ignore vote requests (leader lease)", () => {
    const nw = Network.of(3, { checkQuorum: true });
    nw.campaign(1);
    // Node 3 campaigns (e.g. after a glitch); 1 and 2 heard from the leader recently.
    nw.campaign(3);
    expect(nw.node(1).state).toBe(StateType.Leader);
    expect(nw.node(1).raft.term).toBe(1);
    expect(nw.node(2).raft.term).toBe(1);
    expect(nw.node(2).raft.vote).toBe(1n);
    expect(nw.node(3).state).toBe(StateType.Candidate);
    expect(nw.node(3).raft.term).toBe(2);
  });

  it("a disruptive candidate is brought back by the leader's MsgAppResp trick", () => {
    const nw = Network.of(3, { checkQuorum: true });
    nw.campaign(1);
    nw.campaign(3); // term 2, ignored by 1 and 2
    // The leader's heartbeat (term 1) to 3 gets a MsgAppResp with term 2 back, so the
    // leader steps down and a new election can proceed.
    nw.tickAll(1);
    expect(nw.node(1).state).toBe(StateType.Follower);
    for (let i = 0; i < 30 && nw.leader()?.raft.term !== nw.node(3).raft.term; i++) nw.tickAll(1);
    const leader = nw.leader()!;
    expect(leader).toBeDefined();
    nw.propose(Number(leader.id), "ok");
    for (const n of nw.nodes.values()) expect(n.appliedData()).toEqual(["ok"]);
  });

  it("a vote with the transfer context bypasses the lease", () => {
    const n = newNode(2n, ids(3), { checkQuorum: true });
    n.rn.step(msg({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 1 }));
    n.drain();
    const ctx = Uint8Array.from("CampaignTransfer", (c) => c.charCodeAt(0));
    n.rn.step(msg({ type: MessageType.MsgVote, from: 3n, to: 2n, term: 2, context: b("") }));
    expect(n.raft.term).toBe(1); // ignored: in lease
    n.rn.step(msg({ type: MessageType.MsgVote, from: 3n, to: 2n, term: 2, context: ctx }));
    expect(n.raft.term).toBe(2);
    expect(n.raft.vote).toBe(3n);
  });

  it("with pre-vote and check-quorum a partitioned follower cannot win pre-votes", () => {
    const nw = Network.of(3, { checkQuorum: true, preVote: true });
    nw.campaign(1);
    nw.cutLink(1, 3);
    for (let i = 0; i < 40; i++) {
      for (const n of nw.nodes.values()) n.rn.tick();
      nw.send();
    }
    // 2 still hears from 1 and refuses 3's pre-votes; 1 keeps a quorum with 2.
    expect(nw.node(1).state).toBe(StateType.Leader);
    expect(nw.node(1).raft.term).toBe(1);
    expect(nw.node(3).raft.term).toBe(1);
  });
});

describe("elections with lost messages", () => {
  it("a node that lost the election and learns of the leader follows it", () => {
    const nw = Network.of(5);
    nw.isolate(5);
    nw.campaign(1);
    nw.recover();
    nw.propose(1, "a");
    // 5 missed the first probe; the leader retries on the next heartbeat response.
    nw.tickAll(1);
    expect(nw.node(5).raft.lead).toBe(1n);
    expect(nw.node(5).appliedData()).toEqual(["a"]);
  });

  it("a leader with an older term steps down when it hears the new term", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    nw.isolate(1);
    nw.campaign(2);
    expect(nw.node(2).state).toBe(StateType.Leader);
    expect(nw.node(1).state).toBe(StateType.Leader); // stale, unaware
    nw.recover();
    nw.propose(2, "x");
    nw.node(2).rn.tick(); // a heartbeat reaches 1
    nw.send();
    expect(nw.node(1).state).toBe(StateType.Follower);
    expect(nw.node(1).raft.term).toBe(2);
    expect(nw.node(1).appliedData()).toEqual(["x"]);
  });
});
