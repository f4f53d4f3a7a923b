import type { ProgressStatus } from "../index.js";
import {
  type ConfChange,
  type ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  type ConfChangeV2,
  describeEntry,
  describeStateType,
  emptyConfState,
  MessageType,
  type NodeId,
  ReadOnlyOption,
  SnapshotStatus,
} from "../index.js";
import type { CmdArg, TestCase } from "./datadriven.js";
import { EnvStorage, fmt, InteractionEnv, LEVELS, type Level } from "./interaction-env.js";

const ENCODER = new TextEncoder();

/**
 * Runs one data-driven command against `env` and returns its narration ("ok" when it
 * wrote nothing). Errors from raft are part of the output; a malformed command throws.
 * The commands are listed in testdata/README.md.
 */
export function handle(env: InteractionEnv, tc: TestCase): string {
  try {
    dispatch(env, tc);
  } catch (err) {
    if (err instanceof UsageError) throw new Error(`line ${tc.line}: ${err.message}`);
    env.error((err as Error).message);
  }
  const out = env.take();
  return out === "" ? "ok" : out;
}

/** A mistake in the test file itself, not in raft. */
class UsageError extends Error {}

function dispatch(env: InteractionEnv, tc: TestCase): void {
  const a = tc.args;
  switch (tc.cmd) {
    case "add-nodes":
      addNodes(env, a);
      return;
    case "campaign":
      env.node(first(a)).raw!.campaign();
      return;
    case "propose":
      env.node(first(a)).raw!.propose(ENCODER.encode(a[1]?.key ?? ""));
      return;
    case "propose-conf-change":
      env.node(first(a)).raw!.proposeConfChange(parseConfChange(a, tc.input));
      return;
    case "process-ready":
      forEachNode(env, ids(a), (id) => env.processReady(id, flag(a, "persist", true)));
      return;
    case "persist":
      forEachNode(env, ids(a), (id) => env.persist(id));
      return;
    case "deliver-msgs":
      deliverMsgs(env, a);
      return;
    case "stabilize":
      env.stabilize(ids(a));
      return;
    case "tick-heartbeat":
      tick(env, first(a), env.node(first(a)).config.heartbeatTick);
      return;
    case "tick-election":
      tick(env, first(a), env.node(first(a)).config.electionTick);
      return;
    case "tick":
      tick(env, first(a), Number(value(a, "n") ?? "1"));
      return;
    case "log-level": {
      const lvl = (a[0]?.key ?? "").toUpperCase() as Level;
      if (!LEVELS.includes(lvl)) throw new UsageError(`unknown log level ${a[0]?.key}`);
      env.level = lvl;
      return;
    }
    case "status":
      status(env, first(a));
      return;
    case "raft-state":
      raftState(env);
      return;
    case "raft-log":
      raftLog(env, first(a));
      return;
    case "partition":
      partition(env, a);
      return;
    case "heal":
      env.cut.clear();
      return;
    case "crash":
      crash(env, first(a));
      return;
    case "restart":
      restart(env, first(a));
      return;
    case "transfer-leadership":
      env
        .node(BigInt(value(a, "from") ?? "0"))
        .raw!.transferLeadership(BigInt(value(a, "to") ?? "0"));
      return;
    case "read-index":
      env.node(first(a)).raw!.readIndex(ENCODER.encode(a[1]?.key ?? ""));
      return;
    case "report-snapshot": {
      const st = value(a, "status") === "failure" ? SnapshotStatus.Failure : SnapshotStatus.Finish;
      env.node(first(a)).raw!.reportSnapshot(BigInt(a[1].key), st);
      return;
    }
    case "report-unreachable":
      env.node(first(a)).raw!.reportUnreachable(BigInt(a[1].key));
      return;
    case "compact": {
      const n = env.node(first(a));
      n.storage.compact(Number(a[1].key));
      raftLog(env, first(a));
      return;
    }
    case "snapshot": {
      // What an application does from time to time: snapshot the applied state, then
      // compact the log up to it.
      const n = env.node(first(a));
      const s = n.storage.createSnapshot(
        n.storage.applied,
        n.storage.conf,
        ENCODER.encode(`snap@${n.storage.applied}`),
      );
      n.storage.compact(s.metadata.index);
      env.write(`snapshot at index ${s.metadata.index} term ${s.metadata.term}; log compacted`);
      raftLog(env, first(a));
      return;
    }
    default:
      throw new UsageError(`unknown command ${tc.cmd}`);
  }
}

function addNodes(env: InteractionEnv, a: CmdArg[]): void {
  const count = Number(a[0]?.key);
  if (!Number.isInteger(count) || count < 1) throw new UsageError("add-nodes <count> ...");
  const cs = emptyConfState();
  cs.voters = list(a, "voters").map(BigInt);
  cs.learners = list(a, "learners").map(BigInt);
  const index = Number(value(a, "index") ?? "0");
  const bootstrap = cs.voters.length + cs.learners.length > 0;
  const readOnly =
    value(a, "read-only") === "lease-based" ? ReadOnlyOption.LeaseBased : ReadOnlyOption.Safe;
  for (let k = 0; k < count; k++) {
    const id = BigInt(env.nodes.length + 1);
    let storage: EnvStorage;
    if (bootstrap && index > 0) {
      storage = new EnvStorage();
      storage.applySnapshot({
        metadata: { index, term: 1, confState: cs },
        data: new Uint8Array(0),
      });
    } else storage = new EnvStorage(bootstrap ? cs : undefined);
    storage.applied = bootstrap ? index : 0;
    storage.conf = bootstrap ? cs : emptyConfState();
    const node = {
      id,
      raw: undefined,
      storage,
      config: {
        id,
        electionTick: 3,
        heartbeatTick: 1,
        random: () => 0,
        logger: env.logger(),
        preVote: flag(a, "prevote", false),
        checkQuorum: flag(a, "checkquorum", false),
        readOnlyOption: readOnly,
        maxInflightMsgs: Number(value(a, "inflight") ?? "256"),
        maxSizePerMsg: Number(value(a, "max-size-per-msg") ?? "1048576"),
        maxCommittedSizePerReady: Number(value(a, "max-committed-size-per-ready") ?? "0"),
        disableProposalForwarding: flag(a, "disable-forwarding", false),
      },
    };
    env.nodes.push(node);
    env.start(node);
  }
}

function deliverMsgs(env: InteractionEnv, a: CmdArg[]): void {
  const typeName = value(a, "type");
  let type: number | undefined;
  if (typeName !== undefined) {
    type = MessageType[typeName as keyof typeof MessageType];
    if (type === undefined) throw new UsageError(`unknown message type ${typeName}`);
  }
  let n = 0;
  for (const id of ids(a)) n += env.deliver(id, { type });
  for (const d of list(a, "drop")) n += env.deliver(BigInt(d), { drop: true, type });
  if (n === 0) env.write("no messages");
}

function tick(env: InteractionEnv, id: NodeId, times: number): void {
  const raw = env.node(id).raw;
  if (raw === undefined) throw new Error(`node ${id} is crashed`);
  for (let i = 0; i < times; i++) raw.tick();
}

function status(env: InteractionEnv, id: NodeId): void {
  const raw = env.node(id).raw;
  if (raw === undefined) throw new Error(`node ${id} is crashed`);
  const st = raw.status();
  const hs = st.hardState;
  env.write(
    `${id}: ${describeStateType(st.softState.raftState)} term=${hs.term} vote=${hs.vote} commit=${hs.commit} applied=${st.applied} lead=${st.softState.lead}`,
  );
  if (st.progress === undefined) return;
  for (const pid of [...st.progress.keys()].sort((x, y) => (x < y ? -1 : 1))) {
    env.write(`  ${pid}: ${describeProgressLine(st.progress.get(pid)!)}`);
  }
}

function describeProgressLine(p: ProgressStatus): string {
  let s = `${p.state} match=${p.match} next=${p.next}`;
  if (p.isLearner) s += " learner";
  if (p.pendingSnapshot > 0) s += ` pendingSnap=${p.pendingSnapshot}`;
  if (p.inflightsFull) s += " inflights-full";
  return s;
}

function raftState(env: InteractionEnv): void {
  for (const n of env.nodes) {
    if (n.raw === undefined) {
      env.write(`${n.id}: crashed`);
      continue;
    }
    const st = n.raw.status();
    const cs = n.storage.conf;
    const voter = cs.voters.includes(n.id) || cs.votersOutgoing.includes(n.id);
    env.write(
      `${n.id}: ${describeStateType(st.softState.raftState)} (${voter ? "Voter" : "Non-Voter"}) Term:${st.hardState.term} Lead:${st.softState.lead}`,
    );
  }
}

function raftLog(env: InteractionEnv, id: NodeId): void {
  const s = env.node(id).storage;
  const fi = s.firstIndex();
  const li = s.lastIndex();
  if (li < fi) {
    env.write(`log is empty: first index=${fi}, last index=${li}`);
    return;
  }
  for (const e of s.entries(fi, li + 1, Number.MAX_SAFE_INTEGER)) env.write(describeEntry(e, fmt));
}

function partition(env: InteractionEnv, a: CmdArg[]): void {
  const left = list(a, "a").map(BigInt);
  const right = list(a, "b").map(BigInt);
  if (left.length === 0 || right.length === 0)
    throw new UsageError("partition a=(ids) b=(ids) [one-way=true]");
  const oneWay = flag(a, "one-way", false);
  for (const x of left) {
    for (const y of right) {
      env.cut.add(`${x}>${y}`);
      if (!oneWay) env.cut.add(`${y}>${x}`);
    }
  }
}

function crash(env: InteractionEnv, id: NodeId): void {
  const n = env.node(id);
  n.raw = undefined;
  n.pending = undefined;
  // Whatever was in flight to it is lost with the process.
  const lost = env.messages.filter((m) => m.to === id).length;
  env.messages = env.messages.filter((m) => m.to !== id);
  const hs = n.storage.initialState().hardState;
  env.write(
    `${id} crashed (${lost} messages to it lost); durable: term=${hs.term} vote=${hs.vote} commit=${hs.commit} last index=${n.storage.lastIndex()} applied=${n.storage.applied}`,
  );
}

function restart(env: InteractionEnv, id: NodeId): void {
  const n = env.node(id);
  if (n.raw !== undefined) throw new Error(`node ${id} is running`);
  env.start(n);
  const st = n.raw!.status();
  env.write(
    `${id} restarted: term=${st.hardState.term} vote=${st.hardState.vote} commit=${st.hardState.commit} applied=${st.applied} last index=${n.storage.lastIndex()}`,
  );
}

/** `v2 l3 r1 u4` (voter, learner, remove, update) into changes; see etcd's ConfChangesFromString. */
function parseConfChange(a: CmdArg[], input: string): ConfChange | ConfChangeV2 {
  const changes: ConfChangeSingle[] = [];
  for (const tok of input.split(/\s+/).filter((t) => t !== "")) {
    const types: Record<string, ConfChangeType> = {
      v: ConfChangeType.AddNode,
      l: ConfChangeType.AddLearnerNode,
      r: ConfChangeType.RemoveNode,
      u: ConfChangeType.UpdateNode,
    };
    const type = types[tok[0]];
    if (type === undefined) throw new UsageError(`bad conf change ${tok}`);
    changes.push({ type, nodeId: BigInt(tok.slice(1)) });
  }
  const empty = new Uint8Array(0);
  if (flag(a, "v1", false)) {
    if (changes.length !== 1) throw new UsageError("v1 conf change needs exactly one change");
    return { type: changes[0].type, nodeId: changes[0].nodeId, context: empty, id: 0n };
  }
  const t = value(a, "transition") ?? "auto";
  const transitions: Record<string, ConfChangeTransition> = {
    auto: ConfChangeTransition.Auto,
    implicit: ConfChangeTransition.JointImplicit,
    explicit: ConfChangeTransition.JointExplicit,
  };
  if (transitions[t] === undefined) throw new UsageError(`unknown transition ${t}`);
  return { transition: transitions[t], changes, context: empty };
}

function forEachNode(env: InteractionEnv, list: NodeId[], f: (id: NodeId) => void): void {
  if (list.length === 1) {
    f(list[0]);
    return;
  }
  for (const id of list) {
    env.write(`> ${id} handling Ready`);
    env.indented(() => f(id));
  }
}

/** The bare numeric arguments, as node ids. */
function ids(a: CmdArg[]): NodeId[] {
  return a.filter((x) => x.vals.length === 0 && /^\d+$/.test(x.key)).map((x) => BigInt(x.key));
}

function first(a: CmdArg[]): NodeId {
  const v = ids(a)[0];
  if (v === undefined) throw new UsageError("missing node id");
  return v;
}

function value(a: CmdArg[], key: string): string | undefined {
  return a.find((x) => x.key === key)?.vals[0];
}

function list(a: CmdArg[], key: string): string[] {
  return a.find((x) => x.key === key)?.vals ?? [];
}

function flag(a: CmdArg[], key: string, dflt: boolean): boolean {
  const v = value(a, key);
  return v === undefined ? dflt : v === "true";
}

export { InteractionEnv };
