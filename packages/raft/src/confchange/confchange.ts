/**
 * Membership changes on a copy of the configuration: copy the config, change the copy,
 * check the invariants, return it (the caller installs it). Three operations, as in
 * etcd-io/raft's confchange and thesis §4: a simple change (at most one voter added or
 * removed), entering a joint configuration (any number of changes, thesis §4.3), and
 * leaving it.
 */
import { ConfChangeError } from "../errors.js";
import { MajorityConfig } from "../quorum/majority.js";
import { Progress } from "../tracker/progress.js";
import type { ProgressMap, ProgressTracker, TrackerConfig } from "../tracker/progress-tracker.js";
import { type ConfChangeSingle, ConfChangeType, type NodeId } from "../types.js";

/** A configuration and its progress map, as produced by a {@link Changer}. */
export interface ChangeResult {
  config: TrackerConfig;
  progress: ProgressMap;
}

/**
 * Computes new configurations from the tracker's current one. Never modifies the tracker.
 * Every method throws {@link ConfChangeError} if the change is not allowed.
 */
export class Changer {
  constructor(
    readonly tracker: ProgressTracker,
    /** The last index of the log: new nodes start probing from here. */
    readonly lastIndex: number,
  ) {}

  /**
   * Enters a joint configuration: the current voters become the outgoing half and the
   * changes are applied to the incoming half. With `autoLeave` the leader proposes leaving
   * as soon as the joint configuration is applied.
   */
  enterJoint(autoLeave: boolean, ccs: readonly ConfChangeSingle[]): ChangeResult {
    const { config, progress } = this.checkAndCopy();
    if (config.voters.isJoint()) throw new ConfChangeError("config is already joint");
    if (config.voters.incoming.size === 0) {
      throw new ConfChangeError("can't make a zero-voter config joint");
    }
    config.voters.outgoing = config.voters.incoming.clone();
    this.apply(config, progress, ccs);
    config.autoLeave = autoLeave;
    return checkAndReturn(config, progress);
  }

  /**
   * Leaves a joint configuration: the outgoing half is dropped, nodes in learnersNext
   * become learners, and nodes that are in neither half nor learners lose their Progress.
   */
  leaveJoint(): ChangeResult {
    const { config, progress } = this.checkAndCopy();
    if (!config.voters.isJoint()) throw new ConfChangeError("can't leave a non-joint config");
    for (const id of config.learnersNext) {
      config.learners.add(id);
      progress.get(id)!.isLearner = true;
    }
    config.learnersNext = new Set();
    for (const id of config.voters.outgoing.ids) {
      if (!config.voters.incoming.has(id) && !config.learners.has(id)) progress.delete(id);
    }
    config.voters.outgoing = new MajorityConfig();
    config.autoLeave = false;
    return checkAndReturn(config, progress);
  }

  /**
   * Applies changes that alter the voters by at most one node, without joint consensus
   * (thesis §4.1: any two majorities of configurations differing by one server overlap).
   */
  simple(ccs: readonly ConfChangeSingle[]): ChangeResult {
    const { config, progress } = this.checkAndCopy();
    if (config.voters.isJoint()) {
      throw new ConfChangeError("can't apply simple config change in joint config");
    }
    this.apply(config, progress, ccs);
    if (symdiff(this.tracker.config.voters.incoming, config.voters.incoming) > 1) {
      throw new ConfChangeError("more than one voter changed without entering joint config");
    }
    return checkAndReturn(config, progress);
  }

  private apply(config: TrackerConfig, progress: ProgressMap, ccs: readonly ConfChangeSingle[]) {
    for (const cc of ccs) {
      if (cc.nodeId === 0n) continue; // etcd: a zero id is a no-op (used to carry context).
      switch (cc.type) {
        case ConfChangeType.AddNode:
          this.makeVoter(config, progress, cc.nodeId);
          break;
        case ConfChangeType.AddLearnerNode:
          this.makeLearner(config, progress, cc.nodeId);
          break;
        case ConfChangeType.RemoveNode:
          this.remove(config, progress, cc.nodeId);
          break;
        case ConfChangeType.UpdateNode:
          break;
        default:
          throw new ConfChangeError(`unexpected conf type ${cc.type}`);
      }
    }
    if (config.voters.incoming.size === 0) throw new ConfChangeError("removed all voters");
  }

  private makeVoter(config: TrackerConfig, progress: ProgressMap, id: NodeId): void {
    const pr = progress.get(id);
    if (pr === undefined) {
      this.initProgress(config, progress, id, false);
      return;
    }
    pr.isLearner = false;
    config.learners.delete(id);
    config.learnersNext.delete(id);
    config.voters.incoming.add(id);
  }

  /**
   * Makes `id` a learner. A voter of the outgoing half cannot become a learner before the
   * joint configuration is left (it would stop being counted there), so it is staged in
   * learnersNext.
   */
  private makeLearner(config: TrackerConfig, progress: ProgressMap, id: NodeId): void {
    const pr = progress.get(id);
    if (pr === undefined) {
      this.initProgress(config, progress, id, true);
      return;
    }
    if (pr.isLearner) return;
    this.remove(config, progress, id);
    progress.set(id, pr); // remove() may have dropped it; keep the replication state.
    if (config.voters.outgoing.has(id)) {
      config.learnersNext.add(id);
    } else {
      pr.isLearner = true;
      config.learners.add(id);
    }
  }

  /** Removes `id` from the incoming half and the learners; keeps its Progress if outgoing. */
  private remove(config: TrackerConfig, progress: ProgressMap, id: NodeId): void {
    if (!progress.has(id)) return;
    config.voters.incoming.delete(id);
    config.learners.delete(id);
    config.learnersNext.delete(id);
    if (!config.voters.outgoing.has(id)) progress.delete(id);
  }

  private initProgress(
    config: TrackerConfig,
    progress: ProgressMap,
    id: NodeId,
    isLearner: boolean,
  ): void {
    if (isLearner) config.learners.add(id);
    else config.voters.incoming.add(id);
    // Probe from the last index: the new node most likely has an empty log and the first
    // rejection's hint takes the leader straight to the right place (or to a snapshot).
    const pr = new Progress(Math.max(this.lastIndex, 1), this.tracker.newInflights(), isLearner);
    // Treat the new node as active so check-quorum does not step the leader down before
    // the node had a chance to answer.
    pr.recentActive = true;
    progress.set(id, pr);
  }

  private checkAndCopy(): ChangeResult {
    const config = this.tracker.config.clone();
    const progress: ProgressMap = new Map();
    for (const [id, pr] of this.tracker.progress) progress.set(id, pr.clone());
    return checkAndReturn(config, progress);
  }
}

/**
 * Checks the configuration invariants; throws {@link ConfChangeError} naming the first
 * violated one.
 */
export function checkInvariants(config: TrackerConfig, progress: ProgressMap): void {
  for (const ids of [config.voters.ids(), config.learners, config.learnersNext]) {
    for (const id of ids) {
      if (!progress.has(id)) throw new ConfChangeError(`no progress for ${id}`);
    }
  }
  for (const id of config.learnersNext) {
    if (!config.voters.outgoing.has(id)) {
      throw new ConfChangeError(`${id} is in LearnersNext, but not Voters[1]`);
    }
    if (progress.get(id)!.isLearner) {
      throw new ConfChangeError(`${id} is in LearnersNext, but is already marked as learner`);
    }
  }
  for (const id of config.learners) {
    if (config.voters.outgoing.has(id)) {
      throw new ConfChangeError(`${id} is in Learners and Voters[1]`);
    }
    if (config.voters.incoming.has(id)) {
      throw new ConfChangeError(`${id} is in Learners and Voters[0]`);
    }
    if (!progress.get(id)!.isLearner) {
      throw new ConfChangeError(`${id} is in Learners, but is not marked as learner`);
    }
  }
  if (!config.voters.isJoint()) {
    if (config.learnersNext.size > 0) {
      throw new ConfChangeError("LearnersNext must be empty when not joint");
    }
    if (config.autoLeave) throw new ConfChangeError("AutoLeave must be false when not joint");
  }
}

function checkAndReturn(config: TrackerConfig, progress: ProgressMap): ChangeResult {
  checkInvariants(config, progress);
  return { config, progress };
}

/** The number of ids in exactly one of the two configs. */
function symdiff(l: MajorityConfig, r: MajorityConfig): number {
  let n = 0;
  for (const id of l.ids) if (!r.has(id)) n++;
  for (const id of r.ids) if (!l.has(id)) n++;
  return n;
}

/** Canonical text of a list of single changes, e.g. `AddNode(2) RemoveNode(3)`. */
export function describeChanges(ccs: readonly ConfChangeSingle[]): string {
  return ccs.map((cc) => `${ConfChangeType[cc.type]}(${cc.nodeId.toString(16)})`).join(" ");
}
