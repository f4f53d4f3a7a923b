import { describe, expect, it } from "vitest";
import { describeMessage, MessageType, StateType } from "../index.js";
import { parseCommand } from "../rafttest/datadriven.js";
import { handle } from "../rafttest/handlers.js";
import { InteractionEnv } from "../rafttest/interaction-env.js";

// Minimal reproductions of core bugs found by the simulation (see ../../BUGS-FOUND.md).
// A bug that is still open is an `it.fails` test: it starts failing (and must be turned
// into a plain `it`) the moment the bug is fixed.

/** Runs interaction commands (see testdata/README.md) and returns their narration. */
function script(env: InteractionEnv, lines: [string, string?][]): string {
  const out: string[] = [];
  for (const [line, input = ""] of lines) {
    const { cmd, args } = parseCommand(line);
    out.push(handle(env, { line: 0, cmd, args, input, header: [line], expected: "" }));
  }
  return out.join("\n");
}

describe("regressions", () => {
  // BUGS-FOUND.md #1 (sim seed 2, 3 voters, before the sim moved its bootstrap to index 1).
  it("a node that joins a cluster bootstrapped with MemoryStorage(confState) can apply its own addition", () => {
    const env = new InteractionEnv();
    const out = script(env, [
      ["log-level none"],
      // The documented bootstrap: new MemoryStorage({ voters }) on each initial member.
      ["add-nodes 3 voters=(1,2,3)"],
      ["campaign 1"],
      ["stabilize"],
      // A joining node starts empty and is added as a learner.
      ["add-nodes 1"],
      ["propose-conf-change 1 v1=true", "l4"],
      ["stabilize"],
    ]);
    // Today node 4 receives entries 1..2 by MsgApp (nothing is compacted), never learns the
    // bootstrap configuration (it is not in the log), and applying "add learner 4" to its
    // empty configuration throws ConfChangeError("removed all voters").
    expect(out).not.toContain("removed all voters");
    expect(env.node(4).storage.conf.learners).toEqual([4n]);
  });

  // BUGS-FOUND.md #2 (sim seed 1037, 5 voters). Fixed in e1d811d.
  it("a snapshot restored while committed conf changes are being applied does not break their apply", () => {
    const env = new InteractionEnv();
    const out = script(env, [
      ["log-level none"],
      ["add-nodes 3 voters=(1,2,3) index=2"],
      ["campaign 1"],
      ["stabilize"],
      ["add-nodes 1"],
      // Enter a joint configuration (left explicitly, to keep the script short).
      ["propose-conf-change 1 transition=explicit", "l4"],
      ["process-ready 1"],
      ["deliver-msgs 2 3"],
      ["process-ready 2 3"],
      ["deliver-msgs 1"],
      ["process-ready 1"],
      ["deliver-msgs 3"],
      // Node 3 takes the Ready that commits the conf change and is still working on it
      // (ready.ts allows stepping meanwhile).
      ["process-ready 3 persist=false"],
      // The leader moves on, compacts, and sends node 3 a snapshot of the joint config.
      ["propose 1 x"],
      ["process-ready 1"],
      ["deliver-msgs 2 drop=(3,4)"],
      ["stabilize 1 2"],
      ["snapshot 1"],
      ["report-unreachable 1 3"],
      ["propose 1 y"],
      ["process-ready 1"],
      // Node 3's raft restores the snapshot (and its joint configuration) at once...
      ["deliver-msgs 3"],
      // ...so applying the conf change of the Ready it is working on throws
      // ConfChangeError("config is already joint").
      ["persist 3"],
      ["stabilize"],
    ]);
    expect(out).not.toContain("config is already joint");
  });

  // BUGS-FOUND.md #3 (sim seed 2805, 5 voters).
  it("an append acknowledgement never covers entries truncated before they were persisted", () => {
    const env = new InteractionEnv();
    script(env, [
      ["log-level none"],
      ["add-nodes 5 voters=(1,2,3,4,5) index=2"],
      ["campaign 1"],
      ["stabilize"],
      // Leader 1 (term 1) appends 1/4; node 2 receives it (raft queues MsgAppResp index 4)
      // but has not taken a Ready yet. The others never get it.
      ["propose 1 a"],
      ["process-ready 1"],
      ["deliver-msgs 2"],
      ["deliver-msgs drop=(3,4,5)"],
      // Node 3 wins term 2 with the votes of 4 and 5 (logs 1/3) and appends 2/4.
      ["tick-election 3"],
      ["process-ready 3"],
      ["deliver-msgs 4 5 drop=(1,2)"],
      ["process-ready 4 5"],
      ["deliver-msgs 3"],
      ["process-ready 3"],
      // Node 2 gets 2/4 from the new leader: it truncates 1/4 (never persisted) and
      // appends 2/4.
      ["deliver-msgs 2"],
    ]);
    const n2 = env.node(2);
    const rd = n2.raw!.ready();
    const stale = rd.messagesAfterPersist.filter(
      (m) => m.type === MessageType.MsgAppResp && !m.reject && m.term === 1,
    );
    // Today the Ready still carries "2->1 MsgAppResp Term:1 Log:0/4": once this Ready is
    // durable node 2's entry 4 is 2/4, yet leader 1 of term 1 reads it as an ack of its 1/4.
    expect(stale.map((m) => describeMessage(m))).toEqual([]);
  });

  // BUGS-FOUND.md #4 (sim seed 5508, 3 voters, at 3000 steps).
  it("a leader that removes itself leaves a cluster that can elect a new leader", () => {
    const env = new InteractionEnv();
    script(env, [
      ["log-level none"],
      ["add-nodes 2 voters=(1,2) index=2"],
      ["campaign 1"],
      ["stabilize"],
      // Leader 1 removes itself; node 2 persists the entry.
      ["propose-conf-change 1 v1=true", "r1"],
      ["process-ready 1"],
      ["deliver-msgs 2"],
      ["process-ready 2"],
      // Leader 1 appends one more entry, which node 2 never gets.
      ["propose 1 extra"],
      ["process-ready 1"],
      ["deliver-msgs drop=(2)"],
      // Node 2's ack commits the removal; leader 1 applies it and steps down at once. The
      // append that would tell node 2 the new commit index is lost.
      ["deliver-msgs 1"],
      ["process-ready 1"],
      ["deliver-msgs drop=(2)"],
    ]);
    // Node 2 still has configuration (1 2) and needs node 1's vote, which node 1 refuses
    // (its log is longer); node 1 is not in its own configuration and never campaigns, and
    // nobody will ever tell node 2 that the removal committed. No leader, forever.
    for (let round = 0; round < 5; round++) {
      script(env, [["tick-election 1"], ["tick-election 2"], ["stabilize"]]);
    }
    const leaders = env.nodes.filter(
      (n) => n.raw?.status().softState.raftState === StateType.Leader,
    );
    expect(leaders.map((n) => n.id)).toEqual([2n]);
  });
});
