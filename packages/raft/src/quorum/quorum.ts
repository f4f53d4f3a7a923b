/**
 * Shared vocabulary of the quorum package: a quorum knows nothing of raft, only of ids,
 * acknowledged indexes and votes.
 */
import type { NodeId } from "../types.js";

/** The outcome of an election as far as it can be known from the votes so far. */
export enum VoteResult {
  /** Not enough votes either way yet. */
  VotePending = 1,
  /** A quorum rejected (or can no longer grant) the vote. */
  VoteLost = 2,
  /** A quorum granted the vote. */
  VoteWon = 3,
}

/** Names of {@link VoteResult} values, for describe output. */
export const voteResultNames: Record<VoteResult, string> = {
  [VoteResult.VotePending]: "VotePending",
  [VoteResult.VoteLost]: "VoteLost",
  [VoteResult.VoteWon]: "VoteWon",
};

/**
 * Looks up the index a voter has acknowledged (for commit: its match index). Returns
 * `undefined` when the voter has acknowledged nothing, which counts as index 0.
 */
export interface AckedIndexer {
  ackedIndex(id: NodeId): number | undefined;
}

/** An {@link AckedIndexer} over a plain map, for tests and read-index acks. */
export class MapAckIndexer implements AckedIndexer {
  constructor(readonly acks: ReadonlyMap<NodeId, number>) {}
  ackedIndex(id: NodeId): number | undefined {
    return this.acks.get(id);
  }
}
