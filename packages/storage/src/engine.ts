/**
 * Engine: a thin wrapper over one RocksDB instance (via `@nxtedition/rocksdb`'s native
 * binding) with a fixed set of column families. Every other storage module (raft log, MVCC,
 * meta, leases, snapshots) builds on it.
 *
 * ```ts
 * const engine = await Engine.open("/var/lib/chainfire/member");
 * const b = engine.batch();
 * b.put("meta", key, value);
 * await engine.write(b, { sync: true }); // resolves once the WAL is fsynced
 * engine.getSync("meta", key);           // synchronous point read
 * await engine.close();
 * ```
 *
 * Threads and visibility. {@link Engine.write} applies the batch to the memtable and the WAL
 * (page cache) synchronously, before it returns its promise: any read issued after the call
 * sees the batch, and a process crash no longer loses it. With `sync: true` the promise
 * resolves only after the WAL is fsynced. In the default `syncMode: "worker"` the fsync runs
 * on a worker thread (a tiny synced write, which RocksDB makes sync every live WAL file and
 * therefore everything written before it), so the event loop never blocks on the disk and
 * concurrent sync requests share one fsync (group commit, DESIGN.md rule 5). `"inline"`
 * fsyncs on the calling thread inside `write`.
 *
 * Options set, and why (see {@link EngineOptions}):
 * - Each column family gets its own bounded HyperClockCache (the binding cannot share one);
 *   the sizes add up to `cacheBytes`. `cacheIndexAndFilterBlocks` puts index and filter
 *   blocks into that cache, so memory does not grow with the key count.
 * - `compaction: "level"` with a `memtableMemoryBudget` per column family: write buffers of
 *   budget/4 (at most 6 of them), so memtable memory is bounded too; L0/L1 uncompressed,
 *   deeper levels ZSTD.
 * - `optimize: "point-lookup"` (hash index in data blocks, ribbon filter, memtable bloom) on
 *   the column families served by point reads (`kv`, `meta`, `lease`, `kvmeta`).
 * - Memory: with glibc, RocksDB's freed memtable and block memory is often kept by malloc;
 *   run the member with `MALLOC_MMAP_THRESHOLD_=131072` (large blocks come from mmap and
 *   go back to the OS when freed) and `MALLOC_ARENA_MAX=2`. The storage benchmark does.
 * - WAL enabled (RocksDB default); WAL compression off by default because the write runs on
 *   the event-loop thread and ZSTD costs CPU there.
 * - `createIfMissing`; missing column families are created; info log off unless asked.
 */
import fs from "node:fs";
import path from "node:path";
import { Cursor, EngineStateError, type Entry, nz, nzAll, WriteBatch } from "./engine-batch.js";
import {
  binding,
  type ColumnHandle,
  type DbContext,
  type IteratorContext,
  type NativeColumnOptions,
  type NativeDbOptions,
  type NativeIteratorOptions,
  type NextvResult,
} from "./engine-binding.js";
import { UnsyncedLoss } from "./engine-loss.js";
import { syncWalInline, WalSyncer } from "./engine-sync.js";
import { failpoint, failpointsActive, unsyncedLoss } from "./failpoints.js";

export { Cursor, EngineStateError, type Entry, WriteBatch };

const EMPTY = Buffer.alloc(0);

/**
 * The column families of a member's database.
 *
 * - `raft`: raft log entries by index (RaftLogStore), nothing else: append-only but for
 *   range deletes at the front, so RocksDB moves its flushed files down instead of
 *   rewriting them.
 * - `raftstate`: the raft log's HardState, boundary, term runs and snapshot record, and
 *   this member's own id (raft-log/codec.ts, meta/codec.ts). Before session 8 these sat in
 *   `raft` after the entries; the stores move them when they open
 *   (raft-log/state-migration.ts).
 * - `meta`: applied index, membership, cluster id, auth (meta store).
 * - `lease`: lease records (LeaseStore).
 * - `kv`: MVCC current table, user key → latest KeyValue record (MvccStore).
 * - `history`: MVCC older versions and tombstones, (encoded key, ~revision) → record.
 * - `revs`: MVCC revision log, revision → changed key (watch catch-up, compaction).
 * - `leasekeys`: MVCC lease → attached keys index.
 * - `kvmeta`: MVCC meta (current revision, compact revision, scheduled compaction).
 */
export const COLUMN_FAMILIES = [
  "raft",
  "raftstate",
  "meta",
  "lease",
  "kv",
  "history",
  "revs",
  "leasekeys",
  "kvmeta",
] as const;

/** The name of one of the {@link COLUMN_FAMILIES}. */
export type ColumnFamilyName = (typeof COLUMN_FAMILIES)[number];

/** Share of `cacheBytes` and whether the family is a "heavy" (large memtable) one. */
const FAMILY_TUNING: Record<
  ColumnFamilyName,
  { cacheShare: number; heavy: boolean; pointLookup: boolean }
> = {
  raft: { cacheShare: 0.1, heavy: true, pointLookup: false },
  raftstate: { cacheShare: 0.02, heavy: false, pointLookup: true },
  meta: { cacheShare: 0.02, heavy: false, pointLookup: true },
  lease: { cacheShare: 0.04, heavy: false, pointLookup: true },
  kv: { cacheShare: 0.5, heavy: true, pointLookup: true },
  history: { cacheShare: 0.2, heavy: true, pointLookup: false },
  revs: { cacheShare: 0.08, heavy: true, pointLookup: false },
  leasekeys: { cacheShare: 0.04, heavy: false, pointLookup: false },
  kvmeta: { cacheShare: 0.02, heavy: false, pointLookup: true },
};

/** See {@link Engine.writeStall}. */
export interface WriteStall {
  stopped: boolean;
  delayedRate: number;
}

/** Options of {@link Engine.open}. */
export interface EngineOptions {
  /** Total block-cache bytes, split over the column families. Default 24 MiB. */
  cacheBytes?: number;
  /**
   * Memtable budget per large column family (raft, kv, history, revs); small families get
   * 1/8 of it. RocksDB keeps up to 1.5x the budget per family before it stalls writes.
   * Default 8 MiB.
   */
  memtableBytes?: number;
  /** ZSTD-compress the WAL. Default false (costs event-loop CPU). */
  walCompression?: boolean;
  /** Where `write(b, { sync: true })` fsyncs: a worker thread (default) or inline. */
  syncMode?: "worker" | "inline";
  /** RocksDB background flush/compaction threads. Default 2. */
  backgroundThreads?: number;
  /** Write RocksDB's LOG file at this level. Default: no info log. */
  infoLogLevel?: "debug" | "info" | "warn" | "error";
}

/** Bounds and shape of an iteration. Bounds compare bytewise. */
export interface IterateOptions {
  gt?: Uint8Array;
  gte?: Uint8Array;
  lt?: Uint8Array;
  lte?: Uint8Array;
  /** Descending key order. */
  reverse?: boolean;
  /** At most this many entries (default: no limit). */
  limit?: number;
  /** Read keys (default true); when false, yielded keys are empty buffers. */
  keys?: boolean;
  /** Read values (default true); when false, yielded values are empty buffers. */
  values?: boolean;
  /** Add blocks read by this iteration to the block cache (default true). */
  fillCache?: boolean;
  /** Entries fetched per native call (default adaptive: 16 growing to 1024). */
  pageSize?: number;
}

/**
 * One open RocksDB database with all {@link COLUMN_FAMILIES}. See the module comment for
 * threading, durability and the options chosen.
 */
export class Engine {
  /** The database directory. */
  readonly dir: string;
  #db: DbContext | null;
  readonly #columns: Record<ColumnFamilyName, { column: ColumnHandle }>;
  readonly #readOpts: Record<ColumnFamilyName, { column: ColumnHandle; fillCache: boolean }>;
  readonly #cursors = new Set<Cursor>();
  readonly #tasks = new Set<Promise<unknown>>();
  readonly #syncMode: "worker" | "inline";
  readonly #nativeOptions: NativeDbOptions;
  /** Native iterators of {@link iterate} not yet closed. */
  readonly #iterators = new Set<IteratorContext>();
  #syncer: WalSyncer | null = null;
  /** Test mode only (CHAINFIRE_TEST_UNSYNCED_LOSS=1): see engine-loss.ts. */
  #loss: UnsyncedLoss | null = null;
  #closing: Promise<void> | null = null;
  #reopening = false;

  private constructor(
    dir: string,
    db: DbContext,
    columns: Record<string, ColumnHandle>,
    syncMode: "worker" | "inline",
    nativeOptions: NativeDbOptions,
  ) {
    this.dir = dir;
    this.#db = db;
    this.#syncMode = syncMode;
    this.#nativeOptions = nativeOptions;
    const cols = {} as Record<ColumnFamilyName, { column: ColumnHandle }>;
    const reads = {} as Record<ColumnFamilyName, { column: ColumnHandle; fillCache: boolean }>;
    for (const cf of COLUMN_FAMILIES) {
      const handle = columns[cf];
      if (!handle) throw new Error(`rocksdb did not open column family ${cf}`);
      cols[cf] = { column: handle };
      reads[cf] = { column: handle, fillCache: true };
    }
    this.#columns = cols;
    this.#readOpts = reads;
  }

  /**
   * Open (creating if missing) the database in `dir` with every column family.
   * Throws (with `cause`) if RocksDB cannot open it, e.g. when another process holds it.
   */
  static async open(dir: string, opts: EngineOptions = {}): Promise<Engine> {
    const cacheBytes = opts.cacheBytes ?? 24 * 1024 * 1024;
    const memtableBytes = opts.memtableBytes ?? 8 * 1024 * 1024;
    const columns: Record<string, NativeColumnOptions> = {
      default: { cacheSize: 1 << 20, compaction: "level", memtableMemoryBudget: 4 << 20 },
    };
    for (const cf of COLUMN_FAMILIES) {
      const t = FAMILY_TUNING[cf];
      columns[cf] = {
        cacheSize: Math.max(1 << 20, Math.floor(cacheBytes * t.cacheShare)),
        cacheIndexAndFilterBlocks: true,
        compaction: "level",
        memtableMemoryBudget: t.heavy ? memtableBytes : Math.max(4 << 20, memtableBytes / 8),
        ...(t.pointLookup ? { optimize: "point-lookup" as const } : {}),
      };
    }
    const options: NativeDbOptions = {
      createIfMissing: true,
      errorIfExists: false,
      parallelism: opts.backgroundThreads ?? 2,
      walCompression: opts.walCompression ?? false,
      cacheSize: 1 << 20,
      compaction: "level",
      memtableMemoryBudget: 4 << 20,
      ...(opts.infoLogLevel ? { infoLogLevel: opts.infoLogLevel } : {}),
      columns,
    };
    await fs.promises.mkdir(dir, { recursive: true });
    const { db, handles } = await openNative(dir, options);
    const engine = new Engine(dir, db, handles, opts.syncMode ?? "worker", options);
    if (engine.#syncMode === "worker") engine.#syncer = new WalSyncer(db);
    if (unsyncedLoss) engine.#loss = new UnsyncedLoss(dir);
    return engine;
  }

  /**
   * Whether nothing uses the native database right now: no read on the thread pool, no
   * open cursor, no open {@link iterate} iterator. {@link reopen} needs this.
   */
  get idle(): boolean {
    return this.#tasks.size === 0 && this.#cursors.size === 0 && this.#iterators.size === 0;
  }

  /**
   * Close and reopen the native database in place (same directory, same options); this
   * Engine object, its column handles as seen by write batches, and everything built on
   * it stay valid. The binding has no CompactRange or Flush: reopening is how RocksDB is
   * made to flush its memtables (dropping entries deleted while still in memory), delete
   * WAL files no longer needed and schedule compactions, which reclaims the space of
   * deleted data (Maintenance.Defragment). Requires {@link idle} and no write meanwhile
   * (the caller pauses its writers); calls made during the reopen throw
   * {@link EngineStateError}. Throws EngineStateError if not idle.
   */
  async reopen(): Promise<void> {
    const db = this.#live();
    if (!this.idle) throw new EngineStateError("engine is busy; cannot reopen");
    this.#reopening = true;
    // close() waits for it (tracked tasks), so it never closes a half-reopened database.
    await this.#track(this.#reopenNative(db));
  }

  async #reopenNative(db: DbContext): Promise<void> {
    try {
      await this.#syncer?.close();
      this.#syncer = null;
      await new Promise<void>((resolve, reject) =>
        binding.db_close(db, (err) =>
          err ? reject(new Error("rocksdb close failed", { cause: err })) : resolve(),
        ),
      );
      this.#db = null;
      const opened = await openNative(this.dir, this.#nativeOptions);
      this.#db = opened.db;
      for (const cf of COLUMN_FAMILIES) {
        const handle = opened.handles[cf];
        if (!handle) throw new Error(`rocksdb did not reopen column family ${cf}`);
        // Mutated in place: write batches hold these objects.
        this.#columns[cf].column = handle;
        this.#readOpts[cf].column = handle;
      }
      if (this.#syncMode === "worker") this.#syncer = new WalSyncer(opened.db);
    } finally {
      this.#reopening = false;
    }
  }

  /**
   * Whether the engine cannot serve now: {@link close} has been called, or a
   * {@link reopen} is under way (readers should try again a little later).
   */
  get closed(): boolean {
    return this.#db === null || this.#closing !== null || this.#reopening;
  }

  /** A new, empty write batch for this engine. */
  batch(): WriteBatch {
    this.#live();
    return new WriteBatch(this.#columns);
  }

  /**
   * Write `batch` atomically. The batch is applied (memtable + WAL in the page cache)
   * before this returns, so later reads see it; with `sync: true` the promise resolves only
   * once the WAL is fsynced. The batch is cleared afterwards and can be reused.
   * A rejected promise means an I/O failure: the caller must treat the member as failed.
   */
  write(batch: WriteBatch, opts: { sync: boolean }): Promise<void> {
    const inline = opts.sync && this.#syncMode === "inline";
    try {
      this.writeSync(batch, inline);
    } catch (err) {
      return Promise.reject(err);
    }
    if (inline && this.#loss) this.#loss.synced(this.#loss.mark());
    if (!opts.sync || this.#syncMode === "inline") return Promise.resolve();
    return this.syncWal();
  }

  /**
   * Write `batch` atomically on the calling thread. `fsync: true` blocks the thread until
   * the WAL is on disk (use {@link write} to fsync off-thread). Clears the batch.
   */
  writeSync(batch: WriteBatch, fsync = false): void {
    const db = this.#live();
    if (!batch.ctx) throw new EngineStateError("write batch is closed");
    try {
      binding.batch_write(db, batch.ctx, { sync: fsync });
    } catch (err) {
      throw new Error("rocksdb write failed", { cause: err });
    }
    binding.batch_clear(batch.ctx);
    batch.resetBytes();
    if (fsync && this.#loss) this.#loss.synced(this.#loss.mark());
    if (failpointsActive) failpoint("crashDropUnsynced");
  }

  /**
   * Resolve once everything written so far is fsynced. Concurrent calls share one fsync;
   * a call made while an fsync is running waits for the next one. `inline: true` fsyncs on
   * the calling thread even in worker mode: a small write's fsync then costs no thread
   * hand-off (on a busy machine the worker's wake-up and answer waited for a CPU; see
   * docs/performance.md), at the price of blocking the event loop for the fsync.
   */
  syncWal({ inline = false }: { inline?: boolean } = {}): Promise<void> {
    const db = this.#live();
    if (this.#loss) {
      const loss = this.#loss;
      const m = loss.mark();
      return this.#syncNow(db, inline).then(() => loss.synced(m));
    }
    return this.#syncNow(db, inline);
  }

  #syncNow(db: DbContext, inline: boolean): Promise<void> {
    if (this.#syncer && !inline) return this.#syncer.sync();
    try {
      syncWalInline(db);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(new Error("rocksdb WAL sync failed", { cause: err }));
    }
  }

  /** Point read on the calling thread (RocksDB MultiGet of one key). */
  getSync(cf: ColumnFamilyName, key: Uint8Array): Buffer | undefined {
    const v = binding.db_get_many_sync(this.#live(), [nz(key)], this.#readOpts[cf])[0];
    return v ?? undefined;
  }

  /** Point reads on the calling thread, one RocksDB MultiGet; results in key order. */
  getManySync(cf: ColumnFamilyName, keys: Uint8Array[]): (Buffer | undefined)[] {
    if (keys.length === 0) return [];
    const vs = binding.db_get_many_sync(this.#live(), nzAll(keys), this.#readOpts[cf]);
    for (let i = 0; i < vs.length; i++) if (vs[i] === null) vs[i] = undefined;
    return vs as (Buffer | undefined)[];
  }

  /** Point read on the libuv thread pool. */
  async get(cf: ColumnFamilyName, key: Uint8Array): Promise<Buffer | undefined> {
    const [v] = await this.getMany(cf, [key]);
    return v;
  }

  /** Point reads on the libuv thread pool, one RocksDB MultiGet. */
  getMany(cf: ColumnFamilyName, keys: Uint8Array[]): Promise<(Buffer | undefined)[]> {
    const db = this.#live();
    const task = new Promise<(Buffer | undefined)[]>((resolve, reject) => {
      binding.db_get_many(db, nzAll(keys), this.#readOpts[cf], (err, vs) => {
        if (err) reject(new Error("rocksdb read failed", { cause: err }));
        else resolve((vs ?? []).map((v) => v ?? undefined));
      });
    });
    return this.#track(task);
  }

  /**
   * A synchronous cursor over `cf` within the bounds of `opts` (see {@link Cursor}).
   * The caller must close it (or exhaust it with for-of).
   */
  cursor(cf: ColumnFamilyName, opts: IterateOptions = {}): Cursor {
    const it = binding.iterator_init(this.#live(), this.#iterOptions(cf, opts));
    const page = opts.pageSize ?? 1024;
    const first = opts.pageSize ?? Math.min(16, opts.limit ?? 16);
    const c = new Cursor(it, page, Math.max(1, first), (x) => this.#cursors.delete(x));
    this.#cursors.add(c);
    return c;
  }

  /**
   * The number of keys of `cf` in the bounds of `opts`, synchronously. Cheaper than
   * iterating (keys come back as short-lived strings, values are not read, pages are
   * large) but still O(keys in range): RocksDB keeps no counts.
   */
  countSync(
    cf: ColumnFamilyName,
    opts: Pick<IterateOptions, "gt" | "gte" | "lt" | "lte"> = {},
  ): number {
    const o = this.#iterOptions(cf, { ...opts, values: false, fillCache: false });
    o.keyEncoding = "utf8";
    const it = binding.iterator_init(this.#live(), o);
    let n = 0;
    try {
      for (;;) {
        const res = binding.iterator_nextv_sync(it, 8192);
        n += res.rows.length / 2;
        if (res.finished) return n;
      }
    } finally {
      binding.iterator_close(it);
    }
  }

  /**
   * Entries of `cf` in key order, synchronously (each page is one native call on this
   * thread; entries are copied). Breaking out of the loop closes the iterator.
   */
  iterateSync(cf: ColumnFamilyName, opts: IterateOptions = {}): Iterable<Entry> {
    return { [Symbol.iterator]: () => this.cursor(cf, opts)[Symbol.iterator]() };
  }

  /**
   * Entries of `cf` in key order; pages are read on the libuv thread pool, so a long scan
   * does not block the event loop. The snapshot is taken by this call (not by the first
   * `next()`). Breaking out of the loop closes the iterator; an iterator never started is
   * released by {@link close} or by garbage collection.
   */
  iterate(cf: ColumnFamilyName, opts: IterateOptions = {}): AsyncGenerator<Entry> {
    // The native iterator (and so its snapshot) is created now, not at the first next():
    // iterators created in one synchronous step see one consistent state.
    const it = binding.iterator_init(this.#live(), this.#iterOptions(cf, opts));
    this.#iterators.add(it);
    return this.#pages(it, opts.pageSize);
  }

  async *#pages(it: IteratorContext, pageSize: number | undefined): AsyncGenerator<Entry> {
    const max = pageSize ?? 1024;
    let page = pageSize ?? 16;
    try {
      for (;;) {
        if (this.#closing) throw new EngineStateError("engine is closed");
        const res = await this.#nextv(it, page);
        page = Math.min(page * 2, max);
        for (let i = 0; i < res.rows.length; i += 2) {
          yield [res.rows[i] ?? EMPTY, res.rows[i + 1] ?? EMPTY];
        }
        if (res.finished) return;
      }
    } finally {
      this.#iterators.delete(it);
      binding.iterator_close(it);
    }
  }

  /**
   * Delete every key of `cf` in [gte, lt) with one RocksDB DeleteRange. This is its own
   * write, outside any batch, not fsynced (a later synced write makes it durable).
   */
  deleteRangeSync(cf: ColumnFamilyName, range: { gte: Uint8Array; lt: Uint8Array }): void {
    binding.db_clear(this.#live(), {
      column: this.#columns[cf].column,
      gte: nz(range.gte),
      lt: nz(range.lt),
    });
  }

  /**
   * Write a consistent copy of every column family into a new database at `dir` (which
   * must not exist or be empty). The binding has no RocksDB Checkpoint, so this is a
   * logical copy: iterators over all families are created in one synchronous step (one
   * consistent cut: writes happen only on this thread), then copied page by page on the
   * thread pool. Cost: O(database size) reads and writes; the live database keeps serving.
   */
  async checkpoint(dir: string): Promise<void> {
    const db = this.#live();
    if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) {
      throw new Error(`checkpoint directory ${dir} is not empty`);
    }
    const its = COLUMN_FAMILIES.map(
      (cf) => [cf, binding.iterator_init(db, this.#iterOptions(cf, { fillCache: false }))] as const,
    );
    let done!: () => void;
    const task = this.#track(new Promise<void>((r) => (done = r)));
    void task;
    let target: Engine | undefined;
    try {
      target = await Engine.open(dir, { syncMode: "inline" });
      const batch = target.batch();
      for (const [cf, it] of its) {
        for (;;) {
          if (this.#closing) throw new EngineStateError("engine closed during checkpoint");
          const res = await this.#nextv(it, 4096);
          for (let i = 0; i < res.rows.length; i += 2) {
            batch.put(cf, res.rows[i] ?? EMPTY, res.rows[i + 1] ?? EMPTY);
          }
          if (batch.byteLength > 4 << 20) target.writeSync(batch);
          if (res.finished) break;
        }
      }
      target.writeSync(batch, true);
      batch.close();
    } finally {
      for (const [, it] of its) binding.iterator_close(it);
      await target?.close();
      done();
    }
  }

  /** On-disk size of the database directory in bytes (SST, WAL, manifest files). */
  approximateSize(): number {
    let total = 0;
    for (const name of fs.readdirSync(this.dir)) {
      try {
        const st = fs.statSync(path.join(this.dir, name));
        if (st.isFile()) total += st.size;
      } catch {
        // a file compacted away between readdir and stat
      }
    }
    return total;
  }

  /**
   * Number of RocksDB WAL files (`*.log`) in the directory. Right after {@link reopen}
   * the old ones are still there until RocksDB's background purge deletes them.
   */
  walFileCount(): number {
    return fs.readdirSync(this.dir).filter((f) => f.endsWith(".log")).length;
  }

  /**
   * RocksDB's write stall, database-wide: `stopped` when a write would block until a
   * flush or compaction frees it; otherwise `delayedRate` > 0 (bytes per second) when
   * writes are slowed down. A write then sleeps, on the calling thread, about the size of
   * the PREVIOUS write group divided by that rate, less the credit earned at that rate
   * since (db_impl_write.cc). Both 0/false when writes run freely. Two property reads.
   */
  writeStall(): WriteStall {
    return {
      stopped: this.property("rocksdb.is-write-stopped") === "1",
      delayedRate: Number(this.property("rocksdb.actual-delayed-write-rate")) || 0,
    };
  }

  /**
   * Flushes and compactions RocksDB is running right now (database-wide properties
   * `rocksdb.num-running-flushes` / `-compactions`). Zero for both, with no write stall,
   * means RocksDB has caught up with what was written (bench:large waits for that).
   */
  backgroundJobs(): { flushes: number; compactions: number } {
    return {
      flushes: Number(this.property("rocksdb.num-running-flushes")) || 0,
      compactions: Number(this.property("rocksdb.num-running-compactions")) || 0,
    };
  }

  /** A RocksDB property of the default column family, e.g. "rocksdb.stats". */
  property(name: string): string {
    return binding.db_get_property(this.#live(), name);
  }

  /**
   * Close the database: waits for running iterations and fsyncs, stops the sync worker,
   * closes open cursors, flushes the WAL and closes RocksDB. Idempotent.
   */
  close(): Promise<void> {
    if (!this.#closing) this.#closing = this.#doClose();
    return this.#closing;
  }

  async #doClose(): Promise<void> {
    await Promise.allSettled([...this.#tasks]);
    await this.#syncer?.close();
    this.#syncer = null;
    this.#loss?.close();
    this.#loss = null;
    for (const c of [...this.#cursors]) c.close();
    const db = this.#db;
    if (!db) return;
    await new Promise<void>((resolve, reject) =>
      binding.db_close(db, (err) =>
        err ? reject(new Error("rocksdb close failed", { cause: err })) : resolve(),
      ),
    );
    this.#db = null;
  }

  #iterOptions(cf: ColumnFamilyName, opts: IterateOptions): NativeIteratorOptions {
    const o: NativeIteratorOptions = {
      column: this.#columns[cf].column,
      keyEncoding: "buffer",
      valueEncoding: "buffer",
    };
    if (opts.gt) o.gt = nz(opts.gt);
    if (opts.gte) o.gte = nz(opts.gte);
    if (opts.lt) o.lt = nz(opts.lt);
    if (opts.lte) o.lte = nz(opts.lte);
    if (opts.reverse) o.reverse = true;
    if (opts.limit !== undefined && opts.limit >= 0) o.limit = Math.min(opts.limit, 0x7fffffff);
    if (opts.keys === false) o.keys = false;
    if (opts.values === false) o.values = false;
    o.fillCache = opts.fillCache ?? true;
    return o;
  }

  #nextv(it: IteratorContext, count: number): Promise<NextvResult> {
    return this.#track(
      new Promise<NextvResult>((resolve, reject) =>
        binding.iterator_nextv(it, count, (err, r) =>
          err
            ? reject(new Error("rocksdb iteration failed", { cause: err }))
            : resolve(r ?? { rows: [], finished: true }),
        ),
      ),
    );
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#tasks.add(p);
    const drop = () => this.#tasks.delete(p);
    p.then(drop, drop);
    return p;
  }

  #live(): DbContext {
    if (this.#reopening) throw new EngineStateError("engine is reopening");
    if (!this.#db || this.#closing) throw new EngineStateError("engine is closed");
    return this.#db;
  }
}

/** Opens the native database in `dir`; rejects with a `cause` when RocksDB cannot. */
async function openNative(
  dir: string,
  options: NativeDbOptions,
): Promise<{ db: DbContext; handles: Record<string, ColumnHandle> }> {
  const db = binding.db_init(dir);
  const handles = await new Promise<Record<string, ColumnHandle>>((resolve, reject) => {
    try {
      const sync = binding.db_open(db, options, (err, cols) => {
        if (err) reject(new Error(`cannot open rocksdb at ${dir}: ${err.message}`, { cause: err }));
        else resolve(cols ?? {});
      });
      if (sync) resolve(sync);
    } catch (err) {
      reject(new Error(`cannot open rocksdb at ${dir}`, { cause: err }));
    }
  });
  return { db, handles };
}
