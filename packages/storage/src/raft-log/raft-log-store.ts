/**
 * RaftLogStore: the raft core's {@link Storage} on RocksDB's `raft` (entries) and
 * `raftstate` (HardState, boundary, term runs, snapshot record) column families (layout:
 * ./codec.ts).
 *
 * Reads are synchronous (the core never awaits): the HardState, the log boundary, the
 * snapshot record and the term of every index (as runs, see {@link TermIndex}) live in
 * memory; the recent tail of the log is cached ({@link EntryCache}, bounded in bytes);
 * older ranges are read synchronously from RocksDB (./log-reader.ts). Opening reads a few
 * records, one reverse seek and a bounded tail, never the whole log.
 *
 * Writes go into the caller's {@link WriteBatch} (the Ready loop's one batch per Ready,
 * DESIGN.md rule 5), and become visible to readers only when the caller reports the batch
 * written:
 *
 * ```ts
 * const w = mvcc.beginWrite();                 // its batch carries everything
 * log.save(w.batch, { snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState });
 * // ... the effects of rd.committedEntries, meta.setApplied(w.batch, ...) ...
 * await w.commit({ sync: rd.mustSync });
 * log.commit(w.batch); meta.commit(w.batch); leases.commit(w.batch);
 * // (if the batch is never written: log.abort(batch), and the same for the others)
 * ```
 *
 * Invariant: the durable log is the boundary entry (index, term) followed by the
 * contiguous entries (boundary.index, last]; the in-memory view equals what is on disk
 * once every written batch is committed.
 */
import {
  CompactedError,
  type ConfState,
  type Entry,
  emptyConfState,
  type HardState,
  None,
  type Snapshot,
  SnapshotOutOfDateError,
  type Storage,
  UnavailableError,
} from "@chainfire/raft";
import type { Engine, WriteBatch } from "../engine.js";
import { writeU64 } from "./binary.js";
import {
  BOUNDARY_KEY,
  cloneConfState,
  ENTRY_HEADER_SIZE,
  ENTRY_KEY_SIZE,
  encodeBoundary,
  encodeHardState,
  encodeSnapshotRecord,
  encodeTermRuns,
  entryKey,
  entryKeyInto,
  HARD_STATE_KEY,
  type LogBoundary,
  RAFT_STATE_CF,
  SNAPSHOT_KEY,
  TERM_RUNS_KEY,
} from "./codec.js";
import { EntryCache } from "./entry-cache.js";
import { RaftLogBugError, RaftLogCorruptError } from "./errors.js";
import { loadLog, readEntries, verifyLog } from "./log-reader.js";
import { moveRaftStateKeys } from "./state-migration.js";
import { TermIndex } from "./term-index.js";

/** Options of {@link RaftLogStore.open}. */
export interface RaftLogStoreOptions {
  /** Upper bound on the bytes of recent entries kept in memory. Default 8 MiB. */
  cacheBytes?: number;
  /**
   * The ConfState as applied (the meta store's), returned by `initialState()`: the core
   * restarts at the applied index and never re-delivers conf changes at or below it, so it
   * must start from the configuration they produced. Default: the snapshot's ConfState.
   */
  appliedConfState?: () => ConfState;
  /** Bytes of the newest entries read into the cache at open. Default 4 MiB. */
  prefillBytes?: number;
  /** Read the whole log at open and check it (see {@link RaftLogStore.verify}). */
  verify?: boolean;
}

/** What one Ready asks to persist (see {@link RaftLogStore.save}). */
export interface LogSave {
  hardState?: HardState;
  entries?: readonly Entry[];
  snapshot?: Snapshot;
}

/** A save staged in a batch, applied to memory by {@link RaftLogStore.commit}. */
interface PendingSave {
  batch: WriteBatch;
  snapshot?: { metadata: Snapshot["metadata"]; data: Uint8Array };
  entries?: Entry[];
  hardState?: HardState;
  /** Staged positions and term runs before this save (to undo it on abort). */
  prev: StagedPosition;
  prevTerms: TermIndex;
  /** Entry keys at or below this index may be range-deleted once committed. */
  garbageBelow?: { from: number; to: number };
}

interface StagedPosition {
  boundary: number;
  last: number;
  snapshotIndex: number;
}

const DEFAULT_CACHE_BYTES = 8 * 1024 * 1024;
const DEFAULT_PREFILL = 4 * 1024 * 1024;
const EMPTY = new Uint8Array(0);

export class RaftLogStore implements Storage {
  private readonly engine: Engine;
  private readonly appliedConfState?: () => ConfState;
  private readonly cache: EntryCache;
  private terms = new TermIndex();
  /** The term runs including pending saves (what the next runs record must say). */
  private stagedTerms = new TermIndex();
  /** A compaction asked for while saves were pending; done when they are committed. */
  private deferredCompact = 0;
  private hs: HardState = { term: 0, vote: None, commit: 0 };
  private boundary: LogBoundary = { index: 0, term: 0 };
  private last = 0;
  private snap: { metadata: Snapshot["metadata"]; data: Uint8Array } = {
    metadata: { index: 0, term: 0, confState: emptyConfState() },
    data: EMPTY,
  };
  private staged: StagedPosition = { boundary: 0, last: 0, snapshotIndex: 0 };
  private readonly pending: PendingSave[] = [];
  private readonly keyScratch = Buffer.allocUnsafe(ENTRY_KEY_SIZE);
  private closed = false;

  private constructor(engine: Engine, opts: RaftLogStoreOptions) {
    this.engine = engine;
    this.appliedConfState = opts.appliedConfState;
    this.cache = new EntryCache(opts.cacheBytes ?? DEFAULT_CACHE_BYTES);
  }

  /**
   * Loads the log from the engine's `raft` column family: the HardState, boundary,
   * snapshot and term-run records, the last index (one reverse seek) and a prefix of the
   * cache (the most recent entries, up to `prefillBytes`). Opening does not scan the log;
   * with `verify: true` it also reads every entry and checks that the log is contiguous
   * and agrees with the term runs. Throws {@link RaftLogCorruptError} when it does not.
   */
  static open(engine: Engine, opts: RaftLogStoreOptions = {}): RaftLogStore {
    moveRaftStateKeys(engine);
    const s = new RaftLogStore(engine, opts);
    s.load(opts);
    return s;
  }

  private load(opts: RaftLogStoreOptions): void {
    const prefill = Math.min(this.cache.capBytes, opts.prefillBytes ?? DEFAULT_PREFILL);
    const l = loadLog(this.engine, prefill, opts.verify ?? false);
    if (l.hardState) this.hs = l.hardState;
    if (l.snapshot) this.snap = l.snapshot;
    this.boundary = l.boundary;
    this.last = l.last;
    this.terms = l.terms;
    this.cache.append(l.tail);
    if (this.hs.commit > this.last) {
      throw new RaftLogCorruptError(
        `HardState commit ${this.hs.commit} is past the last log index ${this.last}`,
      );
    }
    // Entries at or below the boundary may survive a crash between a compaction's
    // boundary write and its range delete.
    if (this.boundary.index > 0) this.deleteEntriesThrough(-1, this.boundary.index);
    this.stagedTerms = this.terms.clone();
    this.staged = {
      boundary: this.boundary.index,
      last: this.last,
      snapshotIndex: this.snap.metadata.index,
    };
  }

  /**
   * Reads the whole log and checks that it is contiguous from the boundary to the last
   * index and that every entry's term matches the term runs. O(log size); for tests,
   * diagnostics and `open({ verify: true })`. Throws {@link RaftLogCorruptError}.
   */
  verify(): void {
    verifyLog(this.engine, this.boundary.index, this.last, this.terms);
  }

  // ---- Storage (read side, synchronous) ----

  initialState(): { hardState: HardState; confState: ConfState } {
    const confState = this.appliedConfState
      ? this.appliedConfState()
      : this.snap.metadata.confState;
    return { hardState: { ...this.hs }, confState: cloneConfState(confState) };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.boundary.index) throw new CompactedError();
    if (hi > this.last + 1) throw new UnavailableError();
    if (lo >= hi) return [];
    const out: Entry[] = [];
    let used = 0;
    let next = lo;
    const cacheStart = this.cache.count > 0 ? this.cache.start : this.last + 1;
    if (next < cacheStart) {
      used = readEntries(this.engine, next, Math.min(hi, cacheStart), maxBytes, out);
      if (used < 0) return out;
      next = Math.min(hi, cacheStart);
    }
    if (next < hi) this.cache.collect(next, hi, maxBytes, out, used);
    return out;
  }

  term(i: number): number {
    if (i < this.boundary.index) throw new CompactedError();
    if (i > this.last) throw new UnavailableError();
    return this.terms.term(i);
  }

  lastIndex(): number {
    return this.last;
  }

  firstIndex(): number {
    return this.boundary.index + 1;
  }

  snapshot(): Snapshot {
    const m = this.snap.metadata;
    return {
      metadata: { index: m.index, term: m.term, confState: cloneConfState(m.confState) },
      data: this.snap.data,
    };
  }

  // ---- extra read side ----

  /** The durable HardState (what `initialState` would return now). */
  get hardState(): HardState {
    return { ...this.hs };
  }

  /** Bytes and entries in the tail cache (for metrics). */
  get cacheStats(): { entries: number; bytes: number; firstIndex: number } {
    return { entries: this.cache.count, bytes: this.cache.bytes, firstIndex: this.cache.start };
  }

  // ---- write side ----

  /**
   * Adds one Ready's durable state to `batch`, in the order the Ready contract asks:
   * the snapshot (the log restarts after it), then the entries (a conflicting suffix, i.e.
   * every stored entry at or after entries[0].index, is replaced or deleted; entries at or
   * below the compacted boundary are skipped), then the HardState. Nothing is visible to
   * readers until {@link commit}(batch) after the batch is written.
   *
   * Throws {@link SnapshotOutOfDateError} for a snapshot not newer than the stored one and
   * {@link RaftLogBugError} for entries that leave a gap or are not contiguous.
   */
  save(batch: WriteBatch, s: LogSave): void {
    this.assertOpen();
    // Check everything before the first effect: a refused save leaves the batch alone.
    const next: StagedPosition = { ...this.staged };
    const m = s.snapshot?.metadata;
    if (m) {
      if (m.index <= next.snapshotIndex) throw new SnapshotOutOfDateError();
      next.boundary = m.index;
      next.last = m.index;
      next.snapshotIndex = m.index;
    }
    let ents: readonly Entry[] = s.entries ?? [];
    if (ents.length > 0) {
      checkContiguous(ents);
      const first = ents[0].index;
      if (first > next.last + 1) {
        throw new RaftLogBugError(
          `missing log entries: appending at ${first} after last index ${next.last}`,
        );
      }
      // Already compacted: skip what the log no longer covers (as MemoryStorage does).
      if (first <= next.boundary) ents = ents.slice(next.boundary + 1 - first);
    }
    const newLast = ents.length > 0 ? ents[ents.length - 1].index : next.last;
    if (s.hardState && s.hardState.commit > newLast) {
      throw new RaftLogBugError(
        `HardState commit ${s.hardState.commit} is past the last index ${newLast}`,
      );
    }

    const p: PendingSave = { batch, prev: { ...this.staged }, prevTerms: this.stagedTerms.clone() };
    const terms = this.stagedTerms;
    const mutations = terms.mutations;
    if (s.snapshot && m) {
      // Entries after the snapshot index must go in this batch (the log restarts there);
      // those at or below it are garbage once the boundary moves and go by range delete.
      for (let i = Math.max(m.index + 1, this.staged.boundary + 1); i <= this.staged.last; i++) {
        batch.del("raft", entryKeyInto(this.keyScratch, i));
      }
      batch.put(RAFT_STATE_CF, BOUNDARY_KEY, encodeBoundary({ index: m.index, term: m.term }));
      batch.put(RAFT_STATE_CF, SNAPSHOT_KEY, encodeSnapshotRecord(m, s.snapshot.data));
      p.snapshot = {
        metadata: { index: m.index, term: m.term, confState: cloneConfState(m.confState) },
        data: s.snapshot.data,
      };
      if (this.staged.boundary < m.index) {
        p.garbageBelow = { from: this.staged.boundary, to: m.index };
      }
      terms.reset(m.index, m.term);
    }
    if (ents.length > 0) {
      const stored = this.putEntries(batch, ents);
      for (let i = newLast + 1; i <= next.last; i++) {
        batch.del("raft", entryKeyInto(this.keyScratch, i));
      }
      terms.truncateFrom(stored[0].index);
      for (const e of stored) terms.set(e.index, e.term);
      next.last = newLast;
      p.entries = stored;
    }
    if (terms.mutations !== mutations) {
      batch.put(RAFT_STATE_CF, TERM_RUNS_KEY, encodeTermRuns(terms.runs()));
    }
    if (s.hardState) {
      batch.put(RAFT_STATE_CF, HARD_STATE_KEY, encodeHardState(s.hardState));
      p.hardState = { ...s.hardState };
    }
    this.staged = next;
    this.pending.push(p);
  }

  /**
   * Encodes `ents` into one slab (one allocation per save), puts them into the batch, and
   * returns entry objects whose data are views into the slab: the cache then holds memory
   * it can account for exactly, not views into someone else's larger buffers.
   */
  private putEntries(batch: WriteBatch, ents: readonly Entry[]): Entry[] {
    let size = 0;
    for (const e of ents) size += ENTRY_HEADER_SIZE + e.data.length;
    const slab = Buffer.allocUnsafeSlow(size);
    const out: Entry[] = new Array(ents.length);
    let off = 0;
    for (let k = 0; k < ents.length; k++) {
      const e = ents[k];
      const end = off + ENTRY_HEADER_SIZE + e.data.length;
      slab[off] = e.type;
      writeU64(slab, off + 1, e.term);
      slab.set(e.data, off + ENTRY_HEADER_SIZE);
      batch.put("raft", entryKeyInto(this.keyScratch, e.index), slab.subarray(off, end));
      out[k] = {
        index: e.index,
        term: e.term,
        type: e.type,
        data: slab.subarray(off + ENTRY_HEADER_SIZE, end),
      };
      off = end;
    }
    return out;
  }

  /**
   * Makes everything {@link save}d into `batch` visible to readers. Call once the batch is
   * written (and fsynced, if the Ready asked for it). Batches must be committed in the order
   * they were saved into. Does nothing if nothing was saved into `batch`.
   */
  commit(batch: WriteBatch): void {
    while (this.pending.length > 0 && this.pending[0].batch === batch) {
      const p = this.pending.shift()!;
      this.apply(p);
    }
    if (this.pending.some((p) => p.batch === batch)) {
      throw new RaftLogBugError("raft log batches committed out of order");
    }
    if (this.pending.length === 0 && this.deferredCompact > this.boundary.index) {
      const index = this.deferredCompact;
      this.deferredCompact = 0;
      this.compactNow(Math.min(index, this.last, this.hs.commit));
    }
  }

  /**
   * Forgets what was saved into `batch` (its write failed, or it was never written). Only
   * the most recently saved batches can be aborted.
   */
  abort(batch: WriteBatch): void {
    while (this.pending.length > 0 && this.pending[this.pending.length - 1].batch === batch) {
      const p = this.pending.pop()!;
      this.staged = p.prev;
      this.stagedTerms = p.prevTerms;
    }
    if (this.pending.some((p) => p.batch === batch)) {
      throw new RaftLogBugError("raft log batch aborted out of order");
    }
  }

  private apply(p: PendingSave): void {
    if (p.snapshot) {
      const m = p.snapshot.metadata;
      this.snap = p.snapshot;
      this.boundary = { index: m.index, term: m.term };
      this.last = m.index;
      this.terms.reset(m.index, m.term);
      this.cache.clear();
      this.cache.compactTo(m.index);
    }
    if (p.entries) {
      const ents = p.entries;
      const first = ents[0].index;
      this.terms.truncateFrom(first);
      for (const e of ents) this.terms.set(e.index, e.term);
      this.cache.append(ents);
      this.last = ents[ents.length - 1].index;
    }
    if (p.hardState) this.hs = p.hardState;
    if (p.garbageBelow) this.deleteEntriesThrough(p.garbageBelow.from, p.garbageBelow.to);
  }

  /**
   * Discards the log up to and including `index`; `term(index)` stays answerable (the new
   * boundary). The caller guarantees index <= applied (the log must keep every entry not
   * yet applied); the store checks index <= the committed index and <= lastIndex.
   * Written in its own unsynced RocksDB write: losing it in a crash only keeps more log.
   * While saves are pending (saved, not yet committed) the compaction is deferred until
   * they are committed. Throws {@link CompactedError} if index is at or below the current
   * boundary.
   */
  compact(index: number): void {
    this.assertOpen();
    if (index <= this.boundary.index) throw new CompactedError();
    if (index > this.last) {
      throw new RaftLogBugError(`compact ${index} is out of bound lastindex(${this.last})`);
    }
    if (index > this.hs.commit) {
      throw new RaftLogBugError(`compact ${index} is past the commit index ${this.hs.commit}`);
    }
    if (this.pending.length > 0) {
      // The term-runs record written now could be overwritten by a pending batch (or
      // overwrite one already written): compact once every pending save is committed.
      this.deferredCompact = Math.max(this.deferredCompact, index);
      return;
    }
    this.compactNow(index);
  }

  private compactNow(index: number): void {
    if (index <= this.boundary.index) return;
    const b: LogBoundary = { index, term: this.terms.term(index) };
    const terms = this.terms.clone();
    terms.compactTo(index);
    const batch = this.engine.batch();
    try {
      batch.put(RAFT_STATE_CF, BOUNDARY_KEY, encodeBoundary(b));
      batch.put(RAFT_STATE_CF, TERM_RUNS_KEY, encodeTermRuns(terms.runs()));
      this.engine.writeSync(batch);
    } finally {
      batch.close();
    }
    const from = this.boundary.index;
    this.boundary = b;
    this.staged.boundary = Math.max(this.staged.boundary, index);
    this.terms = terms;
    this.stagedTerms = terms.clone();
    this.cache.compactTo(index);
    this.deleteEntriesThrough(from, index);
  }

  /**
   * Records a snapshot the application made of its state at `index` (<= lastIndex, >= the
   * boundary), so `snapshot()` returns it. Written in its own unsynced write. Throws
   * {@link SnapshotOutOfDateError} if index is not newer than the stored snapshot.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array = EMPTY): Snapshot {
    this.assertOpen();
    if (index <= this.snap.metadata.index) throw new SnapshotOutOfDateError();
    if (index > this.last || index < this.boundary.index) {
      throw new RaftLogBugError(
        `snapshot ${index} is outside the log [${this.boundary.index}, ${this.last}]`,
      );
    }
    const metadata = { index, term: this.terms.term(index), confState: cloneConfState(confState) };
    const batch = this.engine.batch();
    try {
      batch.put(RAFT_STATE_CF, SNAPSHOT_KEY, encodeSnapshotRecord(metadata, data));
      this.engine.writeSync(batch);
    } finally {
      batch.close();
    }
    this.snap = { metadata, data };
    this.staged.snapshotIndex = Math.max(this.staged.snapshotIndex, index);
    return this.snapshot();
  }

  /** Shorthand for `save(batch, { snapshot })`: the log restarts after the snapshot. */
  applySnapshot(batch: WriteBatch, snapshot: Snapshot): void {
    this.save(batch, { snapshot });
  }

  /** Stops accepting writes. Idempotent. The engine is the caller's to close. */
  close(): void {
    this.closed = true;
  }

  // ---- internals ----

  /** Range-deletes entry keys in (from, to]: garbage below the boundary. */
  private deleteEntriesThrough(from: number, to: number): void {
    if (to <= from) return;
    this.engine.deleteRangeSync("raft", { gte: entryKey(from + 1), lt: entryKey(to + 1) });
  }

  private assertOpen(): void {
    if (this.closed) throw new RaftLogBugError("raft log store is closed");
  }
}

function checkContiguous(ents: readonly Entry[]): void {
  for (let k = 0; k < ents.length; k++) {
    const e = ents[k];
    if (e.index < 1 || e.term < 1) {
      throw new RaftLogBugError(`invalid entry: index ${e.index} term ${e.term}`);
    }
    if (k > 0) {
      const p = ents[k - 1];
      if (e.index !== p.index + 1) {
        throw new RaftLogBugError(`entries not contiguous: ${p.index} then ${e.index}`);
      }
      if (e.term < p.term) {
        throw new RaftLogBugError(`entry terms go backwards: ${p.term} then ${e.term}`);
      }
    }
  }
}
