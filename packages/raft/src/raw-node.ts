import {
  confChangeAsV2,
  encodeConfChange,
  encodeConfChangeV2,
  isConfChangeV2,
} from "./conf-change.js";
import type { Config } from "./config.js";
import { BugIndicatingError, StepLocalMessageError, StepPeerNotFoundError } from "./errors.js";
import { localMessage, reply } from "./messages.js";
import { newRaft } from "./new-raft.js";
import type { Raft } from "./raft.js";
import { applyConfChange } from "./raft-config.js";
import { leaderMaybeCommit } from "./read-index.js";
import type { Ready } from "./ready.js";
import { bcastAppend } from "./replicate.js";
import { type BasicStatus, getBasicStatus, getStatus, type Status } from "./status.js";
import { proposeOnLeader } from "./step-leader.js";
import {
  type ConfChange,
  ConfChangeType,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  type NodeId,
  None,
  SnapshotStatus,
  type SoftState,
  StateType,
} from "./types.js";
import { EMPTY_BYTES, entriesSize, NO_LIMIT } from "./util.js";

/** What `advance` must do for one Ready, recorded when the Ready is handed out. */
interface ReadyRecord {
  rd: Ready;
  /** The last entry handed out for persistence (index, term), or index 0. */
  lastIndex: number;
  lastTerm: number;
  /** The index of the snapshot handed out, or -1. */
  snapIndex: number;
  /** The last committed entry handed out for applying, or 0, and their payload bytes. */
  appliedIndex: number;
  appliedSize: number;
}

const LOCAL_MSG: readonly boolean[] = flags([
  MessageType.MsgHup,
  MessageType.MsgBeat,
  MessageType.MsgUnreachable,
  MessageType.MsgSnapStatus,
  MessageType.MsgCheckQuorum,
]);
const RESPONSE_MSG: readonly boolean[] = flags([
  MessageType.MsgAppResp,
  MessageType.MsgVoteResp,
  MessageType.MsgHeartbeatResp,
  MessageType.MsgUnreachable,
  MessageType.MsgReadIndexResp,
  MessageType.MsgPreVoteResp,
]);

function flags(types: MessageType[]): boolean[] {
  const t: boolean[] = [];
  for (const x of types) t[x] = true;
  return t;
}

/** Whether a message type is generated locally only (never valid from the network). */
export function isLocalMsg(t: MessageType): boolean {
  return LOCAL_MSG[t] === true;
}

/** Whether a message type is a response (its sender must be a known member). */
export function isResponseMsg(t: MessageType): boolean {
  return RESPONSE_MSG[t] === true;
}

/**
 * A raft node as a pure state machine, in the style of etcd-io/raft's RawNode: inputs are
 * method calls (`tick`, `step`, `propose`, ...), outputs are collected with `ready()` and
 * acknowledged with `advance()`. See README.md for the loop that drives it and
 * {@link Ready} for the caller's duties.
 *
 * Methods that submit a proposal throw {@link ProposalDroppedError} when it cannot be
 * accepted. `step` throws {@link StepLocalMessageError} for local-only message types and
 * {@link StepPeerNotFoundError} for responses from nodes not in the configuration; a
 * driver that feeds network messages should catch and drop those.
 *
 * Readies may be pipelined: `ready()` may be called again before `advance()`, each Ready
 * holding only what is new; `advance` must then be called once per Ready, in order.
 */
export class RawNode {
  /** The state machine (exposed for tests and the simulation; not a stable API). */
  readonly raft: Raft;
  private prevSoftSt: SoftState;
  private prevHardSt: HardState;
  private readonly inFlight: ReadyRecord[] = [];
  /** Whether applied payload sizes are needed (a committed or uncommitted size limit). */
  private readonly countSizes: boolean;
  /** The term known durable: from storage at start, then that of each advanced Ready. */
  private durableTerm: number;

  /**
   * Creates a node from `config`, restoring HardState and ConfState from
   * `config.storage.initialState()` and skipping entries up to `config.applied`.
   * Throws ConfigError on an invalid config.
   */
  constructor(config: Config) {
    this.raft = newRaft(config);
    this.countSizes =
      this.raft.maxUncommittedSize !== NO_LIMIT ||
      this.raft.raftLog.maxApplyingEntsSize !== NO_LIMIT;
    this.prevSoftSt = this.raft.softState();
    this.prevHardSt = this.raft.hardState();
    this.durableTerm = this.raft.term;
  }

  /**
   * Bootstraps a new cluster the way etcd does: writes one ConfChange (AddNode) entry per
   * initial member into the log at term 1 and commits them, so that the membership is part
   * of the replicated log (a member that joins later with an empty log learns it by
   * replaying those entries). The configuration takes effect at once; the entries are
   * also handed out as committed entries in the next Ready, and the application applies
   * them with {@link applyConfChange} like any other (re-applying them is harmless).
   *
   * Only for a node whose storage is empty (no entries, no HardState); throws otherwise.
   * The alternative is to start every initial member with the same ConfState in storage.
   */
  bootstrap(peers: readonly { id: NodeId; context?: Uint8Array }[]): void {
    const r = this.raft;
    if (peers.length === 0)
      throw new BugIndicatingError("must provide at least one peer to bootstrap");
    if (r.raftLog.lastIndex() !== 0 || r.term !== 0 || r.vote !== None) {
      throw new BugIndicatingError("can't bootstrap a nonempty storage");
    }
    // The HardState must be written even though the Ready carries it only if it changed.
    this.prevHardSt = { term: 0, vote: None, commit: 0 };
    this.durableTerm = 0;
    r.becomeFollower(1, None);
    const ents: Entry[] = peers.map((p, i) => ({
      term: 1,
      index: i + 1,
      type: EntryType.ConfChange,
      data: encodeConfChange({
        type: ConfChangeType.AddNode,
        nodeId: p.id,
        context: p.context ?? EMPTY_BYTES,
        id: 0n,
      }),
    }));
    r.raftLog.append(ents);
    r.raftLog.committed = ents.length;
    for (const p of peers) {
      applyConfChange(
        r,
        confChangeAsV2({
          type: ConfChangeType.AddNode,
          nodeId: p.id,
          context: EMPTY_BYTES,
          id: 0n,
        }),
      );
    }
  }

  /** Advances logical time by one tick (heartbeats, election timeouts). */
  tick(): void {
    this.raft.tick();
  }

  /** Campaigns to become leader now (with pre-vote if configured). */
  campaign(): void {
    this.raft.step(localMessage(MessageType.MsgHup, this.raft.id));
  }

  /**
   * Proposes `data` to be appended to the log. On a follower the proposal is forwarded to
   * the leader. Throws ProposalDroppedError if it cannot be accepted; acceptance does not
   * guarantee commitment (watch committedEntries).
   */
  propose(data: Uint8Array): void {
    if (this.raft.state === StateType.Leader) {
      // Same as stepping a local MsgProp on the leader, without the message.
      proposeOnLeader(this.raft, data);
      return;
    }
    const m = localMessage(MessageType.MsgProp, this.raft.id);
    m.entries = [{ term: 0, index: 0, type: EntryType.Normal, data }];
    this.raft.step(m);
  }

  /**
   * Proposes a membership change. A ConfChange (v1) or a single-change ConfChangeV2
   * without explicit joint transition is a simple change; anything else uses joint
   * consensus. When committed, the caller must call {@link applyConfChange}. If the leader
   * refuses it (another change pending, not joint/joint mismatch, or invalid), an empty
   * normal entry is appended in its place.
   */
  proposeConfChange(cc: ConfChange | ConfChangeV2): void {
    const m = localMessage(MessageType.MsgProp, this.raft.id);
    m.entries = isConfChangeV2(cc)
      ? [{ term: 0, index: 0, type: EntryType.ConfChangeV2, data: encodeConfChangeV2(cc) }]
      : [{ term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(cc) }];
    this.raft.step(m);
  }

  /**
   * Applies a committed conf change to this node's configuration and returns the new
   * ConfState (persist it with the applied index). Must be called for every committed
   * ConfChange/ConfChangeV2 entry, in log order, when it is applied.
   */
  applyConfChange(cc: ConfChange | ConfChangeV2): ConfState {
    return applyConfChange(this.raft, confChangeAsV2(cc));
  }

  /**
   * Feeds a message received from another node. Throws StepLocalMessageError for a
   * local-only type and StepPeerNotFoundError for a response from an unknown node.
   */
  step(m: Message): void {
    if (isLocalMsg(m.type)) throw new StepLocalMessageError();
    if (isResponseMsg(m.type) && !this.raft.trk.progress.has(m.from)) {
      throw new StepPeerNotFoundError();
    }
    this.raft.step(m);
  }

  /**
   * Requests a linearizable read. The answer arrives as a ReadState with `ctx` in a later
   * Ready: serve the read once applied >= its index. Dropped silently if no leader is
   * known (retry after a timeout).
   */
  readIndex(ctx: Uint8Array): void {
    const m = localMessage(MessageType.MsgReadIndex, this.raft.id);
    m.entries = [{ term: 0, index: 0, type: EntryType.Normal, data: ctx }];
    this.raft.step(m);
  }

  /** Asks the leader to hand leadership to `to` (thesis §3.10). */
  transferLeadership(to: NodeId): void {
    this.raft.step(localMessage(MessageType.MsgTransferLeader, to));
  }

  /** Reports that the last message to `id` could not be delivered. */
  reportUnreachable(id: NodeId): void {
    this.raft.step(localMessage(MessageType.MsgUnreachable, id));
  }

  /**
   * Reports the outcome of sending a snapshot (Ready message MsgSnap) to `id`. Must be
   * called for every MsgSnap sent, or replication to `id` stays paused.
   */
  reportSnapshot(id: NodeId, status: SnapshotStatus): void {
    const m = localMessage(MessageType.MsgSnapStatus, id);
    m.reject = status === SnapshotStatus.Failure;
    this.raft.step(m);
  }

  /** Whether `ready()` would return anything. */
  hasReady(): boolean {
    const r = this.raft;
    if (r.pendingBcast) bcastAppend(r);
    if (r.lead !== this.prevSoftSt.lead || r.state !== this.prevSoftSt.raftState) return true;
    const hs = this.prevHardSt;
    if (r.term !== hs.term || r.vote !== hs.vote || r.raftLog.committed !== hs.commit) return true;
    if (r.raftLog.nextUnstableSnapshot() !== undefined) return true;
    if (r.msgs.length > 0 || r.msgsAfterPersist.length > 0) return true;
    if (r.raftLog.hasNextUnstableEnts() || r.raftLog.hasNextCommittedEnts()) return true;
    return r.readStates.length > 0;
  }

  /**
   * Takes the queued messages that may leave now, although Readies are in flight (their
   * persistence or apply is not done): what a leader queues for `messages` (its MsgApp,
   * MsgHeartbeat, ... — allowed before any fsync, §10.2.1), and heartbeat responses of a
   * follower at a term that is already durable (they promise no entries, vote or new
   * term). Everything else stays for the next Ready. A driver calls this while a long
   * Ready is in flight, so that heartbeats and their answers keep flowing and no election
   * timeout expires (etcd-io/raft sends heartbeat responses before persisting too).
   */
  takeEarlyMessages(): Message[] {
    const r = this.raft;
    const out = r.msgs;
    r.msgs = [];
    const q = r.msgsAfterPersist;
    let n = 0;
    for (const m of q) {
      if (m.type === MessageType.MsgHeartbeatResp && m.term === this.durableTerm) out.push(m);
      else q[n++] = m;
    }
    q.length = n;
    return out;
  }

  /** Collects everything the caller must do now. See {@link Ready} for the duties. */
  ready(): Ready {
    const r = this.raft;
    if (r.pendingBcast) bcastAppend(r);
    const log = r.raftLog;
    const rd: Ready = {
      readStates: r.readStates,
      entries: log.nextUnstableEnts(),
      committedEntries: log.nextCommittedEnts(),
      messages: r.msgs,
      messagesAfterPersist: r.msgsAfterPersist,
      mustSync: false,
    };
    const ps = this.prevSoftSt;
    if (r.lead !== ps.lead || r.state !== ps.raftState) {
      rd.softState = r.softState();
      this.prevSoftSt = rd.softState;
    }
    const hs = this.prevHardSt;
    if (r.term !== hs.term || r.vote !== hs.vote || log.committed !== hs.commit) {
      rd.hardState = r.hardState();
      rd.mustSync = r.term !== hs.term || r.vote !== hs.vote;
      this.prevHardSt = rd.hardState;
    }
    const snap = log.nextUnstableSnapshot();
    if (snap !== undefined) rd.snapshot = snap;
    if (rd.entries.length > 0 || snap !== undefined) rd.mustSync = true;

    r.readStates = [];
    r.msgs = [];
    r.msgsAfterPersist = [];
    log.acceptUnstable();
    const rec: ReadyRecord = {
      rd,
      lastIndex: 0,
      lastTerm: 0,
      snapIndex: snap !== undefined ? snap.metadata.index : -1,
      appliedIndex: 0,
      appliedSize: 0,
    };
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      rec.lastIndex = last.index;
      rec.lastTerm = last.term;
    }
    const ce = rd.committedEntries;
    if (ce.length > 0) {
      rec.appliedIndex = ce[ce.length - 1].index;
      // Sizes matter only for maxCommittedSizePerReady and maxUncommittedEntriesSize.
      if (this.countSizes) rec.appliedSize = entriesSize(ce);
      log.acceptApplying(rec.appliedIndex, rec.appliedSize);
    }
    this.inFlight.push(rec);
    return rd;
  }

  /**
   * Acknowledges that a Ready was handled: its snapshot and entries are durable, its
   * committed entries applied. A leader now counts its own log up to the durable index
   * toward commit (thesis §10.2.1). Readies must be advanced in the order they were
   * returned; anything else throws.
   */
  advance(rd: Ready): void {
    const rec = this.inFlight[0];
    if (rec === undefined || rec.rd !== rd) {
      throw new BugIndicatingError(
        "advance() must be called once per Ready returned by ready(), in the same order",
      );
    }
    this.inFlight.shift();
    const r = this.raft;
    if (rec.rd.hardState) this.durableTerm = rec.rd.hardState.term;
    if (rec.snapIndex >= 0) r.appliedSnap(rec.snapIndex);
    if (rec.lastIndex > 0) {
      r.raftLog.stableTo(rec.lastIndex, rec.lastTerm);
      if (r.state === StateType.Leader) {
        const pr = r.trk.progress.get(r.id);
        if (pr?.maybeUpdate(r.raftLog.stableLastIndex())) leaderMaybeCommit(r);
      }
    }
    if (rec.appliedIndex > 0) {
      r.appliedTo(rec.appliedIndex, rec.appliedSize);
      r.reduceUncommittedSize(rec.appliedSize);
    }
  }

  /**
   * Heartbeats for a leader whose Ready processing is paused for a while (the member's
   * Defragment closes and reopens the database that holds the log). Each carries the term
   * and a commit index the follower already holds (at most its match, as raft's own
   * heartbeats), so followers keep the leader and do not campaign while it cannot append;
   * their responses may be stepped later. Nothing here changes (no Ready results, no
   * bookkeeping of what was sent). Empty unless this node is the leader.
   */
  pausedHeartbeats(): Message[] {
    const r = this.raft;
    if (r.state !== StateType.Leader) return [];
    const out: Message[] = [];
    for (const [to, pr] of r.trk.progress) {
      if (to === r.id) continue;
      const m = reply(MessageType.MsgHeartbeat, to);
      m.from = r.id;
      m.term = r.term;
      m.commit = Math.min(pr.match, r.raftLog.committed);
      out.push(m);
    }
    return out;
  }

  /** The node's full status (configuration; Progress of every member on the leader). */
  status(): Status {
    return getStatus(this.raft);
  }

  /** The node's status without configuration and Progress (cheap). */
  basicStatus(): BasicStatus {
    return getBasicStatus(this.raft);
  }
}
