/** Proposals: forwarding, dropping, batching and the uncommitted-size budget. */
import { describe, expect, it } from "vitest";
import { b, ids, msg, Network, newNode } from "./__tests__/util.js";
import { ProposalDroppedError, StepLocalMessageError, StepPeerNotFoundError } from "./errors.js";
import { MessageType, StateType } from "./types.js";

describe("proposals", () => {
  it("a follower forwards proposals to the leader", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    nw.propose(2, "via follower");
    expect(nw.log.some((m) => m.type === MessageType.MsgProp && m.from === 2n && m.to === 1n)).toBe(
      true,
    );
    for (const n of nw.nodes.values()) expect(n.appliedData()).toEqual(["via follower"]);
  });

  it("a follower with forwarding disabled drops proposals", () => {
    const nw = Network.of(3, { disableProposalForwarding: true });
    nw.campaign(1);
    expect(() => nw.node(2).rn.propose(b("x"))).toThrow(ProposalDroppedError);
    expect(() => nw.node(2).rn.propose(b("x"))).toThrow(
      "raft proposal dropped: proposal forwarding disabled",
    );
  });

  it("proposals are dropped when there is no leader (follower or candidate)", () => {
    const n = newNode(1n, ids(3));
    expect(() => n.rn.propose(b("x"))).toThrow(ProposalDroppedError);
    n.rn.campaign();
    expect(n.raft.state).toBe(StateType.Candidate);
    expect(() => n.rn.propose(b("x"))).toThrow(ProposalDroppedError);
    const p = newNode(1n, ids(3), { preVote: true });
    p.rn.campaign();
    expect(() => p.rn.propose(b("x"))).toThrow(ProposalDroppedError);
  });

  it("many proposals between two Readies share one MsgApp per follower", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    const l = nw.node(1);
    for (let i = 0; i < 100; i++) l.rn.propose(b(`p${i}`));
    const rd = l.rn.ready();
    expect(rd.entries.length).toBe(100);
    const apps = rd.messages.filter((m) => m.type === MessageType.MsgApp);
    expect(apps.map((m) => [m.to, m.entries.length])).toEqual([
      [2n, 100],
      [3n, 100],
    ]);
  });

  it("the leader drops proposals beyond maxUncommittedEntriesSize until entries apply", () => {
    const nw = Network.of(3, { maxUncommittedEntriesSize: 1000 });
    nw.campaign(1);
    nw.isolate(1);
    const l = nw.node(1);
    for (let i = 0; i < 10; i++) l.rn.propose(new Uint8Array(100));
    expect(() => l.rn.propose(new Uint8Array(100))).toThrow(/uncommitted entries size limit/);
    // Empty entries are always admitted (e.g. a leader's no-op).
    expect(() => l.rn.propose(new Uint8Array(0))).not.toThrow();
    nw.recover();
    nw.tickAll(2);
    expect(l.raft.uncommittedSize).toBe(0);
    expect(() => l.rn.propose(new Uint8Array(100))).not.toThrow();
  });

  it("one oversized proposal is admitted when nothing is uncommitted", () => {
    const n = newNode(1n, ids(3), { maxUncommittedEntriesSize: 10 });
    n.raft.becomeCandidate();
    n.raft.becomeLeader();
    expect(() => n.rn.propose(new Uint8Array(50))).not.toThrow();
    expect(() => n.rn.propose(new Uint8Array(1))).toThrow(ProposalDroppedError);
  });

  it("a forwarded proposal that the leader drops throws from step()", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    nw.isolate(3);
    nw.act(1, (n) => n.rn.transferLeadership(3n));
    const m = msg({
      type: MessageType.MsgProp,
      from: 2n,
      to: 1n,
      entries: [{ term: 0, index: 0, type: 0, data: b("x") }],
    });
    expect(() => nw.node(1).rn.step(m)).toThrow(ProposalDroppedError);
  });
});

describe("RawNode.step input checks", () => {
  it.each([
    MessageType.MsgHup,
    MessageType.MsgBeat,
    MessageType.MsgUnreachable,
    MessageType.MsgSnapStatus,
    MessageType.MsgCheckQuorum,
  ])("refuses local message type %s from the network", (type) => {
    const n = newNode(1n, ids(3));
    expect(() => n.rn.step(msg({ type, from: 2n, to: 1n, term: 1 }))).toThrow(
      StepLocalMessageError,
    );
  });

  it("refuses responses from unknown peers but accepts their requests", () => {
    const n = newNode(1n, ids(3));
    expect(() =>
      n.rn.step(msg({ type: MessageType.MsgAppResp, from: 9n, to: 1n, term: 1 })),
    ).toThrow(StepPeerNotFoundError);
    expect(() =>
      n.rn.step(msg({ type: MessageType.MsgVoteResp, from: 9n, to: 1n, term: 1 })),
    ).toThrow(StepPeerNotFoundError);
    n.rn.step(msg({ type: MessageType.MsgHeartbeat, from: 9n, to: 1n, term: 1 }));
    expect(n.raft.lead).toBe(9n);
  });

  it("a leader ignores responses from a removed member that reach raft", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    nw.node(1).raft.step(msg({ type: MessageType.MsgHeartbeatResp, from: 9n, to: 1n, term: 1 }));
    expect(nw.node(1).state).toBe(StateType.Leader);
  });
});

describe("status", () => {
  it("reports progress on the leader only", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    nw.propose(1, "a");
    const st = nw.node(1).rn.status();
    expect(st.softState).toEqual({ lead: 1n, raftState: StateType.Leader });
    expect(st.hardState).toEqual({ term: 1, vote: 1n, commit: 2 });
    expect(st.applied).toBe(2);
    expect(st.config.voters).toEqual(ids(3));
    expect([...st.progress.keys()]).toEqual(ids(3));
    expect(st.progress.get(2n)).toEqual({
      match: 2,
      next: 3,
      state: "replicate",
      recentActive: true,
      pendingSnapshot: 0,
      inflightsFull: false,
      isLearner: false,
    });
    expect(nw.node(2).rn.status().progress.size).toBe(0);
    expect(nw.node(2).rn.basicStatus()).toEqual({
      id: 2n,
      hardState: { term: 1, vote: 1n, commit: 2 },
      softState: { lead: 1n, raftState: StateType.Follower },
      applied: 2,
      leadTransferee: 0n,
    });
  });
});
