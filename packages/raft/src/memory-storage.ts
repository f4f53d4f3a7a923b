import { BugIndicatingError } from "./errors.js";
import {
  CompactedError,
  SnapshotOutOfDateError,
  type Storage,
  UnavailableError,
} from "./storage.js";
import {
  type ConfState,
  type Entry,
  EntryType,
  emptyConfState,
  type HardState,
  None,
  type Snapshot,
} from "./types.js";
import { EMPTY_BYTES, limitCount } from "./util.js";

/**
 * An in-memory {@link Storage}, in the style of etcd-io/raft's MemoryStorage: for tests,
 * the simulation and benchmarks. The caller writes to it while handling a Ready
 * ({@link applySnapshot}, {@link append}, {@link setHardState}) and raft reads from it.
 *
 * Invariants: `ents[head]` is a dummy entry at the snapshot index (only its index and
 * term matter); the entries after it are contiguous. Appending and compacting are O(1)
 * amortized per entry.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = { term: 0, vote: None, commit: 0 };
  private snap: Snapshot;
  private confState: ConfState;
  private ents: Entry[];
  private head = 0;

  /**
   * Creates a storage. Without an argument it is empty (a node joining an existing
   * cluster, or a test that lays out its own log from index 1).
   *
   * With the initial configuration of a new cluster (for example `{ voters: [1n, 2n, 3n]
   * }`) it holds a bootstrap snapshot at index 1, term 1 carrying that configuration, and
   * the HardState {term 1, commit 1}, as etcd's test harness does (`index=2`): the log of
   * every initial member starts at index 2, so a member added later (with an empty log) is
   * always sent a snapshot, which tells it the initial configuration. (Starting the log at
   * index 1 would let it replay entries that never mention that configuration.) The
   * alternative is {@link RawNode.bootstrap}, which writes the membership into the log.
   */
  constructor(initial?: Partial<ConfState>) {
    if (initial === undefined) {
      this.confState = emptyConfState();
      this.snap = { metadata: { index: 0, term: 0, confState: this.confState }, data: EMPTY_BYTES };
      this.ents = [{ term: 0, index: 0, type: EntryType.Normal, data: EMPTY_BYTES }];
    } else {
      this.confState = { ...emptyConfState(), ...initial };
      this.snap = {
        metadata: { index: 1, term: 1, confState: cloneConfState(this.confState) },
        data: EMPTY_BYTES,
      };
      this.ents = [{ term: 1, index: 1, type: EntryType.Normal, data: EMPTY_BYTES }];
      this.hardState = { term: 1, vote: None, commit: 1 };
    }
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: cloneConfState(this.confState) };
  }

  /** Persists the HardState. */
  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  /**
   * Records the configuration returned by `applyConfChange`, so that a restart sees the
   * configuration as of the applied index (packages/storage does the same atomically with
   * the applied index).
   */
  setConfState(cs: ConfState): void {
    this.confState = cloneConfState(cs);
  }

  private get offset(): number {
    return this.ents[this.head].index;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.offset;
    if (lo <= offset) throw new CompactedError();
    const last = offset + this.ents.length - this.head - 1;
    if (hi > last + 1) throw new UnavailableError();
    if (lo >= hi) return [];
    const start = this.head + lo - offset;
    const n = limitCount(this.ents, start, start + (hi - lo), maxBytes);
    return this.ents.slice(start, start + n);
  }

  term(i: number): number {
    const offset = this.offset;
    if (i < offset) throw new CompactedError();
    const k = this.head + i - offset;
    if (k >= this.ents.length) throw new UnavailableError();
    return this.ents[k].term;
  }

  lastIndex(): number {
    return this.offset + this.ents.length - this.head - 1;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /**
   * Replaces the contents with a snapshot (received from the leader). Throws
   * SnapshotOutOfDateError if it is older than the one held.
   */
  applySnapshot(snap: Snapshot): void {
    if (this.snap.metadata.index >= snap.metadata.index) throw new SnapshotOutOfDateError();
    this.snap = snap;
    this.confState = cloneConfState(snap.metadata.confState);
    this.ents = [
      {
        term: snap.metadata.term,
        index: snap.metadata.index,
        type: EntryType.Normal,
        data: EMPTY_BYTES,
      },
    ];
    this.head = 0;
  }

  /**
   * Makes a snapshot at applied index `i` with the configuration `cs` at that index and
   * the application's `data`; it can then be sent to followers that fell behind. Throws
   * SnapshotOutOfDateError if i is at or below the current snapshot.
   */
  createSnapshot(i: number, cs: ConfState | undefined, data: Uint8Array): Snapshot {
    if (i <= this.snap.metadata.index) throw new SnapshotOutOfDateError();
    const last = this.lastIndex();
    if (i > last) throw new BugIndicatingError(`snapshot ${i} is out of bound lastindex(${last})`);
    this.snap = {
      metadata: {
        index: i,
        term: this.ents[this.head + i - this.offset].term,
        confState: cloneConfState(cs ?? this.snap.metadata.confState),
      },
      data,
    };
    return this.snap;
  }

  /**
   * Discards the entries up to `compactIndex` (which must be applied and covered by a
   * snapshot the caller keeps). Throws CompactedError if already compacted.
   */
  compact(compactIndex: number): void {
    const offset = this.offset;
    if (compactIndex <= offset) throw new CompactedError();
    const last = this.lastIndex();
    if (compactIndex > last) {
      throw new BugIndicatingError(`compact ${compactIndex} is out of bound lastindex(${last})`);
    }
    this.head += compactIndex - offset;
    const e = this.ents[this.head];
    this.ents[this.head] = {
      term: e.term,
      index: e.index,
      type: EntryType.Normal,
      data: EMPTY_BYTES,
    };
    if (this.head > 1024 && this.head * 2 > this.ents.length) {
      this.ents = this.ents.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * Appends entries (from a Ready), first truncating any entries at or after the first
   * new index. Entries at or below the snapshot index are ignored. The array is not
   * retained.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.offset + 1;
    const last = entries[0].index + entries.length - 1;
    if (last < first) return;
    let from = 0;
    if (first > entries[0].index) from = first - entries[0].index;
    const at = entries[from].index;
    const end = this.lastIndex() + 1;
    if (at < end) {
      this.ents.length = this.head + at - this.offset;
    } else if (at > end) {
      throw new BugIndicatingError(`missing log entry [last: ${end - 1}, append at: ${at}]`);
    }
    const dst = this.ents;
    for (let i = from; i < entries.length; i++) dst.push(entries[i]);
  }
}

function cloneConfState(cs: ConfState): ConfState {
  return {
    voters: cs.voters.slice(),
    learners: cs.learners.slice(),
    votersOutgoing: cs.votersOutgoing.slice(),
    learnersNext: cs.learnersNext.slice(),
    autoLeave: cs.autoLeave,
  };
}
