/**
 * The raw native surface of `@nxtedition/rocksdb` (binding.cc), typed. Only engine*.ts
 * imports this module; everything else goes through {@link Engine}.
 *
 * The package's JavaScript layer (abstract-level) adds encodings, deferred-open queues and
 * promise plumbing we do not need, so the engine calls the N-API functions directly. What
 * the binding offers (v12.2.x), read from binding.cc:
 *
 * - `db_open` with per-column-family options (`columns: { name: options }`); creates
 *   missing column families.
 * - `db_get_many_sync` / `db_get_many`: RocksDB MultiGet, synchronous on the calling thread
 *   or on the libuv pool.
 * - `iterator_*`: bounded iterators (`gt/gte/lt/lte`, `reverse`, `limit`, `keys/values`)
 *   with `seek` and page reads `iterator_nextv_sync` (calling thread) / `iterator_nextv`
 *   (libuv pool). An iterator reads an implicit snapshot taken when it is created.
 * - `batch_*`: a RocksDB WriteBatch (put, del, merge; no DeleteRange), written with
 *   `batch_write`, which is SYNCHRONOUS on the calling thread (`{ sync }` = fsync the WAL).
 * - `db_clear`: without a limit, one RocksDB DeleteRange (a range tombstone) outside any
 *   batch.
 * - `db_get_handle` / `db_init(bigint)`: the same open database from another thread.
 *
 * Not offered: checkpoints, CompactRange, Flush, FlushWAL, explicit snapshots, per-column
 * properties, DeleteRange inside a batch.
 */
import { createRequire } from "node:module";

/** Opaque native handles. */
export type DbContext = { readonly __db: unique symbol };
export type ColumnHandle = { readonly __column: unique symbol };
export type IteratorContext = { readonly __iterator: unique symbol };
export type BatchContext = { readonly __batch: unique symbol };

/** Options object read by binding.cc `InitOptions` (db-wide and per column family). */
export interface NativeColumnOptions {
  /** Bytes of the column family's own HyperClockCache; 0 disables the block cache. */
  cacheSize?: number;
  /** Put index and filter blocks in the block cache so they are bounded by it. */
  cacheIndexAndFilterBlocks?: boolean;
  /** "level" sets write_buffer_size = budget/4, max_write_buffer_number = 6, ... */
  compaction?: "level" | "universal";
  memtableMemoryBudget?: number;
  /** ZSTD for SST blocks (default true). */
  compression?: boolean;
  /** "point-lookup": data-block hash index, ribbon filter, memtable whole-key bloom. */
  optimize?: "point-lookup" | "range-lookup";
  blockSize?: number;
}

export interface NativeDbOptions extends NativeColumnOptions {
  createIfMissing?: boolean;
  errorIfExists?: boolean;
  parallelism?: number;
  walCompression?: boolean;
  infoLogLevel?: "debug" | "info" | "warn" | "error" | "fatal" | "header";
  columns?: Record<string, NativeColumnOptions>;
}

export interface NativeIteratorOptions {
  column?: ColumnHandle;
  reverse?: boolean;
  keys?: boolean;
  values?: boolean;
  limit?: number;
  gt?: Uint8Array;
  gte?: Uint8Array;
  lt?: Uint8Array;
  lte?: Uint8Array;
  fillCache?: boolean;
  highWaterMarkBytes?: number;
  /**
   * "buffer", or "utf8" for strings (lossy for binary keys; fine for counting). The
   * binding's default encoding is invalid for iterators.
   */
  keyEncoding?: "buffer" | "utf8";
  valueEncoding?: "buffer";
}

export interface NativeReadOptions {
  column?: ColumnHandle;
  fillCache?: boolean;
}

export interface NextvResult {
  /** key0, value0, key1, value1, ... (undefined for a side not requested). */
  rows: (Buffer | undefined)[];
  finished: boolean;
}

export interface RocksBinding {
  db_init(location: string | bigint): DbContext;
  db_open(
    db: DbContext,
    options: NativeDbOptions,
    callback: (err: Error | null, columns?: Record<string, ColumnHandle>) => void,
  ): Record<string, ColumnHandle> | undefined;
  db_close(db: DbContext, callback: (err: Error | null) => void): void;
  db_get_handle(db: DbContext): bigint;
  db_get_many_sync(
    db: DbContext,
    keys: Uint8Array[],
    options: NativeReadOptions,
  ): (Buffer | undefined | null)[];
  db_get_many(
    db: DbContext,
    keys: Uint8Array[],
    options: NativeReadOptions,
    callback: (err: Error | null, values?: (Buffer | undefined | null)[]) => void,
  ): void;
  db_clear(
    db: DbContext,
    options: { column?: ColumnHandle; gte?: Uint8Array; lt?: Uint8Array },
  ): void;
  db_get_property(db: DbContext, name: string): string;
  db_get_latest_sequence(db: DbContext): number;
  iterator_init(db: DbContext, options: NativeIteratorOptions): IteratorContext;
  iterator_seek(it: IteratorContext, target: Uint8Array): void;
  iterator_close(it: IteratorContext): void;
  iterator_nextv_sync(it: IteratorContext, count: number): NextvResult;
  iterator_nextv(
    it: IteratorContext,
    count: number,
    callback: (err: Error | null, result?: NextvResult) => void,
  ): void;
  batch_init(): BatchContext;
  batch_put(
    batch: BatchContext,
    key: Uint8Array,
    value: Uint8Array,
    options: { column?: ColumnHandle },
  ): void;
  batch_del(batch: BatchContext, key: Uint8Array, options: { column?: ColumnHandle }): void;
  batch_clear(batch: BatchContext): void;
  batch_write(db: DbContext, batch: BatchContext, options: { sync?: boolean }): void;
  batch_count(batch: BatchContext): number;
}

const require = createRequire(import.meta.url);

/** Absolute path of the binding loader, for worker threads that load it themselves. */
export const bindingPath: string = require.resolve("@nxtedition/rocksdb/binding.js");

/** The loaded native module. */
export const binding: RocksBinding = require(bindingPath) as RocksBinding;
