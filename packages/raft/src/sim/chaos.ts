import {
  type ConfChange,
  ConfChangeTransition,
  ConfChangeType,
  type ConfChangeV2,
  type ConfState,
  type NodeId,
  ProposalDroppedError,
} from "../index.js";
import { members, putCommand } from "./app.js";
import type { SimNetwork } from "./network.js";
import type { Prng } from "./prng.js";
import type { ReadChecker } from "./read-checker.js";
import type { SimNode } from "./sim-node.js";
import { describeCs, TICK } from "./sim-util.js";

/** What the chaos actions need from the simulation (ClusterSim implements it). */
export interface ChaosHost {
  readonly rng: Prng;
  readonly nodes: Map<NodeId, SimNode>;
  readonly network: SimNetwork;
  /** Schedules an event at virtual time `at`. */
  schedule(at: number, ev: { k: "restart"; id: NodeId } | { k: "heal" }): void;
  readonly reads: ReadChecker;
  readonly stats: { confChanges: number; snapshots: number };
  readonly opts: { voters: number };
  readonly now: number;
  seq: number;
  nextId: bigint;
  trace(line: string): void;
  leader(): SimNode | undefined;
  crash(n: SimNode, why: string): void;
  addNode(id: NodeId): SimNode;
}

const EMPTY = new Uint8Array(0);
const ENCODER = new TextEncoder();

/**
 * One fault or workload action, chosen by weight: client writes and reads, crashes,
 * partitions, network weather, membership changes, leadership transfers and compaction.
 */
export function runChaos(sim: ChaosHost): void {
  const actions: [number, (s: ChaosHost) => void][] = [
    [30, propose],
    [8, read],
    [2, crash],
    [2, partition],
    [1, weather],
    [2, confChange],
    [1, transfer],
    [3, compact],
  ];
  const i = sim.rng.weighted(actions.map((a) => a[0]));
  actions[i][1](sim);
}

function liveNodes(sim: ChaosHost): SimNode[] {
  return [...sim.nodes.values()].filter((n) => n.raw !== undefined);
}

function propose(sim: ChaosHost): void {
  const live = liveNodes(sim);
  if (live.length === 0) return;
  const l = sim.leader();
  const n = l !== undefined && sim.rng.chance(0.5) ? l : sim.rng.pick(live);
  const writeId = `w${sim.seq++}`;
  const key = `k${sim.rng.int(0, 7)}`;
  try {
    n.raw!.propose(putCommand(key, writeId));
    n.waiting.add(writeId);
    sim.trace(`n${n.id} propose ${key}=${writeId}`);
  } catch (e) {
    if (!(e instanceof ProposalDroppedError)) throw e;
    sim.trace(`n${n.id} propose ${key}=${writeId} dropped: ${e.message}`);
  }
}

function read(sim: ChaosHost): void {
  const live = liveNodes(sim);
  if (live.length === 0) return;
  const n = sim.rng.pick(live);
  const ctx = `r${sim.seq++}`;
  sim.reads.onReadStart(ctx, sim.now);
  n.openReads.add(ctx);
  sim.trace(`n${n.id} read-index ${ctx}`);
  n.raw!.readIndex(ENCODER.encode(ctx));
}

function crash(sim: ChaosHost): void {
  const live = liveNodes(sim);
  if (live.length === 0) return;
  const n = sim.rng.pick(live);
  sim.crash(n, "chaos");
  const down = sim.rng.chance(0.2) ? sim.rng.int(30 * TICK, 80 * TICK) : sim.rng.int(1, 20 * TICK);
  sim.schedule(sim.now + down, { k: "restart", id: n.id });
}

function partition(sim: ChaosHost): void {
  const ids = [...sim.nodes.values()].filter((n) => !n.stopped).map((n) => n.id);
  if (ids.length < 2) return;
  // Fisher-Yates with the sim's PRNG, then a random cut point.
  for (let i = ids.length - 1; i > 0; i--) {
    const j = sim.rng.int(0, i);
    [ids[i], ids[j]] = [ids[j], ids[i]];
  }
  const k = sim.rng.int(1, ids.length - 1);
  const a = ids.slice(0, k);
  const b = ids.slice(k);
  const oneWay = sim.rng.chance(0.3);
  sim.network.partition(a, b, oneWay);
  sim.trace(
    `partition ${oneWay ? "one-way " : ""}(${a.join(" ")}) ${oneWay ? "->" : "|"} (${b.join(" ")})`,
  );
  sim.schedule(sim.now + sim.rng.int(5 * TICK, 60 * TICK), { k: "heal" });
}

function weather(sim: ChaosHost): void {
  const r = sim.rng;
  const profile = r.int(0, 3);
  const f = sim.network.faults;
  f.drop = profile === 1 ? r.pick([0.05, 0.2, 0.4]) : profile === 3 ? 0.02 : 0;
  f.duplicate = profile === 2 ? r.pick([0.05, 0.2]) : profile === 3 ? 0.02 : 0;
  f.minDelay = 1;
  f.maxDelay = profile === 3 ? r.pick([10, 30]) : r.pick([2, 5, 10]);
  f.longDelayRate = profile === 3 ? 0.05 : 0;
  f.longDelay = 30 * TICK;
  sim.trace(
    `weather drop=${f.drop} dup=${f.duplicate} delay=${f.minDelay}..${f.maxDelay} long=${f.longDelayRate}`,
  );
}

function transfer(sim: ChaosHost): void {
  const l = sim.leader();
  if (l === undefined) return;
  const voters = l.app.confState.voters.filter((v) => v !== l.id);
  if (voters.length === 0) return;
  const to = sim.rng.pick(voters);
  sim.trace(`n${l.id} transfer-leadership to ${to}`);
  l.raw!.transferLeadership(to);
}

function compact(sim: ChaosHost): void {
  const live = liveNodes(sim);
  if (live.length === 0) return;
  const n = sim.rng.pick(live);
  const applied = n.app.applied;
  if (applied <= n.storage.snapshot().metadata.index) return;
  n.storage.createSnapshot(applied, n.app.confState, n.app.encode());
  const c = applied - sim.rng.int(0, 3);
  if (c > n.storage.firstIndex() - 1) n.storage.compact(c);
  sim.stats.snapshots++;
  sim.trace(
    `n${n.id} snapshot at ${applied}, log now ${n.storage.firstIndex()}..${n.storage.lastIndex()}`,
  );
}

/**
 * Proposes a membership change from the leader's applied configuration: add a learner (a
 * new node), promote a learner, remove a voter (often the leader) or a learner, replace a
 * voter by a learner through joint consensus, or demote a voter through joint consensus.
 */
function confChange(sim: ChaosHost): void {
  const l = sim.leader();
  if (l === undefined) return;
  const cs = l.app.confState;
  const r = sim.rng;
  if (cs.votersOutgoing.length > 0) {
    // Joint: an automatic leave is the leader's job; an explicit one is the operator's.
    if (!cs.autoLeave) proposeVia(sim, l, cs, v2(ConfChangeTransition.Auto, []), "leave joint");
    return;
  }
  const voters = cs.voters;
  const learners = cs.learners;
  const options: string[] = [];
  if (members(cs).length < sim.opts.voters + 3) options.push("add-learner");
  if (learners.length > 0 && voters.length < sim.opts.voters + 2) options.push("promote");
  if (voters.length >= 3) options.push("remove-voter", "demote-joint");
  if (learners.length > 0) options.push("remove-learner");
  if (learners.length > 0 && voters.length >= 2) options.push("replace-joint");
  if (options.length === 0) return;
  const what = r.pick(options);
  const pickVoter = (): NodeId => (r.chance(0.4) ? l.id : r.pick(voters));
  let cc: ConfChange | ConfChangeV2;
  let desc: string;
  switch (what) {
    case "add-learner": {
      const id = sim.nextId++;
      sim.addNode(id);
      cc = v1(ConfChangeType.AddLearnerNode, id);
      desc = `add learner ${id}`;
      break;
    }
    case "promote": {
      const id = r.pick(learners);
      cc = r.chance(0.5)
        ? v1(ConfChangeType.AddNode, id)
        : v2(ConfChangeTransition.Auto, [[ConfChangeType.AddNode, id]]);
      desc = `promote ${id}`;
      break;
    }
    case "remove-voter": {
      const id = pickVoter();
      cc = v1(ConfChangeType.RemoveNode, id);
      desc = `remove voter ${id}`;
      break;
    }
    case "remove-learner": {
      const id = r.pick(learners);
      cc = v1(ConfChangeType.RemoveNode, id);
      desc = `remove learner ${id}`;
      break;
    }
    case "replace-joint": {
      const add = r.pick(learners);
      const rm = pickVoter();
      cc = v2(
        r.pick([
          ConfChangeTransition.Auto,
          ConfChangeTransition.JointImplicit,
          ConfChangeTransition.JointExplicit,
        ]),
        [
          [ConfChangeType.AddNode, add],
          [ConfChangeType.RemoveNode, rm],
        ],
      );
      desc = `joint: promote ${add}, remove ${rm}`;
      break;
    }
    default: {
      const id = pickVoter();
      cc = v2(
        r.chance(0.7) ? ConfChangeTransition.JointImplicit : ConfChangeTransition.JointExplicit,
        [[ConfChangeType.AddLearnerNode, id]],
      );
      desc = `joint: demote ${id}`;
      break;
    }
  }
  proposeVia(sim, l, cs, cc, desc);
}

/** Proposes `cc`, usually on the leader, sometimes through a member that forwards it. */
function proposeVia(
  sim: ChaosHost,
  l: SimNode,
  cs: ConfState,
  cc: ConfChange | ConfChangeV2,
  desc: string,
): void {
  const r = sim.rng;
  const live = [...sim.nodes.values()].filter(
    (n) => n.raw !== undefined && members(cs).includes(n.id),
  );
  const via = r.chance(0.8) || live.length === 0 ? l : r.pick(live);
  try {
    via.raw!.proposeConfChange(cc);
    sim.stats.confChanges++;
    sim.trace(`n${via.id} propose conf change: ${desc} (from ${describeCs(cs)})`);
  } catch (e) {
    if (!(e instanceof ProposalDroppedError)) throw e;
    sim.trace(`n${via.id} conf change ${desc} dropped: ${e.message}`);
  }
}

function v1(type: ConfChangeType, nodeId: NodeId): ConfChange {
  return { type, nodeId, context: EMPTY, id: 0n };
}

function v2(transition: ConfChangeTransition, changes: [ConfChangeType, NodeId][]): ConfChangeV2 {
  return {
    transition,
    changes: changes.map(([type, nodeId]) => ({ type, nodeId })),
    context: EMPTY,
  };
}
