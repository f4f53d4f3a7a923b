import { BugIndicatingError } from "../errors.js";
import type { Inflights } from "./inflights.js";

/**
 * How the leader is currently replicating to a follower.
 *
 * - `probe`: the leader does not know where the follower's log matches; it sends at most
 *   one MsgApp per heartbeat interval and walks `next` back on rejections.
 * - `replicate`: the logs match up to `match`; the leader streams entries optimistically,
 *   limited by {@link Inflights}.
 * - `snapshot`: the follower needs a snapshot; nothing else is sent until it is reported.
 */
export type ProgressStateType = "probe" | "replicate" | "snapshot";

/**
 * The leader's view of one follower (or learner, or itself).
 *
 * Invariant: 0 <= match < next.
 */
export class Progress {
  /** The highest index known to be durably in the follower's log, matching the leader's. */
  match = 0;
  /** The index of the next entry to send. */
  next: number;
  /**
   * The highest commit index sent to the follower. Invariant: sentCommit <= committed.
   * Lets the leader skip empty MsgApps that would tell the follower nothing new.
   */
  sentCommit = 0;
  /** See {@link ProgressStateType}. */
  state: ProgressStateType = "probe";
  /** In snapshot state, the index of the snapshot being sent; else 0. */
  pendingSnapshot = 0;
  /**
   * Whether the follower was heard from since the last check-quorum tick. Reset by the
   * leader each election timeout when checkQuorum is on.
   */
  recentActive = false;
  /**
   * In probe state: a probe is outstanding, wait (until a heartbeat response) before
   * sending another. In replicate state: the inflight window is full.
   */
  msgAppFlowPaused = false;
  /** The window of MsgApps in flight. */
  inflights: Inflights;
  /** Whether this node is a learner (receives entries, never counted). */
  isLearner: boolean;

  constructor(next: number, inflights: Inflights, isLearner: boolean) {
    this.next = next;
    this.inflights = inflights;
    this.isLearner = isLearner;
  }

  /** A deep copy (the inflights window is copied too). */
  clone(): Progress {
    const p = new Progress(this.next, this.inflights.clone(), this.isLearner);
    p.match = this.match;
    p.sentCommit = this.sentCommit;
    p.state = this.state;
    p.pendingSnapshot = this.pendingSnapshot;
    p.recentActive = this.recentActive;
    p.msgAppFlowPaused = this.msgAppFlowPaused;
    return p;
  }

  private resetState(state: ProgressStateType): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  /**
   * Moves to probe state. Coming from snapshot state, probing starts after the snapshot
   * that was (possibly) delivered; otherwise right after `match`.
   */
  becomeProbe(): void {
    if (this.state === "snapshot") {
      const pending = this.pendingSnapshot;
      this.resetState("probe");
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState("probe");
      this.next = this.match + 1;
    }
    this.sentCommit = Math.min(this.sentCommit, this.next - 1);
  }

  /** Moves to replicate state, streaming from `match + 1`. */
  becomeReplicate(): void {
    this.resetState("replicate");
    this.next = this.match + 1;
  }

  /** Moves to snapshot state while snapshot `snapshotIndex` is sent. */
  becomeSnapshot(snapshotIndex: number): void {
    this.resetState("snapshot");
    this.pendingSnapshot = snapshotIndex;
    this.next = snapshotIndex + 1;
    this.sentCommit = snapshotIndex;
  }

  /**
   * Records that a MsgApp with `entries` entries and `bytes` payload bytes was sent
   * (starting at `next`).
   */
  sentEntries(entries: number, bytes: number): void {
    if (this.state === "replicate") {
      if (entries > 0) {
        this.next += entries;
        this.inflights.add(this.next - 1, bytes);
      }
      this.msgAppFlowPaused = this.inflights.full();
    } else if (this.state === "probe") {
      if (entries > 0) this.msgAppFlowPaused = true;
    } else {
      throw new BugIndicatingError(`sending append in unhandled state ${this.state}`);
    }
  }

  /**
   * Whether an empty MsgApp carrying `commit` would tell the follower something new: the
   * commit index moved past what was sent, and the follower has entries it could commit.
   */
  canBumpCommit(commit: number): boolean {
    return commit > this.sentCommit && this.sentCommit < this.next - 1;
  }

  /** Records that `commit` was sent to the follower. */
  sentCommitTo(commit: number): void {
    this.sentCommit = commit;
  }

  /**
   * Called on an accepting MsgAppResp for index `n`. Returns false if `n` is stale (at or
   * below `match`), else raises match (and next, if needed) and unpauses.
   */
  maybeUpdate(n: number): boolean {
    if (n <= this.match) return false;
    this.match = n;
    if (this.next < n + 1) this.next = n + 1;
    this.msgAppFlowPaused = false;
    return true;
  }

  /**
   * Called on a rejected MsgApp whose previous index was `rejected`; `matchHint` is the
   * follower's guess of the last index where the logs may match. Returns false if the
   * rejection is stale (answers a probe that is no longer current).
   *
   * In replicate state a rejection above match means the pipeline broke: restart from
   * match+1. In probe state, jump to the hint (fast backtracking, thesis §5.3 / etcd's
   * findConflictByTerm), never below match+1.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      this.sentCommit = Math.min(this.sentCommit, this.next - 1);
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.sentCommit = Math.min(this.sentCommit, this.next - 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /** Whether the leader must not send MsgApps to this node right now. */
  isPaused(): boolean {
    return this.state === "snapshot" ? true : this.msgAppFlowPaused;
  }

  /** Canonical text, e.g. `replicate match=5 next=6 inflight=1`. */
  describe(): string {
    let s = `${this.state} match=${this.match} next=${this.next}`;
    if (this.isLearner) s += " learner";
    if (this.isPaused()) s += " paused";
    if (this.pendingSnapshot > 0) s += ` pendingSnap=${this.pendingSnapshot}`;
    if (!this.recentActive) s += " inactive";
    const n = this.inflights.count();
    if (n > 0) {
      s += ` inflight=${n}`;
      if (this.inflights.full()) s += "[full]";
    }
    return s;
  }
}
