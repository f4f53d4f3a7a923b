import { JointConfig } from "../quorum/joint.js";
import { MajorityConfig } from "../quorum/majority.js";
import { type AckedIndexer, VoteResult } from "../quorum/quorum.js";
import type { ConfState, NodeId } from "../types.js";
import { sortedIds } from "../util.js";
import { Inflights } from "./inflights.js";
import type { Progress } from "./progress.js";

/**
 * The membership configuration a node is in: voters (possibly joint), learners, and the
 * learners to be added when a joint configuration is left.
 *
 * Invariants (checked by confchange): a learner is never a voter in either half; a node in
 * learnersNext is a voter in the outgoing half only; learnersNext is empty and autoLeave
 * false when not joint.
 */
export class TrackerConfig {
  constructor(
    public voters: JointConfig = new JointConfig(),
    public learners: Set<NodeId> = new Set(),
    public learnersNext: Set<NodeId> = new Set(),
    public autoLeave = false,
  ) {}

  /** A deep copy. */
  clone(): TrackerConfig {
    return new TrackerConfig(
      this.voters.clone(),
      new Set(this.learners),
      new Set(this.learnersNext),
      this.autoLeave,
    );
  }

  /** Canonical text, e.g. `voters=(1 2 3)&&(1 2) learners=(4) autoleave`. */
  describe(): string {
    let s = `voters=${this.voters.describe()}`;
    if (this.learners.size > 0) s += ` learners=${new MajorityConfig(this.learners).describe()}`;
    if (this.learnersNext.size > 0) {
      s += ` learners_next=${new MajorityConfig(this.learnersNext).describe()}`;
    }
    if (this.autoLeave) s += " autoleave";
    return s;
  }
}

/** The Progress of every node in the configuration, by id. */
export type ProgressMap = Map<NodeId, Progress>;

/**
 * Tracks the active configuration, the leader's Progress for every member, and the votes
 * of the current election.
 *
 * Invariant: `ids` is the sorted list of keys of `progress` (rebuilt whenever the
 * configuration changes), so visiting is deterministic and allocation-free.
 */
export class ProgressTracker implements AckedIndexer {
  config = new TrackerConfig();
  progress: ProgressMap = new Map();
  /** Every node with a Progress, sorted ascending. */
  ids: NodeId[] = [];
  /** Votes received in the current election: true = granted. */
  votes = new Map<NodeId, boolean>();

  constructor(
    readonly maxInflight: number,
    readonly maxInflightBytes: number,
  ) {}

  /** A fresh inflights window with this tracker's limits. */
  newInflights(): Inflights {
    return new Inflights(this.maxInflight, this.maxInflightBytes);
  }

  /** Installs a configuration and its progress map (from confchange). */
  setConfig(config: TrackerConfig, progress: ProgressMap): void {
    this.config = config;
    this.progress = progress;
    this.ids = sortedIds(progress.keys());
  }

  /** The ConfState describing the active configuration. */
  confState(): ConfState {
    const v = this.config.voters;
    return {
      voters: v.incoming.ids.slice(),
      votersOutgoing: v.outgoing.ids.slice(),
      learners: sortedIds(this.config.learners),
      learnersNext: sortedIds(this.config.learnersNext),
      autoLeave: this.config.autoLeave,
    };
  }

  /** Whether this is a single-voter, non-joint configuration. */
  isSingleton(): boolean {
    const v = this.config.voters;
    return v.incoming.size === 1 && v.outgoing.size === 0;
  }

  /** The match index of `id` (AckedIndexer over progress). */
  ackedIndex(id: NodeId): number | undefined {
    return this.progress.get(id)?.match;
  }

  /** The largest index a quorum of voters has durably appended (by their match). */
  committed(): number {
    return this.config.voters.committedIndex(this);
  }

  /** Whether a quorum of voters was recently active (check-quorum, thesis §6.2). */
  quorumActive(): boolean {
    const votes = new Map<NodeId, boolean>();
    for (const id of this.ids) {
      const pr = this.progress.get(id)!;
      if (!pr.isLearner) votes.set(id, pr.recentActive);
    }
    return this.config.voters.voteResult(votes) === VoteResult.VoteWon;
  }

  /** The voters of both halves, sorted. */
  voterNodes(): NodeId[] {
    return this.config.voters.ids();
  }

  /** The learners, sorted. */
  learnerNodes(): NodeId[] {
    return sortedIds(this.config.learners);
  }

  /** Forgets the votes of the previous election. */
  resetVotes(): void {
    this.votes = new Map();
  }

  /** Records `id`'s vote; only the first vote of a node in an election counts. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  /** Counts the votes so far and decides the election if possible. */
  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.ids) {
      const pr = this.progress.get(id)!;
      if (pr.isLearner) continue;
      const v = this.votes.get(id);
      if (v === undefined) continue;
      if (v) granted++;
      else rejected++;
    }
    return { granted, rejected, result: this.config.voters.voteResult(this.votes) };
  }
}
