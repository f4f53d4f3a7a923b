/** Leadership transfer (thesis §3.10). */
import { describe, expect, it } from "vitest";
import { b, Network } from "./__tests__/util.js";
import { ProposalDroppedError } from "./errors.js";
import { MessageType, None, StateType } from "./types.js";

function cluster(over = {}) {
  const nw = Network.of(3, over);
  nw.campaign(1);
  nw.propose(1, "a");
  return nw;
}

describe("leadership transfer", () => {
  it("hands over to an up-to-date follower at once", () => {
    const nw = cluster();
    nw.act(1, (n) => n.rn.transferLeadership(2n));
    expect(nw.node(2).state).toBe(StateType.Leader);
    expect(nw.node(1).state).toBe(StateType.Follower);
    expect(nw.node(2).raft.term).toBe(2);
    expect(nw.log.some((m) => m.type === MessageType.MsgTimeoutNow && m.to === 2n)).toBe(true);
    nw.propose(2, "b");
    expect(nw.node(1).appliedData()).toEqual(["a", "b"]);
  });

  it("works with check-quorum and pre-vote (the transfer bypasses leases and pre-vote)", () => {
    const nw = cluster({ checkQuorum: true, preVote: true });
    nw.act(1, (n) => n.rn.transferLeadership(3n));
    expect(nw.node(3).state).toBe(StateType.Leader);
    expect(nw.node(3).raft.term).toBe(2);
  });

  it("first brings a lagging transferee up to date", () => {
    const nw = cluster();
    nw.isolate(3);
    nw.propose(1, "b");
    nw.propose(1, "c");
    nw.recover();
    nw.act(1, (n) => n.rn.transferLeadership(3n));
    // 3 may still be paused in probe: the heartbeat response resumes replication.
    for (let i = 0; i < 3 && nw.node(3).state !== StateType.Leader; i++) nw.tickAll(1);
    expect(nw.node(3).state).toBe(StateType.Leader);
    expect(nw.node(3).appliedData()).toEqual(["a", "b", "c"]);
  });

  it("drops proposals while the transfer is in progress", () => {
    const nw = cluster();
    nw.isolate(3);
    nw.act(1, (n) => n.rn.transferLeadership(3n));
    expect(nw.node(1).raft.leadTransferee).toBe(3n);
    expect(() => nw.node(1).rn.propose(b("x"))).toThrow(ProposalDroppedError);
    expect(nw.node(1).rn.basicStatus().leadTransferee).toBe(3n);
  });

  it("is abandoned after an election timeout", () => {
    const nw = cluster();
    nw.isolate(3);
    nw.act(1, (n) => n.rn.transferLeadership(3n));
    const l = nw.node(1);
    for (let i = 0; i < l.raft.electionTimeout; i++) l.rn.tick();
    expect(l.raft.leadTransferee).toBe(None);
    expect(l.state).toBe(StateType.Leader);
    nw.send();
    expect(() => l.rn.propose(b("x"))).not.toThrow();
  });

  it("ignores a transfer to itself, to an unknown node, and a repeated request", () => {
    const nw = cluster();
    const l = nw.node(1);
    l.rn.transferLeadership(1n);
    expect(l.raft.leadTransferee).toBe(None);
    l.rn.transferLeadership(9n);
    expect(l.raft.leadTransferee).toBe(None);
    nw.isolate(3);
    nw.act(1, (n) => n.rn.transferLeadership(3n));
    nw.act(1, (n) => n.rn.transferLeadership(3n));
    expect(l.raft.leadTransferee).toBe(3n);
    // A new request replaces the old one.
    nw.act(1, (n) => n.rn.transferLeadership(2n));
    expect(nw.node(2).state).toBe(StateType.Leader);
  });

  it("a follower forwards the request to the leader", () => {
    const nw = cluster();
    nw.act(2, (n) => n.rn.transferLeadership(2n));
    expect(nw.node(2).state).toBe(StateType.Leader);
  });

  it("refuses to transfer to a learner", () => {
    const nw = cluster();
    nw.act(1, (n) =>
      n.rn.proposeConfChange({ type: 3, nodeId: 4n, context: new Uint8Array(0), id: 0n }),
    );
    nw.act(1, (n) => n.rn.transferLeadership(4n));
    expect(nw.node(1).raft.leadTransferee).toBe(None);
  });

  it("a candidate ignores MsgTimeoutNow; a follower campaigns on it even with leases", () => {
    const nw = cluster({ checkQuorum: true });
    nw.node(3).rn.campaign();
    nw.node(3).drain();
    const term = nw.node(3).raft.term;
    nw.node(3).rn.step({ ...nw.log[0], type: MessageType.MsgTimeoutNow, from: 1n, to: 3n, term });
    expect(nw.node(3).raft.term).toBe(term);
  });
});
