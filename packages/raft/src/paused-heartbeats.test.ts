/**
 * RawNode.pausedHeartbeats: what a leader whose Ready processing is paused (the member's
 * Defragment) sends so that its followers do not elect another leader meanwhile.
 */
import { describe, expect, it } from "vitest";
import { Network } from "./__tests__/util.js";
import { type Message, MessageType, StateType } from "./types.js";

/** A 3-voter network with node 1 leading, two entries committed everywhere. */
function cluster(): Network {
  const nw = Network.of(3);
  nw.campaign(1);
  nw.propose(1, "a");
  nw.propose(1, "b");
  return nw;
}

/**
 * Holds node 1 "paused": nothing is delivered to it (kept in `held`) and it is never
 * ticked; the followers are ticked `ticks` times, each round followed by `beat()`'s
 * messages if given.
 */
function pauseLeader(nw: Network, ticks: number, beat?: () => Message[]): Message[] {
  const held: Message[] = [];
  nw.filter = (m) => {
    if (m.to !== 1n) return m;
    held.push(m);
    return undefined;
  };
  for (let i = 0; i < ticks; i++) {
    nw.node(2).rn.tick();
    nw.node(3).rn.tick();
    nw.send(...(beat?.() ?? []));
  }
  nw.filter = undefined;
  return held;
}

describe("RawNode.pausedHeartbeats", () => {
  it("keeps the followers of a paused leader from campaigning", () => {
    const nw = cluster();
    const leader = nw.node(1);
    const term = leader.raft.term;
    const held = pauseLeader(nw, 5 * leader.config.electionTick, () =>
      leader.rn.pausedHeartbeats(),
    );
    for (const id of [1, 2, 3]) {
      expect(nw.node(id).raft.term, `node ${id}'s term`).toBe(term);
      expect(nw.node(id).raft.lead, `node ${id}'s leader`).toBe(1n);
    }
    expect(leader.state).toBe(StateType.Leader);
    // The followers answered; the answers wait for the leader to resume.
    expect(held.length).toBeGreaterThan(0);
    expect(held.every((m) => m.type === MessageType.MsgHeartbeatResp)).toBe(true);
    // Resuming: the held answers are stepped and the cluster goes on.
    nw.send(...held);
    nw.propose(1, "c");
    expect(nw.node(3).appliedData()).toEqual(["a", "b", "c"]);
  });

  it("without them, a paused leader loses its followers (the failure they prevent)", () => {
    const nw = cluster();
    const term = nw.node(1).raft.term;
    pauseLeader(nw, 5 * nw.node(1).config.electionTick);
    expect(Math.max(nw.node(2).raft.term, nw.node(3).raft.term)).toBeGreaterThan(term);
  });

  it("carries the term and a commit index each follower holds, and changes nothing", () => {
    const nw = cluster();
    const leader = nw.node(1);
    // Node 3 misses an entry: its match stays behind the committed index.
    nw.cutLink(1, 3);
    nw.propose(1, "late");
    expect(leader.raft.raftLog.committed).toBeGreaterThan(leader.raft.trk.progress.get(3n)!.match);
    const before = JSON.stringify(leader.rn.status(), (_, v) =>
      typeof v === "bigint" ? v.toString() : v,
    );
    const beats = leader.rn.pausedHeartbeats();
    expect(beats.map((m) => [m.type, m.from, m.to, m.term])).toEqual([
      [MessageType.MsgHeartbeat, 1n, 2n, leader.raft.term],
      [MessageType.MsgHeartbeat, 1n, 3n, leader.raft.term],
    ]);
    for (const m of beats) {
      const pr = leader.raft.trk.progress.get(m.to)!;
      expect(m.commit).toBe(Math.min(pr.match, leader.raft.raftLog.committed));
      expect(m.entries).toEqual([]);
    }
    expect(beats[1]!.commit).toBeLessThan(leader.raft.raftLog.committed);
    expect(leader.rn.hasReady()).toBe(false);
    expect(
      JSON.stringify(leader.rn.status(), (_, v) => (typeof v === "bigint" ? v.toString() : v)),
    ).toBe(before);
  });

  it("is empty on a follower and on a candidate", () => {
    const nw = cluster();
    expect(nw.node(2).rn.pausedHeartbeats()).toEqual([]);
    nw.isolate(3);
    nw.node(3).rn.campaign();
    expect(nw.node(3).state).toBe(StateType.Candidate);
    expect(nw.node(3).rn.pausedHeartbeats()).toEqual([]);
  });
});
