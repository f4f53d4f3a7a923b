import { ConfigError } from "./errors.js";
import type { Storage } from "./storage.js";
import { type NodeId, None } from "./types.js";
import { NO_LIMIT } from "./util.js";

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

/** Where the core sends its debug lines; nothing is formatted unless a logger is set. */
export interface RaftLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
}

/** Default {@link Config.maxSizePerMsg}: 1 MiB. */
export const DEFAULT_MAX_SIZE_PER_MSG = 1024 * 1024;
/** Default {@link Config.maxInflightMsgs}. */
export const DEFAULT_MAX_INFLIGHT_MSGS = 256;

/** A {@link Config} with every default filled in, as the core uses it. */
export interface ResolvedConfig {
  id: NodeId;
  electionTick: number;
  heartbeatTick: number;
  storage: Storage;
  applied: number;
  maxSizePerMsg: number;
  maxInflightMsgs: number;
  maxInflightBytes: number;
  maxUncommittedEntriesSize: number;
  maxCommittedSizePerReady: number;
  checkQuorum: boolean;
  preVote: boolean;
  readOnlyOption: ReadOnlyOption;
  disableProposalForwarding: boolean;
  random: () => number;
  logger: RaftLogger | undefined;
}

function isNonNegInt(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/**
 * Fills in defaults and validates a Config. Throws {@link ConfigError} naming the first
 * problem: a `None` id, heartbeatTick < 1, electionTick <= heartbeatTick, a missing
 * storage or random source, non-integer or negative limits, maxInflightMsgs < 1,
 * maxInflightBytes below maxSizePerMsg, or LeaseBased reads without checkQuorum.
 *
 * Limits given as 0 mean "no limit" (maxUncommittedEntriesSize, maxCommittedSizePerReady,
 * maxInflightBytes), as in etcd.
 */
export function resolveConfig(c: Config): ResolvedConfig {
  if (c.id === None) throw new ConfigError("cannot use none as id");
  if (!Number.isSafeInteger(c.heartbeatTick) || c.heartbeatTick <= 0) {
    throw new ConfigError("heartbeat tick must be greater than 0");
  }
  if (!Number.isSafeInteger(c.electionTick) || c.electionTick <= c.heartbeatTick) {
    throw new ConfigError("election tick must be greater than heartbeat tick");
  }
  if (c.storage === undefined || c.storage === null) throw new ConfigError("storage cannot be nil");
  if (typeof c.random !== "function") {
    throw new ConfigError("random must be a function returning a float in [0, 1)");
  }
  const applied = c.applied ?? 0;
  const maxSizePerMsg = c.maxSizePerMsg ?? DEFAULT_MAX_SIZE_PER_MSG;
  const maxInflightMsgs = c.maxInflightMsgs ?? DEFAULT_MAX_INFLIGHT_MSGS;
  const maxInflightBytes = c.maxInflightBytes ?? 0;
  const maxUncommitted = c.maxUncommittedEntriesSize ?? 0;
  const maxCommitted = c.maxCommittedSizePerReady ?? 0;
  for (const [name, v] of [
    ["applied", applied],
    ["maxSizePerMsg", maxSizePerMsg],
    ["maxInflightMsgs", maxInflightMsgs],
    ["maxInflightBytes", maxInflightBytes],
    ["maxUncommittedEntriesSize", maxUncommitted],
    ["maxCommittedSizePerReady", maxCommitted],
  ] as const) {
    if (!isNonNegInt(v)) throw new ConfigError(`${name} must be a non-negative integer, got ${v}`);
  }
  if (maxInflightMsgs <= 0) throw new ConfigError("max inflight messages must be greater than 0");
  if (maxInflightBytes !== 0 && maxInflightBytes < maxSizePerMsg) {
    throw new ConfigError("max inflight bytes must be >= max message size");
  }
  const readOnlyOption = c.readOnlyOption ?? ReadOnlyOption.Safe;
  if (readOnlyOption !== ReadOnlyOption.Safe && readOnlyOption !== ReadOnlyOption.LeaseBased) {
    throw new ConfigError(`unknown readOnlyOption ${readOnlyOption}`);
  }
  const checkQuorum = c.checkQuorum ?? false;
  if (readOnlyOption === ReadOnlyOption.LeaseBased && !checkQuorum) {
    throw new ConfigError("CheckQuorum must be enabled when ReadOnlyOption is ReadOnlyLeaseBased");
  }
  return {
    id: c.id,
    electionTick: c.electionTick,
    heartbeatTick: c.heartbeatTick,
    storage: c.storage,
    applied,
    maxSizePerMsg,
    maxInflightMsgs,
    maxInflightBytes,
    maxUncommittedEntriesSize: maxUncommitted === 0 ? NO_LIMIT : maxUncommitted,
    maxCommittedSizePerReady: maxCommitted === 0 ? NO_LIMIT : maxCommitted,
    checkQuorum,
    preVote: c.preVote ?? false,
    readOnlyOption,
    disableProposalForwarding: c.disableProposalForwarding ?? false,
    random: c.random,
    logger: c.logger,
  };
}
