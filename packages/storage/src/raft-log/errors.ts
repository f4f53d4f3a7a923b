/** Typed errors of the raft log store (the raft core's own errors come from @chainfire/raft). */

/**
 * A caller broke the store's contract (a gap in appended entries, compacting past the
 * commit index, committing batches out of order). A bug: nothing should catch it.
 */
export class RaftLogBugError extends Error {
  override readonly name = "RaftLogBugError";
}

/** Reading the log from RocksDB failed; `cause` holds the I/O error. */
export class RaftLogIoError extends Error {
  override readonly name = "RaftLogIoError";
}

/** The raft column family does not hold a valid log (a gap, an undecodable record). */
export class RaftLogCorruptError extends Error {
  override readonly name = "RaftLogCorruptError";
}
