/** ReadIndex (thesis §6.4) and lease-based reads (thesis §6.4.1). */
import { describe, expect, it } from "vitest";
import { b, ids, msg, Network, newNode, str, type TestNode } from "./__tests__/util.js";
import { ReadOnlyOption } from "./config.js";
import type { ReadState } from "./types.js";
import { MessageType, StateType } from "./types.js";

/** Delivers everything pending and returns the read states `n` got since the last call. */
function readStates(nw: Network, n: TestNode): ReadState[] {
  nw.send();
  const out = n.readStates;
  n.readStates = [];
  return out;
}

describe("ReadIndex, safe", () => {
  it("the leader answers after a heartbeat round confirms a quorum", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    nw.propose(1, "a");
    const l = nw.node(1);
    l.rn.readIndex(b("ctx1"));
    const rd = l.rn.ready();
    expect(rd.readStates).toEqual([]); // not yet confirmed
    const hbs = rd.messages.filter((m) => m.type === MessageType.MsgHeartbeat);
    expect(hbs.length).toBe(2);
    expect(hbs[0].context.byteLength).toBe(8);
    l.rn.advance(rd);
    // One follower's echo makes a quorum with the leader.
    const f = nw.node(2);
    f.rn.step(hbs.find((m) => m.to === 2n)!);
    const resp = f.drain();
    expect(resp.map((m) => m.type)).toEqual([MessageType.MsgHeartbeatResp]);
    l.rn.step(resp[0]);
    const rs = readStates(nw, l);
    expect(rs.map((r) => [r.index, str(r.requestCtx)])).toEqual([
      [l.raft.raftLog.committed, "ctx1"],
    ]);
  });

  it("one heartbeat round confirms every read waiting when it was sent", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    nw.ignore(MessageType.MsgHeartbeatResp);
    const l = nw.node(1);
    l.rn.readIndex(b("r1"));
    l.rn.readIndex(b("r2"));
    l.rn.readIndex(b("r3"));
    expect(readStates(nw, l)).toEqual([]);
    nw.recover();
    l.rn.tick(); // the next heartbeat carries the latest position
    const rs = readStates(nw, l);
    expect(rs.map((r) => str(r.requestCtx))).toEqual(["r1", "r2", "r3"]);
  });

  it("a follower forwards the request and gets the leader's index back", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    nw.propose(1, "a");
    const f = nw.node(2);
    f.rn.readIndex(b("from-follower"));
    const rs = readStates(nw, f);
    // The answer arrives via MsgReadIndexResp while the network is drained.
    const later = rs.length > 0 ? rs : readStates(nw, f);
    expect(later.map((r) => [r.index, str(r.requestCtx)])).toEqual([
      [nw.node(1).raft.raftLog.committed, "from-follower"],
    ]);
    expect(nw.log.some((m) => m.type === MessageType.MsgReadIndexResp)).toBe(true);
  });

  it("a new leader answers only after committing an entry of its term", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    nw.propose(1, "a");
    // Elect 2, but keep its no-op from committing.
    nw.ignore(MessageType.MsgApp);
    nw.campaign(2);
    const l = nw.node(2);
    expect(l.state).toBe(StateType.Leader);
    expect(l.raft.committedEntryInCurrentTerm()).toBe(false);
    l.rn.readIndex(b("early"));
    expect(readStates(nw, l)).toEqual([]);
    expect(l.raft.pendingReadIndexMessages.length).toBe(1);
    nw.recover();
    l.rn.tick(); // heartbeat -> responses -> MsgApp with the no-op -> commit
    let rs = readStates(nw, l);
    for (let i = 0; i < 3 && rs.length === 0; i++) {
      l.rn.tick();
      rs = readStates(nw, l);
    }
    expect(rs.map((r) => str(r.requestCtx))).toEqual(["early"]);
    expect(rs[0].index).toBeGreaterThanOrEqual(3);
    expect(l.raft.raftLog.zeroTermOnOutOfBounds(rs[0].index)).toBe(l.raft.term);
  });

  it("a single voter answers immediately", () => {
    const n = newNode(1n, [1n]);
    n.rn.campaign();
    n.drain();
    n.rn.readIndex(b("x"));
    const rd = n.rn.ready();
    expect(rd.readStates.map((r) => [r.index, str(r.requestCtx)])).toEqual([[1, "x"]]);
  });

  it("is dropped when no leader is known", () => {
    const n = newNode(1n, ids(3));
    n.rn.readIndex(b("x"));
    expect(n.rn.hasReady()).toBe(false);
  });

  it("ignores heartbeat acks with a malformed context", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    const l = nw.node(1);
    l.rn.readIndex(b("x"));
    l.drain();
    l.rn.step(
      msg({ type: MessageType.MsgHeartbeatResp, from: 2n, to: 1n, term: 1, context: b("bad") }),
    );
    expect(l.rn.ready().readStates).toEqual([]);
  });
});

describe("ReadIndex, lease based", () => {
  it("the leader answers without a heartbeat round", () => {
    const nw = Network.of(3, { checkQuorum: true, readOnlyOption: ReadOnlyOption.LeaseBased });
    nw.campaign(1);
    nw.propose(1, "a");
    nw.isolate(1); // no round trip possible, yet the lease answers
    const l = nw.node(1);
    l.rn.readIndex(b("lease"));
    const rd = l.rn.ready();
    expect(rd.readStates.map((r) => [r.index, str(r.requestCtx)])).toEqual([[2, "lease"]]);
    expect(rd.messages.filter((m) => m.type === MessageType.MsgHeartbeat)).toEqual([]);
  });

  it("a follower's request is answered from the lease too", () => {
    const nw = Network.of(3, { checkQuorum: true, readOnlyOption: ReadOnlyOption.LeaseBased });
    nw.campaign(1);
    const f = nw.node(3);
    f.rn.readIndex(b("y"));
    let rs = readStates(nw, f);
    if (rs.length === 0) rs = readStates(nw, f);
    expect(rs.map((r) => str(r.requestCtx))).toEqual(["y"]);
  });
});
