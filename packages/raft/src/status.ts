import type { Raft } from "./raft.js";
import type { ProgressStateType } from "./tracker/progress.js";
import { type ConfState, type HardState, type NodeId, type SoftState, StateType } from "./types.js";

/** The leader's view of one member's replication, as reported by {@link Status}. */
export interface ProgressStatus {
  match: number;
  next: number;
  state: ProgressStateType;
  recentActive: boolean;
  /** The index of the snapshot in flight (snapshot state), else 0. */
  pendingSnapshot: number;
  /** Whether the inflight window is full (replication to it is paused). */
  inflightsFull: boolean;
  isLearner: boolean;
}

/** A cheap snapshot of a node's state. */
export interface BasicStatus {
  id: NodeId;
  hardState: HardState;
  softState: SoftState;
  /** The applied index as confirmed by advance(). */
  applied: number;
  /** The target of an ongoing leadership transfer, or None. */
  leadTransferee: NodeId;
}

/** A node's state including its configuration and, on the leader, every member's Progress. */
export interface Status extends BasicStatus {
  /** The active configuration, joint halves included. */
  config: ConfState;
  /** Leader only (empty on other roles): the Progress of every member. */
  progress: Map<NodeId, ProgressStatus>;
}

/** The basic status of `r`. */
export function getBasicStatus(r: Raft): BasicStatus {
  return {
    id: r.id,
    hardState: r.hardState(),
    softState: r.softState(),
    applied: r.raftLog.applied,
    leadTransferee: r.leadTransferee,
  };
}

/** The full status of `r`. */
export function getStatus(r: Raft): Status {
  const progress = new Map<NodeId, ProgressStatus>();
  if (r.state === StateType.Leader) {
    for (const id of r.trk.ids) {
      const pr = r.trk.progress.get(id)!;
      progress.set(id, {
        match: pr.match,
        next: pr.next,
        state: pr.state,
        recentActive: pr.recentActive,
        pendingSnapshot: pr.pendingSnapshot,
        inflightsFull: pr.inflights.full(),
        isLearner: pr.isLearner,
      });
    }
  }
  return { ...getBasicStatus(r), config: r.trk.confState(), progress };
}
