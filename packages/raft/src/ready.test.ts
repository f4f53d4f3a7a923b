/**
 * The Ready contract: which messages may leave before persistence, when a leader counts
 * itself (thesis §10.2.1), mustSync, pipelining and the committed-size limit.
 */
import { describe, expect, it } from "vitest";
import { acceptAndReply, b, ids, msg, Network, newNode, str } from "./__tests__/util.js";
import { BugIndicatingError } from "./errors.js";
import { type Message, MessageType, StateType } from "./types.js";

const types = (ms: Message[]) => ms.map((m) => MessageType[m.type]);

describe("Ready.messages vs messagesAfterPersist", () => {
  it("a follower's MsgAppResp is only in messagesAfterPersist", () => {
    const n = newNode(2n, ids(3));
    n.rn.step(
      msg({
        type: MessageType.MsgApp,
        from: 1n,
        to: 2n,
        term: 1,
        entries: [{ term: 1, index: 1, type: 0, data: b("x") }],
      }),
    );
    const rd = n.rn.ready();
    expect(rd.entries.length).toBe(1);
    expect(rd.messages).toEqual([]);
    expect(types(rd.messagesAfterPersist)).toEqual(["MsgAppResp"]);
    expect(rd.mustSync).toBe(true);
  });

  it("a follower's heartbeat response and a rejection also wait for persistence", () => {
    const n = newNode(2n, ids(3));
    n.rn.step(msg({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 1 }));
    n.rn.step(msg({ type: MessageType.MsgApp, from: 1n, to: 2n, term: 1, index: 5, logTerm: 1 }));
    const rd = n.rn.ready();
    expect(rd.messages).toEqual([]);
    expect(types(rd.messagesAfterPersist)).toEqual(["MsgHeartbeatResp", "MsgAppResp"]);
  });

  it("a candidate's vote requests and a voter's responses wait for the persisted term and vote", () => {
    const c = newNode(1n, ids(3));
    c.rn.campaign();
    const rd = c.rn.ready();
    expect(rd.hardState).toEqual({ term: 1, vote: 1n, commit: 0 });
    expect(rd.mustSync).toBe(true);
    expect(rd.messages).toEqual([]);
    expect(types(rd.messagesAfterPersist)).toEqual(["MsgVote", "MsgVote"]);

    const v = newNode(2n, ids(3));
    v.rn.step(rd.messagesAfterPersist[0]);
    const vrd = v.rn.ready();
    expect(vrd.hardState).toEqual({ term: 1, vote: 1n, commit: 0 });
    expect(vrd.messages).toEqual([]);
    expect(types(vrd.messagesAfterPersist)).toEqual(["MsgVoteResp"]);
  });

  it("a leader's MsgApp, heartbeat and MsgTimeoutNow may leave before persistence", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    const l = nw.node(1);
    l.rn.propose(b("a"));
    l.rn.tick();
    const rd = l.rn.ready();
    expect(rd.messagesAfterPersist).toEqual([]);
    expect(new Set(types(rd.messages))).toEqual(new Set(["MsgApp", "MsgHeartbeat"]));
    l.persist(rd);
    l.rn.advance(rd);
    nw.send(...rd.messages);
    l.rn.transferLeadership(2n);
    const rd2 = l.rn.ready();
    expect(rd2.messagesAfterPersist).toEqual([]);
    expect(types(rd2.messages)).toEqual(["MsgTimeoutNow"]);
  });

  it("a follower's forwarded proposal waits for persistence", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    const f = nw.node(2);
    f.rn.propose(b("a"));
    const rd = f.rn.ready();
    expect(rd.messages).toEqual([]);
    expect(types(rd.messagesAfterPersist)).toEqual(["MsgProp"]);
  });
});

describe("the leader counts itself only after advance (thesis §10.2.1)", () => {
  it("with an un-advanced Ready a leader plus one follower ack do not commit", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    const l = nw.node(1);
    const committed0 = l.raft.raftLog.committed;
    l.rn.propose(b("a"));
    const rd = l.rn.ready(); // entries handed out, not persisted yet
    const app = rd.messages.find((m) => m.type === MessageType.MsgApp && m.to === 2n)!;
    expect(app.entries.map((e) => str(e.data))).toEqual(["a"]);
    l.rn.step(acceptAndReply(app));
    expect(l.raft.raftLog.committed).toBe(committed0); // 1 of 3 has it durably
    expect(l.raft.trk.progress.get(1n)!.match).toBe(committed0);
    l.storage.append(rd.entries);
    l.rn.advance(rd);
    expect(l.raft.trk.progress.get(1n)!.match).toBe(committed0 + 1);
    expect(l.raft.raftLog.committed).toBe(committed0 + 1);
    expect(l.rn.ready().committedEntries.map((e) => str(e.data))).toEqual(["a"]);
  });

  it("a single-voter leader commits only after persisting", () => {
    const n = newNode(1n, [1n]);
    n.rn.campaign();
    expect(n.raft.state).toBe(StateType.Leader);
    let rd = n.rn.ready();
    expect(rd.entries.length).toBe(1); // the no-op
    expect(rd.committedEntries).toEqual([]);
    n.persist(rd);
    n.rn.advance(rd);
    rd = n.rn.ready();
    expect(rd.committedEntries.map((e) => e.index)).toEqual([1]);
    expect(rd.hardState?.commit).toBe(1);
    expect(rd.mustSync).toBe(false); // only the commit index moved
    n.rn.advance(rd);
    n.rn.propose(b("x"));
    rd = n.rn.ready();
    expect(rd.committedEntries).toEqual([]);
    n.persist(rd);
    n.rn.advance(rd);
    expect(n.rn.ready().committedEntries.map((e) => str(e.data))).toEqual(["x"]);
  });

  it("a follower may get entries to persist and apply in the same Ready", () => {
    const n = newNode(2n, ids(3));
    n.rn.step(
      msg({
        type: MessageType.MsgApp,
        from: 1n,
        to: 2n,
        term: 1,
        commit: 1,
        entries: [{ term: 1, index: 1, type: 0, data: b("x") }],
      }),
    );
    const rd = n.rn.ready();
    expect(rd.entries.map((e) => e.index)).toEqual([1]);
    expect(rd.committedEntries.map((e) => e.index)).toEqual([1]);
  });
});

describe("Ready bookkeeping", () => {
  it("hasReady is false once everything was handed out and advanced", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    for (const n of nw.nodes.values()) expect(n.rn.hasReady()).toBe(false);
    nw.node(1).rn.propose(b("a"));
    expect(nw.node(1).rn.hasReady()).toBe(true);
  });

  it("Readies can be pipelined and must be advanced in order", () => {
    const n = newNode(1n, [1n]);
    n.rn.campaign();
    const rd1 = n.rn.ready();
    n.rn.propose(b("a"));
    const rd2 = n.rn.ready();
    expect(rd1.entries.map((e) => e.index)).toEqual([1]);
    expect(rd2.entries.map((e) => e.index)).toEqual([2]); // only what is new
    expect(() => n.rn.advance(rd2)).toThrow(BugIndicatingError);
    n.persist(rd1);
    n.persist(rd2);
    n.rn.advance(rd1);
    n.rn.advance(rd2);
    expect(n.raft.raftLog.committed).toBe(2);
    expect(() => n.rn.advance(rd2)).toThrow(BugIndicatingError);
    const rd3 = n.rn.ready();
    expect(rd3.committedEntries.map((e) => e.index)).toEqual([1, 2]);
  });

  it("maxCommittedSizePerReady splits committed entries across Readies", () => {
    const n = newNode(1n, [1n], { maxCommittedSizePerReady: 250 });
    n.rn.campaign();
    n.drain();
    for (let i = 0; i < 5; i++) n.rn.propose(new Uint8Array(100));
    let rd = n.rn.ready();
    n.persist(rd);
    n.rn.advance(rd);
    const sizes: number[] = [];
    while (n.rn.hasReady()) {
      rd = n.rn.ready();
      sizes.push(rd.committedEntries.length);
      n.rn.advance(rd);
    }
    expect(sizes).toEqual([2, 2, 1]);
    expect(n.raft.raftLog.applied).toBe(6);
  });

  it("reports soft state changes once", () => {
    const n = newNode(1n, [1n]);
    n.rn.campaign();
    const rd = n.rn.ready();
    expect(rd.softState).toEqual({ lead: 1n, raftState: StateType.Leader });
    n.persist(rd);
    n.rn.advance(rd);
    expect(n.rn.ready().softState).toBeUndefined();
  });
});

describe("acknowledgements of replaced entries", () => {
  it("a queued ack is retracted when its entries are replaced before being handed out", () => {
    const n = newNode(2n, ids(3));
    const e = (term: number, index: number) => ({ term, index, type: 0, data: b("x") });
    n.rn.step(
      msg({ type: MessageType.MsgApp, from: 1n, to: 2n, term: 1, entries: [e(1, 1), e(1, 2)] }),
    );
    // Before a Ready is taken, a new leader of term 2 replaces index 2.
    n.rn.step(
      msg({
        type: MessageType.MsgApp,
        from: 3n,
        to: 2n,
        term: 2,
        logTerm: 1,
        index: 1,
        entries: [e(2, 2)],
      }),
    );
    const rd = n.rn.ready();
    expect(rd.entries.map((x) => `${x.term}/${x.index}`)).toEqual(["1/1", "2/2"]);
    expect(rd.messagesAfterPersist.map((m) => [m.to, m.term, m.index])).toEqual([[3n, 2, 2]]);
  });

  it("an ack already handed out in a Ready stays (that Ready persists its entries)", () => {
    const n = newNode(2n, ids(3));
    const e = (term: number, index: number) => ({ term, index, type: 0, data: b("x") });
    n.rn.step(
      msg({ type: MessageType.MsgApp, from: 1n, to: 2n, term: 1, entries: [e(1, 1), e(1, 2)] }),
    );
    const rd1 = n.rn.ready();
    expect(rd1.messagesAfterPersist.map((m) => m.index)).toEqual([2]);
    n.rn.step(
      msg({
        type: MessageType.MsgApp,
        from: 3n,
        to: 2n,
        term: 2,
        logTerm: 1,
        index: 1,
        entries: [e(2, 2)],
      }),
    );
    expect(rd1.messagesAfterPersist.map((m) => m.index)).toEqual([2]);
    const rd2 = n.rn.ready();
    expect(rd2.entries.map((x) => `${x.term}/${x.index}`)).toEqual(["2/2"]);
  });
});

describe("takeEarlyMessages (while a Ready is in flight)", () => {
  it("a follower's heartbeat response at its durable term leaves; its MsgAppResp stays", () => {
    const n = newNode(2n, ids(3));
    n.rn.step(msg({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 1 }));
    const rd = n.rn.ready(); // term 1 handed out, not yet durable
    expect(rd.hardState?.term).toBe(1);
    n.rn.step(msg({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 1 }));
    expect(n.rn.takeEarlyMessages()).toEqual([]); // term 1 is not durable yet
    n.persist(rd);
    n.rn.advance(rd);
    n.rn.step(
      msg({
        type: MessageType.MsgApp,
        from: 1n,
        to: 2n,
        term: 1,
        entries: [{ term: 1, index: 1, type: 0, data: b("x") }],
      }),
    );
    const inFlight = n.rn.ready(); // the append, not persisted yet
    expect(types(inFlight.messagesAfterPersist)).toEqual(["MsgHeartbeatResp", "MsgAppResp"]);
    n.rn.step(msg({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 1 }));
    n.rn.step(msg({ type: MessageType.MsgApp, from: 1n, to: 2n, term: 1, index: 9, logTerm: 1 }));
    const early = n.rn.takeEarlyMessages();
    expect(types(early)).toEqual(["MsgHeartbeatResp"]);
    expect(early[0]!.term).toBe(1);
    expect(n.rn.takeEarlyMessages()).toEqual([]);
    n.persist(inFlight);
    n.rn.advance(inFlight);
    expect(types(n.rn.ready().messagesAfterPersist)).toEqual(["MsgAppResp"]);
  });

  it("a heartbeat response at a term not yet durable waits for the Ready that persists it", () => {
    const n = newNode(2n, ids(3));
    n.rn.step(msg({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 1 }));
    const rd = n.rn.ready();
    n.persist(rd);
    n.rn.advance(rd);
    n.rn.step(msg({ type: MessageType.MsgHeartbeat, from: 3n, to: 2n, term: 2 }));
    expect(n.rn.takeEarlyMessages()).toEqual([]);
    const rd2 = n.rn.ready();
    expect(rd2.hardState?.term).toBe(2);
    expect(types(rd2.messagesAfterPersist)).toEqual(["MsgHeartbeatResp"]);
  });

  it("a leader's heartbeats and appends leave at once; the next Ready does not repeat them", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    const l = nw.node(1);
    l.rn.propose(b("a"));
    const inFlight = l.rn.ready();
    l.rn.tick(); // heartbeat while the Ready is in flight
    const early = l.rn.takeEarlyMessages();
    expect(types(early)).toEqual(["MsgHeartbeat", "MsgHeartbeat"]);
    l.persist(inFlight);
    l.rn.advance(inFlight);
    expect(types(l.rn.ready().messages)).not.toContain("MsgHeartbeat");
  });
});
