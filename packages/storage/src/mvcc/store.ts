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
 *   prev from the next history entry), DELETE foo@4, PUT foo@5 (record from kv).
 * - compact 4: for each key changed at or below rev 4 (from `revs`), drop its history
 *   entries at or below 4 except the newest when that is a put (here the tombstone @4 is
 *   newest, so all three go); drop `revs` entries below 4.
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
import { crc32 } from "node:zlib";
import type { Engine, WriteBatch } from "../engine.js";
import { StorageBugError, StorageError } from "../errors.js";
import {
  compareBytes,
  decodeKey,
  decodeRevisionDesc,
  encodedKeyEnd,
  encodedKeyUpperBound,
  encodeKey,
  encodeKeyRevisionDesc,
  encodeRevision,
  intervalContains,
  keyInterval,
  MAX_SUB,
  REVISION_BYTES,
} from "../keys.js";
import { StoredEvent } from "./event.js";
import {
  decodeInt,
  encodeInt,
  META_COMPACT,
  META_COMPACT_CURSOR,
  META_COMPACT_DONE,
  META_REV,
  REV_PUT,
} from "./layout.js";
import { executeRange } from "./range.js";
import { versionAt } from "./read.js";
import { isPut, recordMod, recordSub, recordVersion, toKeyValue } from "./record.js";
import { decodeChunk } from "./revlog.js";
import type { HashKVResult, KeyValue, RangeRequest, RangeResult } from "./types.js";
import { checkRangeRequest } from "./validate.js";
import { CommittedView, type KvView } from "./view.js";
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

/** A page of {@link MvccStore.changes}. */
export interface ChangesPage {
  /** Events in revision order (whole revisions only). */
  events: StoredEvent[];
  /** Where the next page starts; > current revision when caught up. */
  nextRevision: bigint;
  /** True when the page reached the current revision. */
  done: boolean;
}

/** Options of {@link MvccStore.changes}. */
export interface ChangesOptions {
  /** First revision to return (must be >= the compact revision). */
  fromRevision: bigint;
  /** Only keys in (key, rangeEnd) with etcd's range_end rules; default all keys. */
  key?: Uint8Array;
  rangeEnd?: Uint8Array;
  /** Stop after about this many revision-log entries (at a revision boundary). */
  limit?: number;
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

  /** etcd Range against the committed state. Throws StorageError on bad input. */
  range(req: RangeRequest): RangeResult {
    checkRangeRequest(req);
    return executeRange(this.#view, req, this.#rev, this.#compactRev);
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
   * Start a batch of write transactions (see {@link MvccWrite}); one at a time. The
   * store reuses one WriteBatch: write a finished batch before the next beginWrite.
   */
  beginWrite(): MvccWrite {
    if (this.#open) throw new StorageBugError("an MVCC write is already open");
    // One batch, reused: a finished write's batch is written (and cleared) before the next.
    this.#batch ??= this.engine.batch();
    this.#batch.clear();
    const w = new MvccWrite(this.#host, this.#batch, this.#rev, this.#compactRev);
    this.#open = w;
    return w;
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
   * time. `prevKv` is what etcd's watch reports: the key's version at revision - 1,
   * except for creations (version 1) and at the compact revision. Throws ErrCompacted if
   * `fromRevision` is below the compact revision (as etcd's watch). At the compact
   * revision itself only the versions compaction keeps are reported (PUTs that are their
   * key's newest change at that revision), as etcd.
   */
  changes(opts: ChangesOptions): ChangesPage {
    const from = opts.fromRevision < 1n ? 1 : Number(opts.fromRevision);
    if (from < this.#compactRev) throw new StorageError("ErrCompacted");
    const limit = opts.limit ?? 1000;
    const iv = opts.key ? keyInterval(opts.key, opts.rangeEnd) : undefined;
    const events: StoredEvent[] = [];
    if (from > this.#rev) return { events, nextRevision: BigInt(from), done: true };
    const view = this.#view;
    // The chunk holding `from` starts at or before it.
    const back = this.engine.cursor("revs", { reverse: true, lte: encodeRevision(from, 0) });
    const first = back.next();
    back.close();
    const c = this.engine.cursor("revs", first ? { gte: first[0] } : {});
    const hist = view.cursor("history", undefined, undefined);
    let scanned = 0;
    let lastMain = from - 1;
    try {
      for (let e = c.next(); e !== undefined; e = c.next()) {
        for (const { main, sub, kind, key } of decodeChunk(e[1])) {
          if (main < from) continue;
          if (main !== lastMain && scanned >= limit) {
            return { events, nextRevision: BigInt(main), done: false };
          }
          lastMain = main;
          scanned++;
          if (iv && !intervalContains(iv, key)) continue;
          const ev = this.#eventAt(view, hist, kind, key, main, sub);
          if (ev) events.push(ev);
        }
      }
    } finally {
      c.close();
      hist.close();
    }
    return { events, nextRevision: BigInt(this.#rev + 1), done: true };
  }

  #eventAt(
    view: KvView,
    hist: ReturnType<KvView["cursor"]>,
    kind: number,
    key: Buffer,
    main: number,
    sub: number,
  ): StoredEvent | undefined {
    // The version this change created (PUT) and the one before it.
    const enc = encodeKey(key);
    const upper = encodedKeyUpperBound(enc);
    let rec: Buffer | undefined;
    if (kind === REV_PUT) {
      const cur = view.get("kv", key);
      if (cur && recordMod(cur) === main && recordSub(cur) === sub) rec = cur;
      else rec = view.get("history", encodeKeyRevisionDesc(key, main, sub));
      if (rec === undefined || !isPut(rec)) {
        if (main <= this.#compactRev) return undefined; // compacted away
        throw new StorageBugError(`revision log names a missing version ${main}.${sub}`);
      }
    }
    if (main === this.#compactRev) {
      // Only versions kept by compaction: a PUT that is its key's newest change at main.
      if (kind !== REV_PUT) return undefined;
      const latest = versionAt(view, key, main);
      if (!latest || recordMod(latest) !== main || recordSub(latest) !== sub) return undefined;
    }
    // etcd's watch reads prev_kv at (revision - 1), not for creations (version 1), and
    // gets nothing when that is below the compact revision.
    let prev: Buffer | undefined;
    if (main > this.#compactRev && !(rec && recordVersion(rec) === 1)) {
      hist.seek(encodeKeyRevisionDesc(key, main - 1, MAX_SUB));
      const p = hist.next();
      if (p && compareBytes(p[0], upper) < 0 && compareBytes(p[0], enc) >= 0 && isPut(p[1])) {
        prev = p[1];
      }
    }
    return new StoredEvent(kind === REV_PUT ? "PUT" : "DELETE", key, main, sub, rec, prev);
  }

  /**
   * etcd HashKV: a CRC-32 over every version retained at `revision` (0: current) — the
   * versions above the compact revision plus, per key, the newest version at or below it
   * when that is a put — in key order, then revision order. Equal histories give equal
   * hashes whatever the progress of physical compaction. ErrCompacted if `revision` is
   * at or below the compact revision, ErrFutureRev above the current revision.
   * Reads a consistent snapshot on the thread pool (O(database)).
   */
  async hashKV(revision = 0n): Promise<HashKVResult> {
    const compactRev = this.#compactRev;
    const currentRev = this.#rev;
    if (revision > 0n && revision <= BigInt(compactRev)) throw new StorageError("ErrCompacted");
    if (revision > BigInt(currentRev)) throw new StorageError("ErrFutureRev");
    const rev = revision <= 0n ? currentRev : Number(revision);
    // Both iterators are created now: one consistent snapshot.
    const kvIt = this.engine.iterate("kv", { fillCache: false, pageSize: 1024 });
    const hIt = this.engine.iterate("history", { fillCache: false, pageSize: 1024 });
    let hash = 0;
    const revBuf = Buffer.allocUnsafe(REVISION_BYTES);
    const add = (key: Uint8Array, main: number, sub: number, rec: Buffer) => {
      revBuf.writeBigUInt64BE(BigInt(main), 0);
      revBuf.writeBigUInt64BE(BigInt(sub), 8);
      hash = crc32(key, hash);
      hash = crc32(revBuf, hash);
      hash = crc32(rec, hash);
    };
    // Per key: versions newest first (kv first, then history), decide retention.
    const hashKey = (key: Uint8Array, versions: [number, number, Buffer][]) => {
      let keptAtCompact = false;
      const kept: [number, number, Buffer][] = [];
      for (const v of versions) {
        const [main, , rec] = v;
        if (main > compactRev) {
          if (main <= rev) kept.push(v);
        } else if (!keptAtCompact) {
          keptAtCompact = true; // the newest version <= compactRev
          if (isPut(rec) && main <= rev) kept.push(v);
        }
      }
      for (let i = kept.length - 1; i >= 0; i--) add(key, kept[i]![0], kept[i]![1], kept[i]![2]);
    };
    const kvNext = () => kvIt.next();
    const hNext = () => hIt.next();
    let kvE = await kvNext();
    let hE = await hNext();
    try {
      while (!kvE.done || !hE.done) {
        const hKey = hE.done ? undefined : decodeKey(hE.value[0]).key;
        const c = kvE.done ? 1 : hKey === undefined ? -1 : compareBytes(kvE.value[0], hKey);
        const key = c <= 0 ? (kvE.value as [Buffer, Buffer])[0] : hKey!;
        const versions: [number, number, Buffer][] = [];
        if (c <= 0) {
          const rec = (kvE.value as [Buffer, Buffer])[1];
          versions.push([recordMod(rec), recordSub(rec), rec]);
          kvE = await kvNext();
        }
        if (c >= 0) {
          const enc = encodeKey(key);
          while (!hE.done && compareBytes(hE.value[0].subarray(0, enc.length), enc) === 0) {
            const end = encodedKeyEnd(hE.value[0]);
            if (end !== enc.length) break;
            const { main, sub } = decodeRevisionDesc(hE.value[0], end);
            versions.push([main, sub, hE.value[1]]);
            hE = await hNext();
          }
        }
        hashKey(key, versions);
      }
    } finally {
      await kvIt.return(undefined);
      await hIt.return(undefined);
    }
    return {
      hash: hash >>> 0,
      compactRevision: BigInt(compactRev),
      hashRevision: BigInt(rev),
      header: { revision: BigInt(currentRev) },
    };
  }

  /** Whether a compaction's history removal is unfinished. */
  get compactionPending(): boolean {
    return (
      this.#compactRev > 0 &&
      decodeInt(this.engine.getSync("kvmeta", META_COMPACT_DONE), -1) !== this.#compactRev
    );
  }

  /**
   * Remove history made unreadable by the last Compact, looking at up to `maxEntries`
   * revision-log entries; one RocksDB batch per step. Returns true when nothing is left.
   * Must not run while an {@link MvccWrite} is open (call it between apply batches).
   */
  compactStep(maxEntries = 10_000): boolean {
    if (this.#open) throw new StorageBugError("compactStep while an MVCC write is open");
    const c = this.#compactRev;
    if (c <= 0) return true;
    const engine = this.engine;
    if (decodeInt(engine.getSync("kvmeta", META_COMPACT_DONE), -1) === c) return true;
    const cursorKey = engine.getSync("kvmeta", META_COMPACT_CURSOR);
    // Chunks starting at or below c; a chunk is deleted when all its changes are below c.
    const revs = engine.cursor("revs", {
      ...(cursorKey ? { gte: cursorKey } : {}),
      lt: encodeRevision(c + 1, 0),
      pageSize: 64,
    });
    const batch = engine.batch();
    const seen = new Set<string>();
    let n = 0;
    let next: Buffer | undefined;
    let firstKept: Buffer | undefined;
    try {
      for (let e = revs.next(); e !== undefined; e = revs.next()) {
        if (n >= maxEntries && firstKept === undefined) {
          next = e[0];
          break;
        }
        const entries = decodeChunk(e[1]);
        n += entries.length;
        if (entries[entries.length - 1]!.main < c) batch.del("revs", e[0]);
        else firstKept ??= e[0];
        for (const { main, key } of entries) {
          if (main > c) break;
          const s = key.toString("latin1");
          if (seen.has(s)) continue;
          seen.add(s);
          this.#compactKey(batch, key, c);
        }
      }
    } finally {
      revs.close();
    }
    if (next) batch.put("kvmeta", META_COMPACT_CURSOR, next);
    else {
      batch.put("kvmeta", META_COMPACT_CURSOR, firstKept ?? encodeRevision(c + 1, 0));
      batch.put("kvmeta", META_COMPACT_DONE, encodeInt(c));
    }
    engine.writeSync(batch);
    batch.close();
    return next === undefined;
  }

  /** Drop `key`'s history at or below `c` except its newest version there if a put. */
  #compactKey(batch: ReturnType<Engine["batch"]>, key: Uint8Array, c: number): void {
    const cur = this.engine.getSync("kv", key);
    let keepOne = !(cur && recordMod(cur) <= c);
    const enc = encodeKey(key);
    const h = this.engine.cursor("history", {
      gte: encodeKeyRevisionDesc(key, c, MAX_SUB),
      lt: encodedKeyUpperBound(enc),
      values: true,
    });
    try {
      for (let e = h.next(); e !== undefined; e = h.next()) {
        if (keepOne) {
          keepOne = false;
          if (isPut(e[1])) continue;
        }
        batch.del("history", e[0]);
      }
    } finally {
      h.close();
    }
  }

  /**
   * Run {@link compactStep} until done, yielding to the event loop between steps.
   * Stops early (without error) when `signal` aborts or the engine closes.
   */
  async runCompaction(opts: { signal?: AbortSignal; stepEntries?: number } = {}): Promise<void> {
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

export type { FinishedWrite };
