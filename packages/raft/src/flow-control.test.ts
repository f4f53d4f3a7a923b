/** Replication flow control: probe/replicate states, inflight limits, message sizes, backtracking. */
import { describe, expect, it } from "vitest";
import {
  acceptAndReply,
  ids,
  msg,
  Network,
  newNode,
  nodeWithLog,
  type TestNode,
} from "./__tests__/util.js";
import { type Message, MessageType } from "./types.js";

/** A leader of 2 voters whose follower 2 is in replicate state. */
function replicatingLeader(over = {}): TestNode {
  const n = newNode(1n, ids(2), over);
  n.raft.becomeCandidate();
  n.raft.becomeLeader();
  for (const m of n.drain()) if (m.type === MessageType.MsgApp) n.rn.step(acceptAndReply(m));
  n.drain();
  expect(n.status().progress.get(2n)?.state).toBe("replicate");
  return n;
}

const appsTo2 = (ms: Message[]) => ms.filter((m) => m.type === MessageType.MsgApp && m.to === 2n);

describe("flow control", () => {
  it("stops at maxInflightMsgs in replicate state and resumes as acks free the window", () => {
    const n = replicatingLeader({ maxInflightMsgs: 3, maxSizePerMsg: 100 });
    for (let i = 0; i < 10; i++) n.rn.propose(new Uint8Array(100));
    const sent = appsTo2(n.drain());
    expect(sent.map((m) => m.entries.length)).toEqual([1, 1, 1]);
    expect(n.status().progress.get(2n)?.inflightsFull).toBe(true);
    n.rn.step(acceptAndReply(sent[0]));
    const more = appsTo2(n.drain());
    expect(more.length).toBe(1);
    // An ack covering everything in flight frees the whole window.
    n.rn.step(acceptAndReply(more[0]));
    expect(appsTo2(n.drain()).length).toBe(3);
  });

  it("stops at maxInflightBytes", () => {
    const n = replicatingLeader({
      maxInflightMsgs: 100,
      maxSizePerMsg: 100,
      maxInflightBytes: 250,
    });
    for (let i = 0; i < 10; i++) n.rn.propose(new Uint8Array(100));
    expect(appsTo2(n.drain()).length).toBe(3); // 300 bytes >= 250: full
    expect(n.status().progress.get(2n)?.inflightsFull).toBe(true);
  });

  it("batches entries into MsgApps of at most maxSizePerMsg bytes", () => {
    const n = replicatingLeader({ maxSizePerMsg: 250 });
    for (let i = 0; i < 7; i++) n.rn.propose(new Uint8Array(100));
    expect(appsTo2(n.drain()).map((m) => m.entries.length)).toEqual([2, 2, 2, 1]);
  });

  it("in probe state sends one MsgApp and waits for a response or a heartbeat", () => {
    const n = newNode(1n, ids(2));
    n.raft.becomeCandidate();
    n.raft.becomeLeader();
    expect(appsTo2(n.drain()).length).toBe(1);
    for (let i = 0; i < 5; i++) n.rn.propose(new Uint8Array(10));
    expect(appsTo2(n.drain())).toEqual([]);
    expect(n.status().progress.get(2n)?.state).toBe("probe");
    // A heartbeat response unpauses the probe.
    n.rn.step(msg({ type: MessageType.MsgHeartbeatResp, from: 2n, to: 1n, term: n.raft.term }));
    expect(appsTo2(n.drain()).length).toBe(1);
  });

  it("MsgUnreachable moves a replicating follower back to probe", () => {
    const n = replicatingLeader();
    n.rn.reportUnreachable(2n);
    expect(n.status().progress.get(2n)?.state).toBe("probe");
  });

  it("a rejection in replicate state falls back to probing from match+1", () => {
    const n = replicatingLeader();
    const apps: Message[] = [];
    for (let i = 0; i < 3; i++) {
      n.rn.propose(new Uint8Array(1));
      apps.push(...appsTo2(n.drain()));
    }
    expect(apps.map((m) => m.index)).toEqual([1, 2, 3]);
    // The follower lost the first two (e.g. restarted): it rejects the third.
    n.rn.step(
      msg({
        type: MessageType.MsgAppResp,
        from: 2n,
        to: 1n,
        term: n.raft.term,
        index: 3,
        reject: true,
        rejectHint: 1,
        logTerm: 1,
      }),
    );
    const pr = n.status().progress.get(2n)!;
    expect([pr.state, pr.match, pr.next]).toEqual(["probe", 1, 2]);
    const [probe] = appsTo2(n.drain());
    expect([probe.index, probe.entries.length]).toEqual([1, 3]);
    // A stale rejection (at or below match) is ignored.
    n.rn.step(
      msg({
        type: MessageType.MsgAppResp,
        from: 2n,
        to: 1n,
        term: n.raft.term,
        index: 1,
        reject: true,
      }),
    );
    expect(n.status().progress.get(2n)?.next).toBe(2);
  });

  it.each([
    {
      name: "follower far behind with a divergent tail",
      leader: [1, 1, 2, 2, 2, 4, 4, 4, 4, 4, 5, 5, 5],
      follower: [1, 1, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3],
      maxRejections: 3,
    },
    {
      name: "follower with a short log",
      leader: Array.from({ length: 60 }, (_, i) => 1 + Math.floor(i / 10)),
      follower: [1, 1, 1],
      maxRejections: 2,
    },
  ])("fast backtracking needs few round trips: $name", ({ leader, follower, maxRejections }) => {
    const lt = leader[leader.length - 1];
    const l = nodeWithLog(1n, ids(3), leader, { term: lt, commit: 2 });
    const f = nodeWithLog(2n, ids(3), follower, { term: lt });
    const nw = new Network([l, f]);
    // Node 3 grants the vote; the follower may refuse (its log can be longer).
    nw.node(1).rn.campaign();
    nw.send(msg({ type: MessageType.MsgVoteResp, from: 3n, to: 1n, term: lt + 1 }));
    const rejections = nw.log.filter(
      (m) => m.type === MessageType.MsgAppResp && m.from === 2n && m.reject,
    );
    expect(rejections.length).toBeLessThanOrEqual(maxRejections);
    expect(f.raft.raftLog.allEntries().map((e) => e.term)).toEqual(
      l.raft.raftLog.allEntries().map((e) => e.term),
    );
  });
});
