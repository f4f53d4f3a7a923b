/**
 * MvccStore: etcd's multi-version key-value store (server/storage/mvcc) on RocksDB, with
 * no in-memory index of keys — the index lives in RocksDB, so memory does not grow with
 * the key count.
 *
 * ## Layout (column families, see engine.ts)
 *
 * ```
 * kv        user key                            → record of the key's latest version (live keys only)
 * history   encodeKey(key) ‖ ~main ‖ ~sub        → record of an older version, or a tombstone
 * revs      main ‖ sub of a chunk's first change → the chunk's changes (revlog.ts) (the revision log)
 * leasekeys lease ‖ user key                     → ""                            (keys attached to a lease)
 * kvmeta    "rev" | "compact" | "compact-done" → int64; "compact-cursor" → a revs key
 * ```
 * (records: record.ts; encodings: keys.ts; `~` is the bitwise complement, so each key's
 * versions sort newest first.) Every version except each live key's latest is in
 * `history`; the latest is in `kv`, moved to `history` when it is replaced or deleted.
 *
 * ## Worked example
 *
 * A new store is at revision 1 with no keys. Then:
 *
 * ```
 * rev 2  put foo=a          kv:      foo → put(create 2, mod 2.0, version 1, "a")
 *                           revs:    2.0 → [PUT foo @2.0]
 * rev 3  put foo=b          kv:      foo → put(create 2, mod 3.0, version 2, "b")
 *                           history: foo·~2.0 → put(2, 2.0, 1, "a")
 *                           revs:    3.0 → [PUT foo @3.0]
 * rev 4  delete foo         kv:      (foo removed)
 *                           history: foo·~4.0 → tombstone(4.0), foo·~3.0 → put(2, 3.0, 2, "b"),
 *                                    foo·~2.0 → put(2, 2.0, 1, "a")
 *                           revs:    4.0 → [DELETE foo @4.0]
 * rev 5  put foo=c          kv:      foo → put(create 5, mod 5.0, version 1, "c")
 * ```
 * - get foo now: one point read of `kv` → "c" (create 5, version 1).
 * - get foo at rev 3: kv's foo has mod 5 > 3, so seek `history` to foo·~3.MAX: the first
 *   entry there is foo·~3.0 → "b". At rev 4 the seek lands on the tombstone: no foo.
 * - watch from rev 3: scan `revs` from 3.0: PUT foo@3 (record from history foo·~3.0,
 *   prev_kv = foo at rev 2, a seek to foo·~2.MAX), DELETE foo@4 (prev_kv "b"), PUT foo@5
 *   (record from kv; a creation, so no prev_kv).
 * - compact 4: for each key changed at or below rev 4 (from `revs`), drop its history
 *   entries at or below 4 except the newest when that is a put (here the tombstone @4 is
 *   newest, so all three go); drop the `revs` chunks whose changes are all below 4.
 *
 * ## Revisions (etcd semantics)
 * The store starts at revision 1. Each transaction that changes something advances the
 * revision by one; a transaction, put or delete that changes nothing does not. Reads at
 * revision 0 (or below) read the current revision; below the compact revision they fail
 * with ErrCompacted, above the current one with ErrFutureRev. The compact revision
 * starts at -1 (never compacted), as etcd's compactMainRev.
 *
 * ## Threads
 * Everything here is synchronous on the caller's thread except {@link hashKV} and
 * {@link runCompaction}. At most one {@link MvccWrite} is open at a time; reads
 * ({@link range}) see the committed state meanwhile.
 */
import type { Engine, WriteBatch } from "../engine.js";
import { StorageBugError, StorageError } from "../errors.js";
import { failpoint, failpointsActive } from "../failpoints.js";
import { type ChangesOptions, type ChangesPage, readChanges } from "./changes.js";
import { compactionPending, compactStep } from "./compactor.js";
import type { StoredEvent } from "./event.js";
import { hashKV } from "./hash.js";
import { decodeInt, META_COMPACT, META_REV } from "./layout.js";
import { executeRange } from "./range.js";
import { type ReadBudget, versionAt } from "./read.js";
import { toKeyValue } from "./record.js";
import type { HashKVResult, KeyValue, RangeRequest, RangeResult } from "./types.js";
import { checkRangeRequest } from "./validate.js";
import { CommittedView } from "./view.js";
import { type FinishedWrite, keysOfLease, MvccWrite, type WriteHost } from "./write.js";

/** A valid single-key read at the current revision whose options cannot change the answer. */
function isPlainPointRead(r: RangeRequest): boolean {
  return (
    r.key.length > 0 &&
    (r.rangeEnd === undefined || r.rangeEnd.length === 0) &&
    (r.revision === undefined || r.revision <= 0n) &&
    !r.minModRevision &&
    !r.maxModRevision &&
    !r.minCreateRevision &&
    !r.maxCreateRevision &&
    (r.sortOrder ?? 0) >= 0 &&
    (r.sortOrder ?? 0) <= 2 &&
    (r.sortTarget ?? 0) >= 0 &&
    (r.sortTarget ?? 0) <= 4 &&
    Number.isInteger(r.sortOrder ?? 0) &&
    Number.isInteger(r.sortTarget ?? 0)
  );
}

/** Options of {@link MvccStore.open}. */
export interface MvccStoreOptions {
  /**
   * Whether a lease exists (Put with an unknown lease fails with ErrLeaseNotFound, as in
   * etcd). Supplied by the LeaseStore; it must see leases granted earlier in the same
   * apply batch. Default: every lease exists.
   */
  leaseExists?: (id: bigint) => boolean;
}

/** A listener of committed writes (see {@link MvccStore.onCommit}). */
export type CommitListener = (events: readonly StoredEvent[], revision: bigint) => void;

/** See the module comment. */
export class MvccStore {
  readonly engine: Engine;
  readonly #view: CommittedView;
  readonly #leaseExists: (id: bigint) => boolean;
  #rev: number;
  #compactRev: number;
  #open: MvccWrite | null = null;
  #batch: WriteBatch | undefined;
  readonly #listeners = new Set<CommitListener>();
  readonly #host: WriteHost;

  private constructor(engine: Engine, opts: MvccStoreOptions) {
    this.engine = engine;
    this.#view = new CommittedView(engine);
    this.#leaseExists = opts.leaseExists ?? (() => true);
    this.#rev = decodeInt(engine.getSync("kvmeta", META_REV), 1);
    this.#compactRev = decodeInt(engine.getSync("kvmeta", META_COMPACT), -1);
    const host: WriteHost = {
      base: this.#view,
      readMany: (keys) => this.engine.getManySync("kv", keys),
      leaseExists: (id) => this.#leaseExists(id),
      finishWrite: (w, _out, rev, compactRev) => {
        if (this.#open !== w) throw new StorageBugError("finishing a write that is not open");
        this.#open = null;
        this.#rev = rev;
        this.#compactRev = compactRev;
      },
      abortWrite: (w) => {
        if (this.#open === w) this.#open = null;
      },
      writeBatch: (out, sync) => {
        const p = this.engine.write(out.batch, { sync });
        for (const l of this.#listeners) l(out.events, out.revision);
        return p;
      },
    };
    this.#host = host;
  }

  /** Open the MVCC store of `engine` (reads its meta; synchronous). */
  static open(engine: Engine, opts: MvccStoreOptions = {}): MvccStore {
    return new MvccStore(engine, opts);
  }

  /** The current (committed) revision. */
  get revision(): bigint {
    return BigInt(this.#rev);
  }

  /** The compact revision; -1 if never compacted. */
  get compactRevision(): bigint {
    return BigInt(this.#compactRev);
  }

  /**
   * etcd Range against the committed state. Throws StorageError on bad input, and
   * ErrResponseTooLarge when the KeyValues would pass `budget` (read.ts ReadBudget).
   */
  range(req: RangeRequest, budget?: ReadBudget): RangeResult {
    checkRangeRequest(req);
    return executeRange(this.#view, req, this.#rev, this.#compactRev, budget);
  }

  /** The current KeyValue of `key` (one point read), or undefined. */
  get(key: Uint8Array): KeyValue | undefined {
    const rec = this.engine.getSync("kv", key);
    return rec ? toKeyValue(key, rec) : undefined;
  }

  /**
   * The current KeyValues of `keys` in one RocksDB MultiGet (undefined where absent):
   * how a server serves the point reads that arrive together.
   */
  getMany(keys: readonly Uint8Array[]): (KeyValue | undefined)[] {
    const recs = this.engine.getManySync("kv", keys as Uint8Array[]);
    const out: (KeyValue | undefined)[] = new Array(recs.length);
    for (let i = 0; i < recs.length; i++) {
      const r = recs[i];
      out[i] = r ? toKeyValue(keys[i]!, r) : undefined;
    }
    return out;
  }

  /**
   * Several Range requests against one committed state, each answered as {@link range}
   * would (a result or the StorageError). Single-key reads at the current revision are
   * served by one RocksDB MultiGet for all of them.
   */
  rangeMany(reqs: readonly RangeRequest[]): (RangeResult | StorageError)[] {
    const out: (RangeResult | StorageError)[] = new Array(reqs.length);
    const pointIdx: number[] = [];
    const pointKeys: Uint8Array[] = [];
    for (let i = 0; i < reqs.length; i++) {
      const r = reqs[i]!;
      if (isPlainPointRead(r)) {
        pointIdx.push(i);
        pointKeys.push(r.key);
        continue;
      }
      try {
        out[i] = this.range(r);
      } catch (e) {
        if (!(e instanceof StorageError)) throw e;
        out[i] = e;
      }
    }
    if (pointKeys.length > 0) {
      const recs = this.engine.getManySync("kv", pointKeys);
      const revision = BigInt(this.#rev);
      for (let j = 0; j < pointIdx.length; j++) {
        const r = reqs[pointIdx[j]!]!;
        const rec = recs[j];
        const kvs = rec && !r.countOnly ? [toKeyValue(r.key, rec, !r.keysOnly)] : [];
        out[pointIdx[j]!] = { header: { revision }, kvs, more: false, count: rec ? 1n : 0n };
      }
    }
    return out;
  }

  /** The KeyValue of `key` at `revision` (checked like a Range), or undefined. */
  getAt(key: Uint8Array, revision: bigint): KeyValue | undefined {
    const rec = versionAt(this.#view, key, this.#resolve(revision));
    return rec ? toKeyValue(key, rec) : undefined;
  }

  /**
   * Start a batch of write transactions (see {@link MvccWrite}); one at a time can be
   * committed. The store reuses one WriteBatch: write a finished batch before the next
   * beginWrite. While a write is open, beginWrite returns a detached write that can only
   * be aborted (a read-only txn; see #beginDetached).
   */
  beginWrite(): MvccWrite {
    if (this.#open) return this.#beginDetached();
    // One batch, reused: a finished write's batch is written (and cleared) before the next.
    this.#batch ??= this.engine.batch();
    this.#batch.clear();
    const w = new MvccWrite(this.#host, this.#batch, this.#rev, this.#compactRev);
    this.#open = w;
    return w;
  }

  /**
   * A write begun while another is open (the apply of a large entry spans event-loop
   * turns): it reads the committed state like any write, on a batch of its own, and can
   * only be aborted — what a read-only txn does. Finishing it is a bug.
   */
  #beginDetached(): MvccWrite {
    const batch = this.engine.batch();
    const host: WriteHost = {
      ...this.#host,
      finishWrite: () => {
        batch.close();
        throw new StorageBugError("an MVCC write is already open");
      },
      abortWrite: () => batch.close(),
    };
    return new MvccWrite(host, batch, this.#rev, this.#compactRev);
  }

  /**
   * Call `listener` with the events of every write committed through
   * {@link MvccWrite.commit}, right after the batch is applied to RocksDB (before it is
   * fsynced). Returns a disposer.
   */
  onCommit(listener: CommitListener): { dispose(): void } {
    this.#listeners.add(listener);
    return { dispose: () => this.#listeners.delete(listener) };
  }

  /** Keys attached to `lease` (committed state), in key order. */
  keysOfLease(lease: bigint): Buffer[] {
    return keysOfLease(this.#view, lease);
  }

  /**
   * Events from `fromRevision` on, in revision order, for watch catch-up, a page at a
   * time (see changes.ts). `prevKv` is what etcd's watch reports: the key's version at
   * revision - 1, except for creations (version 1) and at the compact revision. Throws
   * ErrCompacted if `fromRevision` is below the compact revision (as etcd's watch). At
   * the compact revision itself only the versions compaction keeps are reported (PUTs
   * that are their key's newest change at that revision), as etcd.
   */
  changes(opts: ChangesOptions): ChangesPage {
    return readChanges(this.engine, opts, this.#rev, this.#compactRev);
  }

  /**
   * etcd HashKV: a CRC-32 over every version retained at `revision` (0: current) — the
   * versions above the compact revision plus, per key, the newest version at or below it
   * when that is a put — in key order, then revision order. Equal histories give equal
   * hashes whatever the progress of physical compaction. ErrCompacted if `revision` is
   * at or below the compact revision, ErrFutureRev above the current revision.
   * Reads a consistent snapshot on the thread pool (O(database)).
   */
  hashKV(revision = 0n): Promise<HashKVResult> {
    try {
      return hashKV(this.engine, revision, this.#rev, this.#compactRev);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Whether a compaction's history removal is unfinished. */
  get compactionPending(): boolean {
    return compactionPending(this.engine, this.#compactRev);
  }

  /**
   * Remove history made unreadable by the last Compact, looking at about `maxEntries`
   * revision-log entries; one RocksDB batch per step (see compactor.ts). Returns true
   * when nothing is left. Must not run while an {@link MvccWrite} is open (call it
   * between apply batches).
   */
  compactStep(maxEntries = 10_000): boolean {
    if (this.#open) throw new StorageBugError("compactStep while an MVCC write is open");
    return compactStep(this.engine, this.#compactRev, maxEntries);
  }

  /**
   * Run {@link compactStep} until done, yielding to the event loop between steps.
   * Stops early (without error) when `signal` aborts or the engine closes.
   */
  async runCompaction(opts: { signal?: AbortSignal; stepEntries?: number } = {}): Promise<void> {
    if (failpointsActive && this.compactionPending) failpoint("compactAfterCommitScheduledCompact");
    for (;;) {
      if (opts.signal?.aborted || this.engine.closed) return;
      if (this.#open) {
        await new Promise<void>((r) => setImmediate(r));
        continue;
      }
      if (this.compactStep(opts.stepEntries)) return;
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  #resolve(revision: bigint): number {
    if (revision > BigInt(this.#rev)) throw new StorageError("ErrFutureRev");
    const rev = revision <= 0n ? this.#rev : Number(revision);
    if (rev < this.#compactRev) throw new StorageError("ErrCompacted");
    return rev;
  }
}

export type { ChangesOptions, ChangesPage, FinishedWrite };
