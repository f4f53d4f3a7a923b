import {
  type ConfState,
  describeMessage,
  MemoryStorage,
  type Message,
  MessageType,
  type NodeId,
  ProposalDroppedError,
  SnapshotStatus,
  StateType,
  StepPeerNotFoundError,
} from "../index.js";
import { KvApp, members, putCommand } from "./app.js";
import { type ChaosHost, runChaos } from "./chaos.js";
import { EventQueue } from "./event-queue.js";
import { CALM, SimNetwork } from "./network.js";
import { Prng } from "./prng.js";
import { ReadChecker } from "./read-checker.js";
import { SafetyChecker, SafetyViolation } from "./safety-checker.js";
import { type DriverBug, type NodeConfig, type NodeHost, SimNode } from "./sim-node.js";
import { BOOT_CHAIN, describeCs, TICK } from "./sim-util.js";
import { Trace } from "./trace.js";

export interface SimOptions {
  seed: number;
  /** Initial voters (3 or 5); ids 1..voters, then one initial learner with 50% chance. */
  voters: number;
  /** Events to run in the fault phase. */
  steps: number;
  /**
   * Ticks the healed cluster gets to elect a leader (default 250: without pre-vote a node
   * with a stale log keeps starting elections that reset the up-to-date voters' timers, as
   * in etcd, and randomized timeouts take a while to break the tie in a two-voter cluster).
   */
  leaderTicks?: number;
  /**
   * Ticks the healed cluster gets to commit a new entry and apply it on every member
   * (default 400: with tiny messages, one message in flight and slow fsyncs, a backlog of
   * uncommitted entries from the fault phase drains at a couple of entries per round trip).
   */
  livenessTicks?: number;
  /** Keep every trace line (else only the last `traceTail`). */
  keepFullTrace?: boolean;
  traceTail?: number;
  /** Break the driver on purpose (tests of the checkers). */
  driverBug?: DriverBug;
}

export interface SimStats {
  events: number;
  maxCommitted: number;
  terms: number;
  crashes: number;
  confChanges: number;
  snapshots: number;
  readsServed: number;
  writesAcked: number;
  /** Ticks the healed cluster took to elect a leader, and to apply a new entry everywhere. */
  leaderTicks: number;
  livenessTicks: number;
}

export interface SimResult {
  seed: number;
  voters: number;
  ok: boolean;
  /** The first problem found: a safety violation, a core exception, or a liveness failure. */
  error?: string;
  traceHash: string;
  traceLines: number;
  tail: string[];
  stats: SimStats;
}

/** Per-seed knobs, drawn from the seed's PRNG. */
export interface SimKnobs {
  node: NodeConfig;
  /** Probability that a Ready is persisted at once rather than after a delay. */
  persistNow: number;
  persistDelayMax: number;
  /** Probability that a failpoint on the persist path crashes the node. */
  failpointRate: number;
  /** Mean virtual time between fault/workload actions. */
  chaosInterval: number;
  /** How many Readys a node may take before the first is persisted (ready.ts pipelining). */
  maxPipeline: number;
  /** Bootstrap with `new MemoryStorage(confState)` rather than an applied snapshot. */
  constructorBootstrap: boolean;
}

export type SimEvent =
  | { k: "tick"; id: NodeId }
  | { k: "deliver"; m: Message; via: NodeId }
  | { k: "persist"; id: NodeId; inc: number }
  | { k: "snap-status"; from: NodeId; to: NodeId; status: SnapshotStatus }
  | { k: "unreachable"; from: NodeId; to: NodeId }
  | { k: "chaos" }
  | { k: "restart"; id: NodeId }
  | { k: "heal" };

/**
 * A deterministic simulation of a Raft cluster: nodes, a faulty network, crashes that lose
 * what was not fsynced, membership changes, leadership transfers, compaction and reads,
 * all scheduled from one seeded PRNG, with every safety property checked after every
 * event and a liveness check at the end. See README.md in this directory.
 */
export class ClusterSim implements NodeHost, ChaosHost {
  readonly rng: Prng;
  readonly queue = new EventQueue<SimEvent>();
  readonly network: SimNetwork;
  readonly checker = new SafetyChecker();
  readonly reads = new ReadChecker();
  readonly traceLog: Trace;
  readonly nodes = new Map<NodeId, SimNode>();
  readonly knobs: SimKnobs;
  readonly driverBug: DriverBug | undefined;
  readonly stats: SimStats = {
    events: 0,
    maxCommitted: 0,
    terms: 0,
    crashes: 0,
    confChanges: 0,
    snapshots: 0,
    readsServed: 0,
    writesAcked: 0,
    leaderTicks: 0,
    livenessTicks: 0,
  };
  now = 0;
  nextId: bigint;
  seq = 0;
  /** Whether faults and workload run (false in the liveness phase). */
  chaos = true;
  /** Nodes removed from the configuration: the (highest) index of their removal. */
  readonly removedAt = new Map<NodeId, number>();
  private readonly incarnation = new Map<NodeId, number>();

  constructor(readonly opts: SimOptions) {
    this.rng = new Prng(opts.seed);
    this.driverBug = opts.driverBug;
    this.network = new SimNetwork(this.rng);
    this.traceLog = new Trace(opts.traceTail ?? 300, opts.keepFullTrace ?? false);
    const r = this.rng;
    this.knobs = {
      node: {
        electionTick: 10,
        heartbeatTick: r.pick([1, 1, 2, 3]),
        preVote: r.chance(0.7),
        checkQuorum: r.chance(0.6),
        maxSizePerMsg: r.pick([32, 256, 4096, 1 << 20]),
        maxInflightMsgs: r.pick([1, 2, 4, 256]),
        maxCommittedSizePerReady: r.pick([0, 0, 64]),
      },
      persistNow: r.pick([0.2, 0.5, 0.9]),
      persistDelayMax: r.pick([2, 10, 40]),
      failpointRate: r.pick([0, 0.002, 0.01]),
      chaosInterval: r.pick([3, 6, 12]),
      maxPipeline: r.pick([1, 1, 2, 4]),
      constructorBootstrap: r.chance(0.5),
    };
    const voters: NodeId[] = [];
    for (let i = 1; i <= opts.voters; i++) voters.push(BigInt(i));
    const learners: NodeId[] = r.chance(0.5) ? [BigInt(opts.voters + 1)] : [];
    this.nextId = BigInt(opts.voters + learners.length + 1);
    const cs: ConfState = {
      voters,
      learners,
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    };
    for (const id of [...voters, ...learners]) this.addNode(id, cs);
    const k = this.knobs;
    this.trace(
      `seed=${opts.seed} voters=${voters.join(",")} learners=${learners.join(",")} prevote=${k.node.preVote} checkquorum=${k.node.checkQuorum} hb=${k.node.heartbeatTick} maxmsg=${k.node.maxSizePerMsg} inflight=${k.node.maxInflightMsgs} persistNow=${k.persistNow} fsyncMax=${k.persistDelayMax} pipeline=${k.maxPipeline} failpoints=${k.failpointRate}`,
    );
  }

  /**
   * Creates a node. Bootstrap members start from a snapshot at index 1 holding `cs` — made
   * by `new MemoryStorage(cs)` or, for half of the seeds, applied to an empty storage with
   * the application's state as payload —, so a node that joins later (empty) catches up
   * from a snapshot, which carries the configuration.
   */
  addNode(id: NodeId, cs?: ConfState): SimNode {
    let storage = new MemoryStorage();
    const app = KvApp.empty(BOOT_CHAIN);
    let base = { index: 0, term: 0, chain: BOOT_CHAIN };
    if (cs !== undefined) {
      app.applied = 1;
      app.confState = cs;
      if (this.knobs.constructorBootstrap) storage = new MemoryStorage(cs);
      else
        storage.applySnapshot({
          metadata: { index: 1, term: 1, confState: cs },
          data: app.encode(),
        });
      base = { index: 1, term: 1, chain: BOOT_CHAIN };
    }
    const n = new SimNode(id, storage, app, this.knobs.node);
    this.nodes.set(id, n);
    this.incarnation.set(id, 0);
    this.checker.addNode(id, base, storage.initialState().hardState);
    n.start(this);
    this.queue.push(this.now + this.rng.int(1, TICK), { k: "tick", id });
    this.trace(`n${id} created${cs ? " (bootstrap)" : " (joining)"}`);
    return n;
  }

  schedule(at: number, ev: SimEvent): void {
    this.queue.push(at, ev);
  }

  trace(line: string): void {
    this.traceLog.add(`t=${this.now} ${line}`);
  }

  /** Runs the whole simulation and reports. Never throws. */
  run(): SimResult {
    let error: string | undefined;
    try {
      this.afterEvent();
      this.queue.push(this.now + 1, { k: "chaos" });
      for (let i = 0; i < this.opts.steps; i++) this.step();
      this.liveness();
    } catch (e) {
      error =
        e instanceof SafetyViolation
          ? e.message
          : e instanceof Error
            ? `${e.name}: ${e.message}\n${e.stack ?? ""}`
            : String(e);
      this.trace(`FAILURE ${error.split("\n")[0]}`);
    }
    this.stats.maxCommitted = this.checker.maxCommitted();
    this.stats.terms = this.checker.leaderOf.size;
    return {
      seed: this.opts.seed,
      voters: this.opts.voters,
      ok: error === undefined,
      error,
      traceHash: this.traceLog.hash,
      traceLines: this.traceLog.lines,
      tail: this.traceLog.tail(),
      stats: this.stats,
    };
  }

  /** Runs one event and checks every node afterwards. */
  step(): boolean {
    const item = this.queue.pop();
    if (item === undefined) return false;
    this.now = item.at;
    this.stats.events++;
    this.handle(item.ev);
    this.afterEvent();
    return true;
  }

  private handle(ev: SimEvent): void {
    switch (ev.k) {
      case "tick": {
        // Ticks keep coming while a node is down or shut down (a re-added node restarts).
        this.nodes.get(ev.id)!.raw?.tick();
        this.queue.push(this.now + TICK + (this.rng.chance(0.1) ? this.rng.int(-2, 2) : 0), ev);
        return;
      }
      case "deliver":
        this.deliver(ev.m, ev.via);
        return;
      case "persist": {
        const n = this.nodes.get(ev.id)!;
        if (this.incarnation.get(ev.id) !== ev.inc) return;
        this.trace(`n${ev.id} fsync`);
        n.persist(this);
        return;
      }
      case "snap-status": {
        const n = this.nodes.get(ev.from)!;
        if (n.raw === undefined) return;
        this.trace(`n${ev.from} report-snapshot ${ev.to} ${SnapshotStatus[ev.status]}`);
        n.raw.reportSnapshot(ev.to, ev.status);
        return;
      }
      case "unreachable": {
        const n = this.nodes.get(ev.from)!;
        if (n.raw === undefined) return;
        this.trace(`n${ev.from} report-unreachable ${ev.to}`);
        n.raw.reportUnreachable(ev.to);
        return;
      }
      case "chaos":
        if (!this.chaos) return;
        runChaos(this);
        this.queue.push(this.now + this.rng.int(1, 2 * this.knobs.chaosInterval), ev);
        return;
      case "restart":
        this.restart(ev.id);
        return;
      case "heal":
        if (!this.chaos) return;
        this.network.heal();
        this.trace("heal");
        return;
    }
  }

  /** After each event: observe every node, take and maybe persist their Readys. */
  private afterEvent(): void {
    for (const n of this.nodes.values()) {
      for (let guard = 0; guard < 100 && n.raw !== undefined; guard++) {
        const st = n.raw.basicStatus();
        this.checker.observe(n.id, {
          term: st.hardState.term,
          commit: st.hardState.commit,
          isLeader: st.softState.raftState === StateType.Leader,
        });
        if (n.pending.length >= this.knobs.maxPipeline || !n.raw.hasReady()) break;
        const delay = this.rng.chance(this.knobs.persistNow)
          ? 0
          : this.rng.int(1, this.knobs.persistDelayMax);
        n.maybeReady(this, delay, this.knobs.maxPipeline);
      }
    }
    this.maybeShutdownRemoved();
  }

  // ---- NodeHost ----

  send(m: Message, via: NodeId): void {
    if (m.type === MessageType.MsgSnap) m = this.freshSnapshot(m);
    const out = this.network.send(m, via);
    if ("dropped" in out) {
      this.trace(`drop(${out.dropped}) ${describeMessage(m)}`);
      if (m.type === MessageType.MsgSnap) {
        this.queue.push(this.now + this.rng.int(1, 20), {
          k: "snap-status",
          from: m.from,
          to: m.to,
          status: SnapshotStatus.Failure,
        });
      } else if (out.dropped === "partition" && this.rng.chance(0.2)) {
        this.queue.push(this.now + this.rng.int(1, 20), {
          k: "unreachable",
          from: via,
          to: m.to,
        });
      }
      return;
    }
    for (const d of out.delays) this.queue.push(this.now + d, { k: "deliver", m, via });
  }

  /**
   * The application decides what a MsgSnap carries, as etcd's server does
   * (createMergedSnapshotMessage): raft names the latest stored snapshot, which may predate
   * the recipient joining — a node ignores a snapshot whose configuration lacks it — so the
   * sender's state machine at its applied index is sent instead when the stored snapshot
   * does not name the recipient, and half of the time anyway.
   */
  private freshSnapshot(m: Message): Message {
    const n = this.nodes.get(m.from)!;
    const stored = m.snapshot!;
    const named = members(stored.metadata.confState).includes(m.to);
    if ((named && this.rng.chance(0.5)) || n.app.applied <= stored.metadata.index) return m;
    const snapshot = {
      metadata: {
        index: n.app.applied,
        term: n.storage.term(n.app.applied),
        confState: n.app.confState,
      },
      data: n.app.encode(),
    };
    this.trace(
      `n${m.from} sends its state at ${n.app.applied} instead of stored snapshot ${stored.metadata.index}`,
    );
    return { ...m, snapshot };
  }

  schedulePersist(n: SimNode, delay: number): void {
    if (delay === 0 && n.pending.length === 1) {
      n.persist(this);
      return;
    }
    // Persists complete in the order the Readys were taken.
    const at = Math.max(this.now + delay, n.lastPersistAt);
    n.lastPersistAt = at;
    this.queue.push(at, { k: "persist", id: n.id, inc: this.incarnation.get(n.id)! });
  }

  failpoint(n: SimNode, name: "after-persist" | "after-send"): boolean {
    if (!this.chaos || !this.rng.chance(this.knobs.failpointRate)) return false;
    this.crash(n, `failpoint ${name}`);
    return true;
  }

  onConfApplied(n: SimNode, index: number, prev: ConfState, cs: ConfState): void {
    this.trace(`n${n.id} applied conf change @${index}: ${describeCs(cs)}`);
    const now = new Set(members(cs));
    for (const id of members(prev)) {
      if (!now.has(id) && (this.removedAt.get(id) ?? 0) < index) {
        this.removedAt.set(id, index);
        this.trace(`n${id} removed from the configuration at ${index}`);
      }
    }
    for (const id of now) {
      const x = this.nodes.get(id);
      if (x?.stopped) {
        // Raft lets a proposal made before the removal re-add the node; its operator
        // starts it again (from its durable state).
        x.stopped = false;
        this.removedAt.delete(id);
        this.trace(`n${id} re-added at ${index}; restarting it`);
        this.restart(id);
      }
    }
  }

  // ---- faults ----

  crash(n: SimNode, why: string): void {
    if (n.raw === undefined) return;
    this.stats.crashes++;
    this.incarnation.set(n.id, this.incarnation.get(n.id)! + 1);
    this.trace(
      `n${n.id} CRASH (${why}); durable hs=${describeHs(n)} last=${n.storage.lastIndex()} applied=${n.app.applied}`,
    );
    n.crash(this);
  }

  restart(id: NodeId): void {
    const n = this.nodes.get(id)!;
    if (n.raw !== undefined || n.stopped) return;
    n.start(this);
    this.trace(
      `n${id} RESTART from hs=${describeHs(n)} last=${n.storage.lastIndex()} applied=${n.app.applied}`,
    );
  }

  /** The live leader with the highest term, if any. */
  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    let bestTerm = -1;
    for (const n of this.nodes.values()) {
      if (n.raw === undefined) continue;
      const st = n.raw.basicStatus();
      if (st.softState.raftState === StateType.Leader && st.hardState.term > bestTerm) {
        best = n;
        bestTerm = st.hardState.term;
      }
    }
    return best;
  }

  /** Stops removed nodes once every member of the new configuration applied the removal. */
  /**
   * Stops a removed node (as etcd's member does once it learns it was removed) when the
   * most advanced configuration does not name it and every member of that configuration
   * has applied its removal, so that no quorum can still need it.
   */
  private maybeShutdownRemoved(): void {
    if (this.removedAt.size === 0) return;
    let latest: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (!n.stopped && (latest === undefined || n.app.applied > latest.app.applied)) latest = n;
    }
    if (latest === undefined) return;
    const current = members(latest.app.confState);
    for (const [id, index] of this.removedAt) {
      const n = this.nodes.get(id)!;
      if (n.stopped) continue;
      if (current.includes(id)) continue; // re-added since
      if (!current.every((m) => (this.nodes.get(m)?.app.applied ?? 0) >= index)) continue;
      if (n.raw !== undefined) n.crash(this);
      n.stopped = true;
      this.incarnation.set(id, this.incarnation.get(id)! + 1);
      this.trace(`n${id} shut down (removed at ${index})`);
    }
  }

  private deliver(m: Message, via: NodeId): void {
    const n = this.nodes.get(m.to);
    const failSnap = (): void => {
      if (m.type === MessageType.MsgSnap) {
        this.queue.push(this.now + this.rng.int(1, 20), {
          k: "snap-status",
          from: m.from,
          to: m.to,
          status: SnapshotStatus.Failure,
        });
      }
    };
    if (n === undefined || n.raw === undefined) {
      this.trace(`drop(down) ${describeMessage(m)}`);
      failSnap();
      return;
    }
    if (this.network.isCut(via, m.to)) {
      this.trace(`drop(partition) ${describeMessage(m)}`);
      failSnap();
      return;
    }
    this.trace(describeMessage(m));
    try {
      n.raw.step(m);
    } catch (e) {
      if (e instanceof StepPeerNotFoundError || e instanceof ProposalDroppedError) {
        this.trace(`n${m.to} ignored: ${e.message}`);
        return;
      }
      throw e;
    }
    if (m.type === MessageType.MsgSnap) {
      this.queue.push(this.now + this.rng.int(1, 20), {
        k: "snap-status",
        from: m.from,
        to: m.to,
        status: SnapshotStatus.Finish,
      });
    }
  }

  // ---- liveness ----

  /**
   * Heals everything, restarts every crashed member and requires a leader within
   * `leaderTicks` and, within `livenessTicks`, a new entry committed by a leader and
   * applied by every member of its configuration.
   */
  private liveness(): void {
    this.chaos = false;
    this.network.heal();
    this.network.faults = { ...CALM };
    this.trace("LIVENESS: heal all, restart all");
    for (const n of this.nodes.values()) if (!n.stopped && n.raw === undefined) this.restart(n.id);
    this.afterEvent();
    const start = this.now;
    const leaderTicks = this.opts.leaderTicks ?? 250;
    const livenessTicks = this.opts.livenessTicks ?? 400;
    const deadline = start + livenessTicks * TICK;
    let leaderSeen = false;
    // Markers proposed so far (a leader change may lose one; each is retried after a while).
    const markers: { node: SimNode; writeId: string }[] = [];
    let lastProposal = -Infinity;
    let ackIndex = 0;
    for (;;) {
      const l = this.leader();
      if (!leaderSeen && l !== undefined) {
        leaderSeen = true;
        this.stats.leaderTicks = Math.ceil((this.now - start) / TICK);
      }
      if (!leaderSeen && this.now > start + leaderTicks * TICK) {
        throw new Error(`Liveness: no leader within ${leaderTicks} ticks of healing`);
      }
      if (this.now > deadline) {
        throw new Error(
          `Liveness: no leader committed a new entry on all members within ${livenessTicks} ticks (leader: ${l ? `n${l.id}` : "none"}, markers proposed: ${markers.length}, acknowledged at: ${ackIndex})`,
        );
      }
      if (ackIndex === 0 && l !== undefined && this.now - lastProposal > 5 * TICK) {
        const writeId = `live${this.seq++}`;
        try {
          l.raw!.propose(putCommand("live", writeId));
          l.waiting.add(writeId);
          markers.push({ node: l, writeId });
          lastProposal = this.now;
          this.trace(`n${l.id} propose marker ${writeId}`);
        } catch {
          // Dropped (a transfer in progress, a removed leader): retry later.
        }
      }
      if (ackIndex === 0) {
        const acked = markers.find((m) => m.node.alive && !m.node.waiting.has(m.writeId));
        if (acked !== undefined) ackIndex = acked.node.app.applied;
      }
      if (ackIndex > 0 && l !== undefined) {
        const all = members(l.app.confState).every((id) => {
          const n = this.nodes.get(id);
          return n !== undefined && n.app.applied >= ackIndex;
        });
        if (all) {
          this.stats.livenessTicks = Math.ceil((this.now - start) / TICK);
          this.trace(
            `LIVENESS ok after ${this.stats.livenessTicks} ticks: leader n${l.id}, marker at ${ackIndex}`,
          );
          return;
        }
      }
      if (!this.step()) throw new Error("Liveness: no more events");
    }
  }
}

function describeHs(n: SimNode): string {
  const hs = n.storage.initialState().hardState;
  return `${hs.term}/${hs.vote}/${hs.commit}`;
}
