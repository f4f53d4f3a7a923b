/**
 * @chainfire/raft — the Raft consensus core: a pure, deterministic state machine.
 * See README.md for the Ready loop.
 */

export {
  confChangeAsV2,
  confChangeEnterJoint,
  confChangeLeaveJoint,
  decodeConfChange,
  decodeConfChangeV2,
  encodeConfChange,
  encodeConfChangeV2,
  isConfChangeV2,
  leaveJointConfChange,
} from "./conf-change.js";
export * from "./config.js";
export {
  describeConfChanges,
  describeConfState,
  describeEntries,
  describeEntry,
  describeHardState,
  describeMessage,
  describeReady,
  describeSnapshot,
  describeSoftState,
  describeStateType,
  describeTarget,
  type EntryFormatter,
  quoteBytes,
} from "./describe.js";
export {
  BugIndicatingError,
  ConfChangeDecodeError,
  ConfChangeError,
  ConfigError,
  ProposalDroppedError,
  StepLocalMessageError,
  StepPeerNotFoundError,
} from "./errors.js";
export { MemoryStorage } from "./memory-storage.js";
export { isLocalMsg, isResponseMsg, RawNode } from "./raw-node.js";
export * from "./ready.js";
/** Node status reported by `RawNode.status()` / `basicStatus()`. */
export type { BasicStatus, ProgressStatus, Status } from "./status.js";
export * from "./storage.js";
/** A follower's replication state as seen by the leader. */
export type { ProgressStateType } from "./tracker/progress.js";
export * from "./types.js";
