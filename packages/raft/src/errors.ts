/**
 * The typed errors the Raft core throws. Expected outcomes (a dropped proposal, a message
 * that must not come from the network) are typed so callers can branch on them; a broken
 * invariant throws {@link BugIndicatingError}, which nothing should catch.
 */

/**
 * A proposal was not accepted: there is no leader, this follower does not forward
 * proposals, a leadership transfer is in progress, the leader has been removed, or the
 * leader's uncommitted-entries budget (`maxUncommittedEntriesSize`) is exhausted. The
 * caller may retry later. Message matches etcd's `ErrProposalDropped`.
 */
export class ProposalDroppedError extends Error {
  override readonly name = "ProposalDroppedError";
  constructor(readonly reason = "") {
    super(reason === "" ? "raft proposal dropped" : `raft proposal dropped: ${reason}`);
  }
}

/** A local-only message type (MsgHup, MsgBeat, ...) was passed to `step` from outside. */
export class StepLocalMessageError extends Error {
  override readonly name = "StepLocalMessageError";
  constructor() {
    super("raft: cannot step raft local message");
  }
}

/** A response message came from a node that has no Progress here (unknown or removed). */
export class StepPeerNotFoundError extends Error {
  override readonly name = "StepPeerNotFoundError";
  constructor() {
    super("raft: cannot step as peer not found");
  }
}

/** The Config passed to a RawNode is invalid; the message names the offending field. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/**
 * A configuration change cannot be applied to the current configuration (for example it
 * removes every voter, or changes two voters without joint consensus).
 */
export class ConfChangeError extends Error {
  override readonly name = "ConfChangeError";
}

/** Bytes that do not decode as a conf change produced by this package's codec. */
export class ConfChangeDecodeError extends Error {
  override readonly name = "ConfChangeDecodeError";
}

/**
 * A broken invariant: a bug in raft or in the caller's use of it (for example a storage
 * that lost fsynced entries). Nothing should catch this.
 */
export class BugIndicatingError extends Error {
  override readonly name = "BugIndicatingError";
}
