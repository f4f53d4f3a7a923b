/**
 * The raft state shared by every role: term, vote, log, progress tracker, the two
 * outgoing message queues, role transitions (becomeX), ticks, and the bookkeeping the
 * message handlers use. The handlers themselves live in step.ts (common checks, votes),
 * election.ts, step-leader.ts, step-follower.ts and step-candidate.ts; {@link Raft}
 * receives them through {@link RoleSteps}, so this file depends on none of them.
 */
import { encodeConfChangeV2, leaveJointConfChange } from "./conf-change.js";
import { ReadOnlyOption, type ResolvedConfig } from "./config.js";
import { BugIndicatingError, ProposalDroppedError } from "./errors.js";
import { EARLY_LEADER_MESSAGES, localMessage } from "./messages.js";
import { RaftLog } from "./raft-log.js";
import { ReadOnly } from "./read-only.js";
import { ProgressTracker } from "./tracker/progress-tracker.js";
import {
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  type NodeId,
  None,
  type ReadState,
  type SoftState,
  StateType,
} from "./types.js";
import { EMPTY_BYTES, entriesSize, NO_LIMIT } from "./util.js";

/** Handles one message in one role. May throw ProposalDroppedError for MsgProp. */
export type StepFunc = (r: Raft, m: Message) => void;

/**
 * The message handlers, injected so that raft.ts depends on none of them: `step` is the
 * entry point (step.ts: term checks, votes), the others handle a message in one role.
 */
export interface RoleSteps {
  step: StepFunc;
  leader: StepFunc;
  candidate: StepFunc;
  follower: StepFunc;
}

/** Why an election is started. */
export type CampaignType = "pre-election" | "election" | "transfer";

/**
 * One node's raft state. Not thread-safe, not reentrant; driven by {@link RawNode}.
 *
 * Invariants:
 * - `vote` is only ever set for the current `term` (reset on term change);
 * - `lead === id` iff `state === Leader`;
 * - messages are appended to `msgs` / `msgsAfterPersist` only through {@link send}.
 */
export class Raft {
  readonly id: NodeId;
  /** The current term (persisted in HardState). */
  term = 0;
  /** Who this node voted for in `term` (persisted in HardState). */
  vote: NodeId = None;
  /** Answers to ReadIndex requests, handed out in the next Ready. */
  readStates: ReadState[] = [];
  readonly raftLog: RaftLog;
  readonly maxMsgSize: number;
  readonly maxUncommittedSize: number;
  trk: ProgressTracker;
  state: StateType = StateType.Follower;
  /** Whether this node is a learner in the current configuration. */
  isLearner = false;
  /** Whether this node has a Progress (is a voter or learner) in the current configuration. */
  isMember = false;
  /** Messages that may be sent before the current Ready is persisted. */
  msgs: Message[] = [];
  /** Messages that may be sent only after the current Ready is persisted. */
  msgsAfterPersist: Message[] = [];
  lead: NodeId = None;
  /** The target of an ongoing leadership transfer, or None. */
  leadTransferee: NodeId = None;
  /**
   * Leader: the log index of the latest conf change that may not be applied yet. A new
   * conf change is only accepted once `applied >= pendingConfIndex`.
   */
  pendingConfIndex = 0;
  /** Leader: payload bytes of uncommitted entries (for maxUncommittedEntriesSize). */
  uncommittedSize = 0;
  readOnly: ReadOnly;
  /** Ticks since the last election timeout reset (leader: since the last check-quorum). */
  electionElapsed = 0;
  /** Leader: ticks since the last heartbeat. */
  heartbeatElapsed = 0;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  readonly heartbeatTimeout: number;
  readonly electionTimeout: number;
  /** The current election timeout, in [electionTimeout, 2*electionTimeout). */
  randomizedElectionTimeout = 0;
  readonly disableProposalForwarding: boolean;
  /** Leader: ReadIndex requests waiting for the first commit of this term. */
  pendingReadIndexMessages: Message[] = [];
  /**
   * Leader: followers may need MsgApps (new entries or a new commit index). Sending is
   * deferred until messages are collected (replicate.ts `bcastAppend`), so that many
   * proposals stepped between two Readies share one MsgApp per follower.
   */
  pendingBcast = false;
  readonly logger: ResolvedConfig["logger"];
  private readonly random: () => number;
  private readonly roles: RoleSteps;
  private stepFn: StepFunc;

  constructor(c: ResolvedConfig, roles: RoleSteps) {
    this.id = c.id;
    this.raftLog = new RaftLog(c.storage, c.maxCommittedSizePerReady);
    this.maxMsgSize = c.maxSizePerMsg;
    this.maxUncommittedSize = c.maxUncommittedEntriesSize;
    this.trk = new ProgressTracker(c.maxInflightMsgs, c.maxInflightBytes);
    this.electionTimeout = c.electionTick;
    this.heartbeatTimeout = c.heartbeatTick;
    this.checkQuorum = c.checkQuorum;
    this.preVote = c.preVote;
    this.readOnly = new ReadOnly(c.readOnlyOption);
    this.disableProposalForwarding = c.disableProposalForwarding;
    this.logger = c.logger;
    this.random = c.random;
    this.roles = roles;
    this.stepFn = roles.follower;
    if (c.logger) this.raftLog.logger = (s) => c.logger?.debug(`${this.id.toString(16)} ${s}`);
    this.raftLog.onTruncate = (index) => this.retractAcks(index);
  }

  /**
   * Entries from `index` on are being replaced before the queued messages were handed out:
   * drop queued append acknowledgements that cover them. They were promised for entries
   * that will now never be persisted (DESIGN.md durability rule 1); a leader of an older
   * term could otherwise count them toward a commit. Acks already handed out in a Ready
   * are fine: that Ready persists the entries before they are sent.
   */
  private retractAcks(index: number): void {
    const q = this.msgsAfterPersist;
    let n = 0;
    for (const m of q) {
      if (m.type === MessageType.MsgAppResp && !m.reject && m.index >= index) {
        this.logger?.debug(
          `${this.id.toString(16)} retracting MsgAppResp for index ${m.index} to ${m.to.toString(16)}: entries from ${index} were replaced`,
        );
        continue;
      }
      q[n++] = m;
    }
    q.length = n;
  }

  /** The volatile state the application may observe. */
  softState(): SoftState {
    return { lead: this.lead, raftState: this.state };
  }

  /** The state to persist. */
  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  /** Restores term, vote and commit from storage. Throws if commit is out of range. */
  loadState(hs: HardState): void {
    if (hs.commit < this.raftLog.committed || hs.commit > this.raftLog.lastIndex()) {
      throw new BugIndicatingError(
        `${this.id} state.commit ${hs.commit} is out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`,
      );
    }
    this.raftLog.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  /**
   * Queues a message, sorted into the two Ready queues by whether it may leave before the
   * current state is durable (DESIGN.md durability rules 1 and 2). Stamps `from` and,
   * except on votes (which carry their own term) and on MsgProp/MsgReadIndex (term 0,
   * local), the current term.
   */
  send(m: Message): void {
    if (m.from === None) m.from = this.id;
    const t = m.type;
    if (
      t === MessageType.MsgVote ||
      t === MessageType.MsgVoteResp ||
      t === MessageType.MsgPreVote ||
      t === MessageType.MsgPreVoteResp
    ) {
      if (m.term === 0)
        throw new BugIndicatingError(`term should be set when sending ${MessageType[t]}`);
    } else if (t !== MessageType.MsgProp && t !== MessageType.MsgReadIndex) {
      m.term = this.term;
    }
    if (m.to === this.id) {
      throw new BugIndicatingError(
        `message should not be self-addressed when sending ${MessageType[t]}`,
      );
    }
    if (this.state === StateType.Leader && EARLY_LEADER_MESSAGES[t] === true) this.msgs.push(m);
    else this.msgsAfterPersist.push(m);
  }

  /** Advances time by one tick. */
  tick(): void {
    if (this.state === StateType.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  /** Follower/candidate tick: campaign once the randomized election timeout passes. */
  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0;
      this.step(localMessage(MessageType.MsgHup, this.id));
    }
  }

  /**
   * Leader tick: heartbeat every heartbeatTimeout; every electionTimeout, check quorum
   * (thesis §6.2) and give up a leadership transfer that has not completed (thesis §3.10).
   */
  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.step(localMessage(MessageType.MsgCheckQuorum, this.id));
      if (this.state === StateType.Leader && this.leadTransferee !== None) {
        this.abortLeaderTransfer();
        // A removed leader whose hand-off did not complete gives up leading (it must not
        // keep suppressing elections while refusing proposals).
        if (this.isRemovedLeader()) this.becomeFollower(this.term, None);
      }
    }
    if (this.state !== StateType.Leader) return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step(localMessage(MessageType.MsgBeat, this.id));
    }
  }

  /** Whether the randomized election timeout has passed. */
  pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  /** Draws a new election timeout in [electionTimeout, 2*electionTimeout) (thesis §3.4). */
  resetRandomizedElectionTimeout(): void {
    const r = this.random();
    const extra = Math.min(
      this.electionTimeout - 1,
      Math.max(0, Math.floor(r * this.electionTimeout)),
    );
    this.randomizedElectionTimeout = this.electionTimeout + extra;
  }

  /** Resets the per-term state; a term change also clears the vote. */
  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = None;
    }
    this.lead = None;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.trk.resetVotes();
    const last = this.raftLog.lastIndex();
    for (const [id, pr] of this.trk.progress) {
      pr.match = 0;
      pr.next = last + 1;
      pr.sentCommit = 0;
      pr.state = "probe";
      pr.pendingSnapshot = 0;
      pr.recentActive = false;
      pr.msgAppFlowPaused = false;
      pr.inflights = this.trk.newInflights();
      // The leader counts only what it has persisted (thesis §10.2.1).
      if (id === this.id) pr.match = this.raftLog.stableLastIndex();
    }
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.readOnly = new ReadOnly(this.readOnly.option);
    this.pendingReadIndexMessages = [];
    this.pendingBcast = false;
  }

  /** Becomes a follower of `lead` (None if unknown) in `term`. */
  becomeFollower(term: number, lead: NodeId): void {
    this.stepFn = this.roles.follower;
    this.reset(term);
    this.lead = lead;
    this.state = StateType.Follower;
    this.logger?.info(`${this.id.toString(16)} became follower at term ${this.term}`);
  }

  /** Starts an election: next term, vote for self (thesis §3.4). */
  becomeCandidate(): void {
    if (this.state === StateType.Leader) {
      throw new BugIndicatingError("invalid transition [leader -> candidate]");
    }
    this.stepFn = this.roles.candidate;
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = StateType.Candidate;
    this.logger?.info(`${this.id.toString(16)} became candidate at term ${this.term}`);
  }

  /**
   * Starts a pre-vote round (thesis §9.6): asks whether it could win without changing
   * its term or vote, so a partitioned node does not disrupt the cluster on rejoin.
   */
  becomePreCandidate(): void {
    if (this.state === StateType.Leader) {
      throw new BugIndicatingError("invalid transition [leader -> pre-candidate]");
    }
    this.stepFn = this.roles.candidate;
    this.trk.resetVotes();
    this.lead = None;
    this.state = StateType.PreCandidate;
    this.logger?.info(`${this.id.toString(16)} became pre-candidate at term ${this.term}`);
  }

  /**
   * Becomes leader of the current term and appends an empty entry: committing it commits
   * everything before it and lets ReadIndex proceed (thesis §3.6.2, §6.4).
   */
  becomeLeader(): void {
    if (this.state === StateType.Follower) {
      throw new BugIndicatingError("invalid transition [follower -> leader]");
    }
    this.stepFn = this.roles.leader;
    this.reset(this.term);
    this.lead = this.id;
    this.state = StateType.Leader;
    const pr = this.trk.progress.get(this.id);
    if (pr !== undefined) {
      pr.becomeReplicate();
      pr.recentActive = true;
    }
    // Conservatively treat the whole log as possibly holding an unapplied conf change.
    this.pendingConfIndex = this.raftLog.lastIndex();
    if (!this.appendEntry([{ term: 0, index: 0, type: EntryType.Normal, data: EMPTY_BYTES }])) {
      throw new BugIndicatingError("empty entry was dropped");
    }
    this.pendingBcast = true;
    this.logger?.info(`${this.id.toString(16)} became leader at term ${this.term}`);
  }

  /**
   * Leader: appends new entries (copies stamped with the term and the next indexes).
   * Returns false, appending nothing, if the uncommitted-size budget would be exceeded.
   */
  appendEntry(es: readonly Entry[]): boolean {
    const li = this.raftLog.lastIndex();
    const term = this.term;
    const stamped: Entry[] = new Array(es.length);
    for (let i = 0; i < es.length; i++) {
      const e = es[i];
      stamped[i] = { term, index: li + 1 + i, type: e.type, data: e.data };
    }
    if (!this.increaseUncommittedSize(stamped)) {
      this.logger?.warn(
        `${this.id.toString(16)} appending new entries to log would exceed uncommitted entry size limit; dropping proposal`,
      );
      return false;
    }
    this.raftLog.append(stamped);
    return true;
  }

  /** Leader: appends one normal entry with `data` (the single-proposal fast path). */
  appendNormalEntry(data: Uint8Array): boolean {
    const e: Entry = {
      term: this.term,
      index: this.raftLog.lastIndex() + 1,
      type: EntryType.Normal,
      data,
    };
    if (this.maxUncommittedSize !== NO_LIMIT) {
      const s = data.byteLength;
      if (this.uncommittedSize > 0 && s > 0 && this.uncommittedSize + s > this.maxUncommittedSize) {
        this.logger?.warn(
          `${this.id.toString(16)} appending new entries to log would exceed uncommitted entry size limit; dropping proposal`,
        );
        return false;
      }
      this.uncommittedSize += s;
    }
    this.raftLog.appendOne(e);
    return true;
  }

  /**
   * Counts proposed bytes against maxUncommittedEntriesSize. Always admits a proposal when
   * nothing is uncommitted (so one oversized entry cannot wedge the leader) and always
   * admits empty entries.
   */
  private increaseUncommittedSize(ents: readonly Entry[]): boolean {
    if (this.maxUncommittedSize === NO_LIMIT) return true; // nothing to account for
    const s = entriesSize(ents);
    if (this.uncommittedSize > 0 && s > 0 && this.uncommittedSize + s > this.maxUncommittedSize) {
      return false;
    }
    this.uncommittedSize += s;
    return true;
  }

  /** Releases `s` bytes of the uncommitted budget (entries were applied). */
  reduceUncommittedSize(s: number): void {
    this.uncommittedSize = s > this.uncommittedSize ? 0 : this.uncommittedSize - s;
  }

  /**
   * Leader: raises the commit index to what a quorum has durably appended, if that entry
   * is of the current term (thesis §3.6.2: older entries commit only indirectly).
   */
  maybeCommit(): boolean {
    return this.raftLog.maybeCommit(this.trk.committed(), this.term);
  }

  /**
   * The application applied everything up to `index` (`size` payload bytes). A leader in
   * an auto-leave joint configuration proposes leaving it once the entry that entered it
   * is applied.
   */
  appliedTo(index: number, size: number): void {
    const newApplied = Math.max(index, this.raftLog.applied);
    this.raftLog.appliedTo(newApplied, size);
    if (
      this.trk.config.autoLeave &&
      newApplied >= this.pendingConfIndex &&
      this.state === StateType.Leader
    ) {
      try {
        this.step(autoLeaveMessage(this.id));
        this.logger?.info(
          `initiating automatic transition out of joint configuration ${this.trk.config.describe()}`,
        );
      } catch (e) {
        if (!(e instanceof ProposalDroppedError)) throw e;
        this.logger?.debug(
          `not initiating automatic transition out of joint configuration: ${e.message}`,
        );
      }
    }
  }

  /** The snapshot at `index` is durable and applied. */
  appliedSnap(index: number): void {
    this.raftLog.stableSnapTo(index);
    this.appliedTo(index, 0);
  }

  /**
   * Whether this node may campaign: it is a voter (not a learner, not removed) and is not
   * in the middle of installing a snapshot.
   */
  promotable(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.raftLog.hasNextOrInProgressSnapshot();
  }

  /**
   * The entry point for every message: term checks and votes (step.ts), then the role's
   * handler. Throws ProposalDroppedError for a MsgProp that cannot be accepted.
   */
  step(m: Message): void {
    this.roles.step(this, m);
  }

  /** Hands a message to the current role's handler (after the checks in step.ts). */
  stepRole(m: Message): void {
    this.stepFn(this, m);
  }

  /** Whether this node leads but is no longer a voter (removed, or demoted to learner). */
  isRemovedLeader(): boolean {
    return this.state === StateType.Leader && (!this.isMember || this.isLearner);
  }

  /**
   * A leader that is no longer a voter transfers leadership (thesis §3.10) to the voter
   * with the highest match index: it is caught up if needed, then told to campaign at
   * once. Until then this node keeps leading without counting itself and refuses
   * proposals; if the hand-off does not complete within an election timeout, it steps
   * down (tickHeartbeat).
   */
  maybeHandOffLeadership(): void {
    if (!this.isRemovedLeader() || this.leadTransferee !== None) return;
    let best: NodeId = None;
    let bestMatch = -1;
    for (const id of this.trk.voterNodes()) {
      const pr = this.trk.progress.get(id)!;
      if (id !== this.id && pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    if (best === None) return;
    this.logger?.info(
      `${this.id.toString(16)} is no longer a voter; handing leadership to ${best.toString(16)}`,
    );
    this.step(localMessage(MessageType.MsgTransferLeader, best));
  }

  /** Stops an ongoing leadership transfer. */
  abortLeaderTransfer(): void {
    this.leadTransferee = None;
  }

  /** Whether the entry at the commit index is from the current term (thesis §6.4 step 1). */
  committedEntryInCurrentTerm(): boolean {
    return this.raftLog.zeroTermOnOutOfBounds(this.raftLog.committed) === this.term;
  }

  /** Whether this node answers ReadIndex by lease (no heartbeat round). */
  leaseReads(): boolean {
    return this.readOnly.option === ReadOnlyOption.LeaseBased;
  }
}

/** The proposal of an empty ConfChangeV2 (leave joint). */
function autoLeaveMessage(from: NodeId): Message {
  const m = localMessage(MessageType.MsgProp, from);
  const data = encodeConfChangeV2(leaveJointConfChange());
  m.entries = [{ term: 0, index: 0, type: EntryType.ConfChangeV2, data }];
  return m;
}
