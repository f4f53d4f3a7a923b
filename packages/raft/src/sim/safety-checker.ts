import {
  type Entry,
  type HardState,
  type Message,
  MessageType,
  type NodeId,
  None,
} from "../index.js";
import { chainHash } from "./hash.js";
import {
  LogModel,
  type LogModel as LogModelT,
  LogOverlay,
  type LogPoint,
  type LogView,
} from "./log-model.js";

/**
 * Raft's safety properties (Raft paper, Figure 3, and thesis §3.6), plus the durability
 * contract of ready.ts, checked incrementally over a history of observations. The
 * simulation reports every observable event (a Ready taken, a Ready persisted, an entry
 * applied, a message sent, a node's status after a step, a crash); a checker method throws
 * {@link SafetyViolation} as soon as the history so far breaks a property. Because state
 * only changes at these events, checking at each of them is checking after every step.
 *
 * The checker knows nothing about RawNode: tests drive it with hand-made histories.
 */
export class SafetyViolation extends Error {
  override readonly name = "SafetyViolation";
  constructor(
    readonly property: Property,
    detail: string,
  ) {
    super(`${property}: ${detail}`);
  }
}

export type Property =
  | "Election Safety"
  | "Leader Append-Only"
  | "Log Matching"
  | "Leader Completeness"
  | "State Machine Safety"
  | "Monotonic Term"
  | "Monotonic Commit"
  | "One Vote Per Term"
  | "Applied <= Committed <= Last"
  | "Durability Contract"
  | "Read Linearizability"
  | "Well-Formed Ready";

/** What the checker needs from a Ready (a subset of ready.ts's Ready). */
export interface ReadyView {
  hardState?: HardState;
  entries: readonly Entry[];
  snapshot?: { metadata: { index: number; term: number } };
  committedEntries: readonly Entry[];
  messages: readonly Message[];
  messagesAfterPersist: readonly Message[];
}

/** A node's role and volatile state as seen through `status()` after a step. */
export interface NodeObservation {
  term: number;
  commit: number;
  isLeader: boolean;
}

/** Message types a leader may send before its Ready is durable (ready.ts, step 1). */
const SENDABLE_BEFORE_PERSIST = new Set<MessageType>([
  MessageType.MsgApp,
  MessageType.MsgHeartbeat,
  MessageType.MsgSnap,
  MessageType.MsgTimeoutNow,
  MessageType.MsgReadIndexResp,
]);

/** Message types that never leave a node (they are raft-internal). */
const LOCAL_TYPES = new Set<MessageType>([
  MessageType.MsgHup,
  MessageType.MsgBeat,
  MessageType.MsgUnreachable,
  MessageType.MsgSnapStatus,
  MessageType.MsgCheckQuorum,
]);

interface NodeTrack {
  durable: LogModelT;
  /** The Ready taken but not yet persisted, as an overlay on `durable`. */
  /**
   * Readys taken but not yet persisted, oldest first (a driver may pipeline them); each
   * overlay sits on the one before it, the first on `durable`.
   */
  pending: { overlay: LogOverlay; hardState?: HardState }[];
  /** Persisted hard state. */
  hs: HardState;
  /** Volatile term and commit observed since the last (re)start. */
  liveTerm: number;
  liveCommit: number;
  /** The application's durable applied index and chain hash. */
  applied: number;
  appliedChain: number;
}

const key = (index: number, term: number): string => `${index}/${term}`;

/** The hard state of `n` once every Ready taken so far is durable. */
function hardStateView(n: NodeTrack): HardState {
  for (let i = n.pending.length - 1; i >= 0; i--) {
    const hs = n.pending[i].hardState;
    if (hs !== undefined) return hs;
  }
  return n.hs;
}

export class SafetyChecker {
  private readonly nodes = new Map<NodeId, NodeTrack>();
  /** Election Safety: the leader of each term, across the whole history. */
  readonly leaderOf = new Map<number, NodeId>();
  /** Log Matching: the chain hash of every (index, term) ever seen in any log. */
  private readonly logChains = new Map<string, number>();
  /** The chain hash of every committed index. */
  private readonly committedChain = new Map<number, number>();
  /** Commit milestones (term in which seen committed, index), for Leader Completeness. */
  private readonly milestones: { term: number; index: number }[] = [];
  /** Terms whose leader already passed the Leader Completeness check. */
  private readonly completenessChecked = new Set<number>();
  /** One Vote Per Term: (voter, term) -> candidate granted, from messages sent. */
  private readonly grants = new Map<string, NodeId>();

  /**
   * Registers a node whose durable log starts at `base` (a bootstrap snapshot, or index 0
   * for a node that joins empty) with persisted hard state `hs`.
   */
  addNode(id: NodeId, base: LogPoint, hs: HardState, applied: LogPoint = base): void {
    if (this.nodes.has(id)) throw new Error(`checker: node ${id} added twice`);
    this.recordLogChain(base.index, base.term, base.chain, `node ${id} base`);
    this.recordCommitted(base.index, base.chain, `node ${id} base`);
    this.nodes.set(id, {
      durable: new LogModel(base),
      pending: [],
      hs: { ...hs },
      liveTerm: hs.term,
      liveCommit: hs.commit,
      applied: applied.index,
      appliedChain: applied.chain,
    });
  }

  /** The durable log of a node as the checker models it. */
  durableLog(id: NodeId): LogView {
    return this.track(id).durable;
  }

  /** The node's status after a step (Election Safety, monotonic volatile term/commit). */
  observe(id: NodeId, o: NodeObservation): void {
    const n = this.track(id);
    if (o.term < n.liveTerm) {
      this.fail("Monotonic Term", `node ${id} term went from ${n.liveTerm} to ${o.term}`);
    }
    if (o.commit < n.liveCommit) {
      this.fail("Monotonic Commit", `node ${id} commit went from ${n.liveCommit} to ${o.commit}`);
    }
    if (o.commit < n.applied) {
      this.fail(
        "Applied <= Committed <= Last",
        `node ${id} applied ${n.applied} > commit ${o.commit}`,
      );
    }
    n.liveTerm = o.term;
    n.liveCommit = o.commit;
    if (o.isLeader) {
      const prev = this.leaderOf.get(o.term);
      if (prev === undefined) this.leaderOf.set(o.term, id);
      else if (prev !== id) {
        this.fail("Election Safety", `nodes ${prev} and ${id} are both leader of term ${o.term}`);
      }
    }
  }

  /** A Ready was taken from node `id` (which is at `term` right after taking it). */
  onReady(id: NodeId, rd: ReadyView, term: number): void {
    const n = this.track(id);
    // The log and hard state as they will be once every earlier Ready is durable.
    const prior = n.pending.length > 0 ? n.pending[n.pending.length - 1] : undefined;
    const before: LogView = prior?.overlay ?? n.durable;
    const hsBefore: HardState = hardStateView(n);
    for (const m of rd.messages) this.checkSendable(id, m, true);
    for (const m of rd.messagesAfterPersist) this.checkSendable(id, m, false);

    // Build the log as it will be once this Ready is durable.
    let snapPoint: LogPoint | undefined;
    if (rd.snapshot !== undefined) {
      const { index, term: st } = rd.snapshot.metadata;
      const chain = this.committedChain.get(index) ?? this.logChains.get(key(index, st));
      if (chain === undefined) {
        this.fail(
          "Well-Formed Ready",
          `node ${id} got a snapshot at ${index}/${st} that no node ever had`,
        );
      }
      if (index <= hsBefore.commit) {
        this.fail(
          "Well-Formed Ready",
          `node ${id} installs snapshot ${index} at or below its commit ${hsBefore.commit}`,
        );
      }
      snapPoint = { index, term: st, chain };
      this.recordCommitted(index, chain, `snapshot on node ${id}`);
    }
    const base: LogView = snapPoint ? new LogOverlay(before, snapPoint, 0, [], []) : before;
    const terms: number[] = [];
    const chains: number[] = [];
    let first = 0;
    if (rd.entries.length > 0) {
      first = rd.entries[0].index;
      const floor = base.firstPoint().index;
      if (first <= floor || first > base.lastIndex() + 1) {
        this.fail(
          "Well-Formed Ready",
          `node ${id} appends at ${first}, outside (${floor}, ${base.lastIndex() + 1}]`,
        );
      }
      let prev = base.chain(first - 1)!;
      let prevTerm = base.term(first - 1)!;
      for (let k = 0; k < rd.entries.length; k++) {
        const e = rd.entries[k];
        if (e.index !== first + k)
          this.fail("Well-Formed Ready", `node ${id} entries not contiguous at ${e.index}`);
        if (e.term < prevTerm)
          this.fail(
            "Well-Formed Ready",
            `node ${id} entry ${e.index} term ${e.term} < ${prevTerm}`,
          );
        if (e.term > term)
          this.fail(
            "Well-Formed Ready",
            `node ${id} entry ${e.index}/${e.term} from the future (term ${term})`,
          );
        prev = chainHash(prev, e.term, e.type, e.data);
        prevTerm = e.term;
        terms.push(e.term);
        chains.push(prev);
        // The commit index the node knew before this Ready (the previous Ready's, durable
        // now); this Ready may raise it, but only over the entries it appends.
        if (e.index <= hsBefore.commit) {
          const old = base.chain(e.index);
          if (old !== undefined && old !== prev) {
            this.fail(
              "State Machine Safety",
              `node ${id} overwrites its committed entry ${e.index}`,
            );
          }
        }
      }
    }
    const overlay = new LogOverlay(before, snapPoint, first, terms, chains);

    // Leader Append-Only: while a node is (or was) leader of its current term it never
    // removes or changes an entry of its log.
    if (this.leaderOf.get(term) === id && (rd.entries.length > 0 || rd.snapshot !== undefined)) {
      if (rd.snapshot !== undefined)
        this.fail("Leader Append-Only", `leader ${id} of term ${term} installs a snapshot`);
      const oldLast = base.lastIndex();
      if (overlay.lastIndex() < oldLast || overlay.chain(oldLast) !== base.chain(oldLast)) {
        this.fail(
          "Leader Append-Only",
          `leader ${id} of term ${term} rewrites its log from index ${first}`,
        );
      }
    }
    for (let k = 0; k < terms.length; k++)
      this.recordLogChain(first + k, terms[k], chains[k], `node ${id}`);

    const hs = rd.hardState;
    if (hs !== undefined) {
      if (hs.term < hsBefore.term)
        this.fail("Monotonic Term", `node ${id} hard state term ${hsBefore.term} -> ${hs.term}`);
      if (hs.commit < hsBefore.commit)
        this.fail(
          "Monotonic Commit",
          `node ${id} hard state commit ${hsBefore.commit} -> ${hs.commit}`,
        );
      if (hs.term === hsBefore.term && hsBefore.vote !== None && hs.vote !== hsBefore.vote) {
        this.fail(
          "One Vote Per Term",
          `node ${id} changes its vote in term ${hs.term}: ${hsBefore.vote} -> ${hs.vote}`,
        );
      }
      if (hs.commit > overlay.lastIndex()) {
        this.fail(
          "Applied <= Committed <= Last",
          `node ${id} commit ${hs.commit} > last index ${overlay.lastIndex()}`,
        );
      }
    }
    const commitAfter = hs?.commit ?? hsBefore.commit;
    for (let k = 0; k < rd.committedEntries.length; k++) {
      const e = rd.committedEntries[k];
      if (e.index > commitAfter)
        this.fail(
          "Applied <= Committed <= Last",
          `node ${id} applies ${e.index} beyond commit ${commitAfter}`,
        );
      if (k > 0 && e.index !== rd.committedEntries[k - 1].index + 1) {
        this.fail("Well-Formed Ready", `node ${id} committed entries not contiguous at ${e.index}`);
      }
    }
    n.pending.push({ overlay, hardState: hs ? { ...hs } : undefined });

    // Leader Completeness, checked on the first Ready of each leader, when its whole log
    // (durable plus this Ready) is visible.
    if (this.leaderOf.get(term) === id && !this.completenessChecked.has(term)) {
      this.completenessChecked.add(term);
      this.checkCompleteness(id, term, overlay);
    }
  }

  /** The oldest Ready taken from `id` and not yet persisted is now durable. */
  onPersist(id: NodeId): void {
    const n = this.track(id);
    const p = n.pending.shift();
    if (p === undefined) throw new Error(`checker: node ${id} persisted without a Ready`);
    n.durable.commitOverlay(p.overlay);
    // The next Ready's overlay sat on this one, which the durable log now equals.
    if (n.pending.length > 0) n.pending[0].overlay.durable = n.durable;
    if (p.hardState !== undefined) {
      n.hs = p.hardState;
      const c = n.hs.commit;
      const chain = n.durable.chain(c);
      if (chain !== undefined) {
        this.recordCommitted(c, chain, `commit of node ${id}`);
        this.addMilestone(n.hs.term, c);
        this.checkLaterLeadersHave(n.hs.term, c, chain);
      }
    }
  }

  /** A message left node `from` (after persistence when it came from messagesAfterPersist). */
  onSend(m: Message): void {
    if (m.type === MessageType.MsgVoteResp && !m.reject) {
      const k = `${m.from}/${m.term}`;
      const prev = this.grants.get(k);
      if (prev !== undefined && prev !== m.to) {
        this.fail(
          "One Vote Per Term",
          `node ${m.from} granted votes to ${prev} and ${m.to} in term ${m.term}`,
        );
      }
      this.grants.set(k, m.to);
      const n = this.nodes.get(m.from);
      // Durable: the vote itself, or a later term (after which no vote in m.term is possible).
      if (n !== undefined && n.hs.term <= m.term && (n.hs.term !== m.term || n.hs.vote !== m.to)) {
        this.fail(
          "Durability Contract",
          `node ${m.from} grants a vote to ${m.to} in term ${m.term} before persisting it (durable term ${n.hs.term} vote ${n.hs.vote})`,
        );
      }
    }
    if (m.type === MessageType.MsgAppResp && !m.reject) {
      const n = this.nodes.get(m.from);
      if (n !== undefined && n.durable.lastIndex() < m.index) {
        this.fail(
          "Durability Contract",
          `node ${m.from} acknowledges index ${m.index} but its durable log ends at ${n.durable.lastIndex()}`,
        );
      }
    }
  }

  /** Node `id` applied a committed entry (durably, with its applied index). */
  onApply(id: NodeId, e: Entry): void {
    const n = this.track(id);
    if (e.index !== n.applied + 1) {
      this.fail("State Machine Safety", `node ${id} applies ${e.index} after ${n.applied}`);
    }
    if (e.index > n.hs.commit) {
      this.fail(
        "Applied <= Committed <= Last",
        `node ${id} applies ${e.index} beyond its durable commit ${n.hs.commit}`,
      );
    }
    const chain = chainHash(n.appliedChain, e.term, e.type, e.data);
    const inLog = this.logChains.get(key(e.index, e.term));
    if (inLog !== undefined && inLog !== chain) {
      this.fail(
        "State Machine Safety",
        `node ${id} applies ${e.index}/${e.term} which differs from the logged entry`,
      );
    }
    this.recordCommitted(e.index, chain, `apply on node ${id}`);
    n.applied = e.index;
    n.appliedChain = chain;
  }

  /** Node `id` replaced its state machine by a snapshot whose state has chain `chain`. */
  onRestore(id: NodeId, index: number, chain: number): void {
    const n = this.track(id);
    if (index < n.applied)
      this.fail(
        "State Machine Safety",
        `node ${id} restores snapshot ${index} < applied ${n.applied}`,
      );
    this.recordCommitted(index, chain, `snapshot restore on node ${id}`);
    n.applied = index;
    n.appliedChain = chain;
  }

  /** Node `id` crashed: its volatile state is gone. */
  onCrash(id: NodeId): void {
    const n = this.track(id);
    n.pending = [];
    n.liveTerm = n.hs.term;
    n.liveCommit = n.hs.commit;
  }

  /** The application's applied index (durable) of a node. */
  applied(id: NodeId): number {
    return this.track(id).applied;
  }

  /** The highest index known committed. */
  maxCommitted(): number {
    let max = 0;
    for (const m of this.milestones) max = Math.max(max, m.index);
    return max;
  }

  private checkCompleteness(id: NodeId, term: number, log: LogView): void {
    let need = 0;
    for (const m of this.milestones) if (m.term < term && m.index > need) need = m.index;
    if (need === 0) return;
    const floor = log.firstPoint().index;
    const at = Math.max(need, floor);
    const want = this.committedChain.get(at);
    const have = log.chain(at);
    if (have === undefined || (want !== undefined && have !== want)) {
      this.fail(
        "Leader Completeness",
        `leader ${id} of term ${term} lacks committed entry ${need} (its log ends at ${log.lastIndex()})`,
      );
    }
  }

  /**
   * Leader Completeness, the other way round: when index `index` becomes known committed
   * (by a node at `term`), every node that is leading a later term must already have it.
   */
  private checkLaterLeadersHave(term: number, index: number, chain: number): void {
    for (const [id, t] of this.nodes) {
      if (t.liveTerm <= term || this.leaderOf.get(t.liveTerm) !== id) continue;
      const log: LogView =
        t.pending.length > 0 ? t.pending[t.pending.length - 1].overlay : t.durable;
      if (index < log.firstPoint().index) continue;
      if (log.chain(index) !== chain) {
        this.fail(
          "Leader Completeness",
          `leader ${id} of term ${t.liveTerm} lacks entry ${index}, committed by term ${term} (its log ends at ${log.lastIndex()})`,
        );
      }
    }
  }

  private addMilestone(term: number, index: number): void {
    for (const m of this.milestones) {
      if (m.term === term) {
        m.index = Math.max(m.index, index);
        return;
      }
    }
    this.milestones.push({ term, index });
  }

  private checkSendable(id: NodeId, m: Message, beforePersist: boolean): void {
    // A follower forwards proposals and read requests as they came (from their origin).
    const forwarded = m.type === MessageType.MsgProp || m.type === MessageType.MsgReadIndex;
    if (m.from !== id && !forwarded) {
      this.fail("Well-Formed Ready", `node ${id} sends a message from ${m.from}`);
    }
    if (m.to === None || m.to === id || LOCAL_TYPES.has(m.type)) {
      this.fail(
        "Well-Formed Ready",
        `node ${id} sends local message ${MessageType[m.type]} to ${m.to}`,
      );
    }
    if (beforePersist) {
      if (!SENDABLE_BEFORE_PERSIST.has(m.type) || this.leaderOf.get(m.term) !== id) {
        this.fail(
          "Durability Contract",
          `node ${id} may not send ${MessageType[m.type]} (term ${m.term}) before persisting`,
        );
      }
    }
  }

  private recordLogChain(index: number, term: number, chain: number, who: string): void {
    const k = key(index, term);
    const prev = this.logChains.get(k);
    if (prev === undefined) this.logChains.set(k, chain);
    else if (prev !== chain) {
      this.fail(
        "Log Matching",
        `${who} has entry ${k} with a different prefix or content than another log`,
      );
    }
  }

  private recordCommitted(index: number, chain: number, who: string): void {
    const prev = this.committedChain.get(index);
    if (prev === undefined) this.committedChain.set(index, chain);
    else if (prev !== chain) {
      this.fail(
        "State Machine Safety",
        `${who}: committed index ${index} differs from what another node committed`,
      );
    }
  }

  private track(id: NodeId): NodeTrack {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`checker: unknown node ${id}`);
    return n;
  }

  private fail(p: Property, detail: string): never {
    throw new SafetyViolation(p, detail);
  }
}
