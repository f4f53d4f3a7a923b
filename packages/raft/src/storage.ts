import type { ConfState, Entry, HardState, Snapshot } from "./types.js";

/**
 * The read-only view of a node's durable log that the raft core reads from, in the style of
 * etcd-io/raft's `Storage`. The caller (packages/storage's RaftLogStore in production,
 * {@link MemoryStorage} in tests) writes to it when it persists a Ready; raft only reads.
 *
 * Every method is synchronous: the core never awaits. An implementation backed by a disk
 * store must answer from memory or from synchronous reads.
 *
 * Invariant: the log covers indexes (firstIndex()-1 .. lastIndex()], where the entry at
 * firstIndex()-1 is the last one covered by the snapshot (only its term is kept).
 */
export interface Storage {
  /** The persisted HardState and ConfState, read once when a node starts. */
  initialState(): { hardState: HardState; confState: ConfState };
  /**
   * Entries in [lo, hi). Returns at least one entry if any are in range, and stops before
   * the total size of `data` passes maxBytes. Throws {@link CompactedError} if lo <=
   * the snapshot index, {@link UnavailableError} if hi > lastIndex()+1.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /**
   * The term of entry i, for i in [firstIndex()-1, lastIndex()]. Throws CompactedError if
   * i < firstIndex()-1 and UnavailableError if i > lastIndex().
   */
  term(i: number): number;
  /** The index of the last entry in the log (the snapshot index if the log is empty). */
  lastIndex(): number;
  /** The index of the first entry still in the log (snapshot index + 1). */
  firstIndex(): number;
  /**
   * The most recent snapshot. May throw {@link SnapshotTemporarilyUnavailableError} while
   * the application is preparing one; raft then retries later.
   */
  snapshot(): Snapshot;
}

/** The requested index is at or below the compacted prefix of the log. */
export class CompactedError extends Error {
  override readonly name = "CompactedError";
  constructor() {
    super("requested index is unavailable due to compaction");
  }
}

/** The requested index is past the end of the log. */
export class UnavailableError extends Error {
  override readonly name = "UnavailableError";
  constructor() {
    super("requested entry at index is unavailable");
  }
}

/** A snapshot is being prepared; ask again later. */
export class SnapshotTemporarilyUnavailableError extends Error {
  override readonly name = "SnapshotTemporarilyUnavailableError";
  constructor() {
    super("snapshot is temporarily unavailable");
  }
}

/** Applying a snapshot older than the one the storage already holds. */
export class SnapshotOutOfDateError extends Error {
  override readonly name = "SnapshotOutOfDateError";
  constructor() {
    super("requested index is older than the existing snapshot");
  }
}
