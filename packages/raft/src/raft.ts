/**
 * The raft state machine shared by every role: terms and votes, role transitions,
 * elections, ticks, the entry point `step` (term checks and vote handling), and the
 * bookkeeping used by the per-role step functions in step-leader.ts, step-follower.ts and
 * step-candidate.ts (which {@link Raft} receives through {@link RoleSteps}, so that this
 * file does not depend on them).
 */
import { encodeConfChangeV2, leaveJointConfChange } from "./conf-change.js";
import { ReadOnlyOption, type ResolvedConfig } from "./config.js";
import { BugIndicatingError, ProposalDroppedError } from "./errors.js";
import { VoteResult } from "./quorum/quorum.js";
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
import { bytesEqual, EMPTY_BYTES, entriesSize } from "./util.js";

/** Handles one message in one role. May throw ProposalDroppedError for MsgProp. */
export type StepFunc = (r: Raft, m: Message) => void;

/** The per-role step functions, injected so that raft.ts does not import them. */
export interface RoleSteps {
  leader: StepFunc;
  candidate: StepFunc;
  follower: StepFunc;
}

/** Why an election is started. */
export type CampaignType = "pre-election" | "election" | "transfer";

/** The context a MsgVote carries when a leadership transfer asked for it (bypasses leases). */
export const CAMPAIGN_TRANSFER: Uint8Array = new Uint8Array([
  ...Array.from("CampaignTransfer", (c) => c.charCodeAt(0)),
]);

/**
 * Message types a leader may send before the Ready that produced them is durable
 * (thesis §10.2.1). Everything else waits for persistence (Ready.messagesAfterPersist).
 */
const EARLY_LEADER_MESSAGES: readonly boolean[] = (() => {
  const t: boolean[] = [];
  for (const mt of [
    MessageType.MsgApp,
    MessageType.MsgHeartbeat,
    MessageType.MsgSnap,
    MessageType.MsgTimeoutNow,
    MessageType.MsgReadIndexResp,
  ]) {
    t[mt] = true;
  }
  return t;
})();

/** The response type for a vote request type. */
export function voteRespMsgType(t: MessageType): MessageType {
  if (t === MessageType.MsgVote) return MessageType.MsgVoteResp;
  if (t === MessageType.MsgPreVote) return MessageType.MsgPreVoteResp;
  throw new BugIndicatingError(`not a vote message: ${MessageType[t]}`);
}

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

  /**
   * Counts proposed bytes against maxUncommittedEntriesSize. Always admits a proposal when
   * nothing is uncommitted (so one oversized entry cannot wedge the leader) and always
   * admits empty entries.
   */
  private increaseUncommittedSize(ents: readonly Entry[]): boolean {
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

  /** Whether a committed conf change is not yet applied (then campaigning is unsafe). */
  hasUnappliedConfChanges(): boolean {
    const log = this.raftLog;
    let lo = log.applied + 1;
    const hi = log.committed + 1;
    while (lo < hi) {
      const ents = log.slice(lo, hi, 1024 * 1024);
      for (const e of ents) if (e.type !== EntryType.Normal) return true;
      lo += ents.length;
    }
    return false;
  }

  /** Starts an election unless this node is leader, not promotable, or must apply first. */
  hup(t: CampaignType): void {
    if (this.state === StateType.Leader) {
      this.logger?.debug(`${this.id.toString(16)} ignoring MsgHup because already leader`);
      return;
    }
    if (!this.promotable()) {
      this.logger?.warn(`${this.id.toString(16)} is unpromotable and can not campaign`);
      return;
    }
    if (this.hasUnappliedConfChanges()) {
      this.logger?.warn(
        `${this.id.toString(16)} cannot campaign at term ${this.term} since there are still pending configuration changes to apply`,
      );
      return;
    }
    this.logger?.info(`${this.id.toString(16)} is starting a new election at term ${this.term}`);
    this.campaign(t);
  }

  /** Runs a (pre-)election: becomes (pre-)candidate, votes for itself, asks every voter. */
  campaign(t: CampaignType): void {
    let term: number;
    let voteMsg: MessageType;
    if (t === "pre-election") {
      this.becomePreCandidate();
      voteMsg = MessageType.MsgPreVote;
      // A pre-vote asks about the next term without moving to it.
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteMsg = MessageType.MsgVote;
      term = this.term;
    }
    if (this.poll(this.id, voteRespMsgType(voteMsg), true) === VoteResult.VoteWon) {
      // Single-voter configuration: won on our own vote.
      if (t === "pre-election") this.campaign("election");
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.raftLog.lastIndex();
    const lastTerm = this.raftLog.lastTerm();
    for (const id of this.trk.voterNodes()) {
      if (id === this.id) continue;
      this.logger?.info(
        `${this.id.toString(16)} [logterm: ${lastTerm}, index: ${lastIndex}] sent ${MessageType[voteMsg]} request to ${id.toString(16)} at term ${this.term}`,
      );
      this.send({
        type: voteMsg,
        to: id,
        from: this.id,
        term,
        logTerm: lastTerm,
        index: lastIndex,
        entries: [],
        commit: 0,
        reject: false,
        rejectHint: 0,
        context: t === "transfer" ? CAMPAIGN_TRANSFER : EMPTY_BYTES,
      });
    }
  }

  /** Records a vote and returns the election result so far. */
  poll(id: NodeId, t: MessageType, granted: boolean): VoteResult {
    this.logger?.info(
      `${this.id.toString(16)} received ${MessageType[t]}${granted ? "" : " rejection"} from ${id.toString(16)} at term ${this.term}`,
    );
    this.trk.recordVote(id, granted);
    return this.trk.tallyVotes().result;
  }

  /**
   * The entry point for every message. Handles what is common to all roles: messages from
   * other terms (thesis §3.3: a higher term makes this node a follower; a lower term is
   * ignored or answered so the sender learns), leases (a node that hears from a leader
   * ignores vote requests for an election timeout, thesis §4.2.3), vote requests
   * (thesis §3.4, §3.6.1), elections; then hands the message to the role's step function.
   */
  step(m: Message): void {
    const t = m.type;
    if (m.term === 0) {
      // Local message.
    } else if (m.term > this.term) {
      if (t === MessageType.MsgVote || t === MessageType.MsgPreVote) {
        const force = bytesEqual(m.context, CAMPAIGN_TRANSFER);
        const inLease =
          this.checkQuorum && this.lead !== None && this.electionElapsed < this.electionTimeout;
        if (!force && inLease) {
          this.logger?.info(
            `${this.id.toString(16)} [term: ${this.term}] ignored ${MessageType[t]} from ${m.from.toString(16)} [term: ${m.term}]: lease is not expired (remaining ticks: ${this.electionTimeout - this.electionElapsed})`,
          );
          return;
        }
      }
      if (t === MessageType.MsgPreVote) {
        // A pre-vote never changes our term.
      } else if (t === MessageType.MsgPreVoteResp && !m.reject) {
        // We sent a pre-vote for term+1; a grant carries that term. We move to it only
        // when the pre-election is won.
      } else {
        this.logger?.info(
          `${this.id.toString(16)} [term: ${this.term}] received a ${MessageType[t]} message with higher term from ${m.from.toString(16)} [term: ${m.term}]`,
        );
        const fromLeader =
          t === MessageType.MsgApp || t === MessageType.MsgHeartbeat || t === MessageType.MsgSnap;
        this.becomeFollower(m.term, fromLeader ? m.from : None);
      }
    } else if (m.term < this.term) {
      if (
        (this.checkQuorum || this.preVote) &&
        (t === MessageType.MsgHeartbeat || t === MessageType.MsgApp)
      ) {
        // A stale leader (e.g. after a partition healed) that we would otherwise ignore
        // forever; with check-quorum or pre-vote our term would never reach it otherwise.
        // The response carries our term and makes it step down.
        this.send(reply(MessageType.MsgAppResp, m.from));
      } else if (t === MessageType.MsgPreVote) {
        this.logger?.info(
          `${this.id.toString(16)} [term: ${this.term}] rejected ${MessageType[t]} from ${m.from.toString(16)} [term: ${m.term}]`,
        );
        const r = reply(MessageType.MsgPreVoteResp, m.from);
        r.term = this.term;
        r.reject = true;
        this.send(r);
      } else {
        this.logger?.info(
          `${this.id.toString(16)} [term: ${this.term}] ignored a ${MessageType[t]} message with lower term from ${m.from.toString(16)} [term: ${m.term}]`,
        );
      }
      return;
    }

    switch (t) {
      case MessageType.MsgHup:
        this.hup(this.preVote ? "pre-election" : "election");
        return;
      case MessageType.MsgVote:
      case MessageType.MsgPreVote:
        this.handleVoteRequest(m);
        return;
      default:
        this.stepFn(this, m);
    }
  }

  /**
   * Grants a (pre-)vote if we have not voted for someone else in this term and do not
   * know a leader (or it is a pre-vote for a later term), and the candidate's log is at
   * least as up to date as ours (thesis §3.6.1).
   */
  private handleVoteRequest(m: Message): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === None && this.lead === None) ||
      (m.type === MessageType.MsgPreVote && m.term > this.term);
    const resp = reply(voteRespMsgType(m.type), m.from);
    if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
      this.logger?.info(
        `${this.id.toString(16)} [logterm: ${this.raftLog.lastTerm()}, index: ${this.raftLog.lastIndex()}, vote: ${this.vote.toString(16)}] cast ${MessageType[m.type]} for ${m.from.toString(16)} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`,
      );
      // The response carries the term of the request: for a pre-vote, the future term
      // (so the pre-candidate does not mistake it for a stale response).
      resp.term = m.term;
      this.send(resp);
      if (m.type === MessageType.MsgVote) {
        // Only a real vote is recorded; it also resets the election timer.
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.logger?.info(
        `${this.id.toString(16)} [logterm: ${this.raftLog.lastTerm()}, index: ${this.raftLog.lastIndex()}, vote: ${this.vote.toString(16)}] rejected ${MessageType[m.type]} from ${m.from.toString(16)} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`,
      );
      resp.term = this.term;
      resp.reject = true;
      this.send(resp);
    }
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

/** A message with every field at its zero value except type and to. */
export function reply(type: MessageType, to: NodeId): Message {
  return {
    type,
    to,
    from: None,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: EMPTY_BYTES,
  };
}

/** A local message (term 0) of the given type from `from`. */
export function localMessage(type: MessageType, from: NodeId): Message {
  const m = reply(type, None);
  m.from = from;
  return m;
}

/** The proposal of an empty ConfChangeV2 (leave joint). */
function autoLeaveMessage(from: NodeId): Message {
  const m = localMessage(MessageType.MsgProp, from);
  const data = encodeConfChangeV2(leaveJointConfChange());
  m.entries = [{ term: 0, index: 0, type: EntryType.ConfChangeV2, data }];
  return m;
}
