import type { Storage } from "./storage.js";
import type { NodeId } from "./types.js";

/** How a leader confirms it is still leader before answering a ReadIndex request. */
export enum ReadOnlyOption {
  /** Confirm with a heartbeat round to a quorum (always linearizable). */
  Safe = 0,
  /**
   * Trust the leader lease: no round trip. Only allowed with checkQuorum, and only correct
   * while clock drift is bounded (raft thesis §6.4.1).
   */
  LeaseBased = 1,
}

/** A node's configuration. Validated when the node is created. */
export interface Config {
  /** This node's id; must not be `None`. */
  id: NodeId;
  /**
   * Ticks a follower waits without hearing from a leader before campaigning. The actual
   * timeout is randomized in [electionTick, 2*electionTick). Must be > heartbeatTick.
   */
  electionTick: number;
  /** Ticks between a leader's heartbeats. */
  heartbeatTick: number;
  storage: Storage;
  /**
   * The last applied index when restarting; raft will not return committed entries at or
   * below it. 0 for a new node.
   */
  applied?: number;
  /** Upper bound on the byte size of the entries in one MsgApp (at least one entry). */
  maxSizePerMsg?: number;
  /** Upper bound on MsgApps in flight to one follower in replicate state. */
  maxInflightMsgs?: number;
  /** Upper bound on bytes of entries in flight to one follower (0: no limit). */
  maxInflightBytes?: number;
  /** Upper bound on the size of uncommitted entries a leader accepts (0: no limit). */
  maxUncommittedEntriesSize?: number;
  /** Upper bound on bytes of committed entries returned in one Ready (0: no limit). */
  maxCommittedSizePerReady?: number;
  /** A leader steps down when it has not heard from a quorum within an election timeout. */
  checkQuorum?: boolean;
  /** Run a pre-vote round before incrementing the term (thesis §9.6). */
  preVote?: boolean;
  readOnlyOption?: ReadOnlyOption;
  /** Followers drop proposals instead of forwarding them to the leader. */
  disableProposalForwarding?: boolean;
  /**
   * The seeded random source used for election timeouts: returns a float in [0, 1).
   * Required: the core never calls Math.random.
   */
  random: () => number;
  /** Receives debug lines (role changes, rejections); default: silent. */
  logger?: RaftLogger;
}

export interface RaftLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
}
