/**
 * What the concurrency recipes need from a client (kept as an interface so that the
 * recipes do not import the client module).
 *
 * @module
 */
import type { Key, KeySelector, Value } from "../bytes.js";
import type { KeyValue } from "../key-value.js";
import type {
  DeleteOptions,
  DeleteResult,
  PutOptions,
  PutResult,
  RangeOptions,
  RangeResult,
} from "../kv.js";
import type { LeaseApi } from "../lease/lease-api.js";
import type { CallOptions } from "../transport.js";
import type { Txn } from "../txn.js";
import type { Watcher, WatchOptions } from "../watch/watcher.js";

/** The client calls the recipes use. */
export interface ConcurrencyHost {
  /** Lease calls. */
  readonly lease: LeaseApi;
  /** Reads one key. */
  get(key: Key, options?: RangeOptions & CallOptions): Promise<KeyValue | undefined>;
  /** Reads a range. */
  getAll(selector?: KeySelector, options?: RangeOptions & CallOptions): Promise<RangeResult>;
  /** Writes a key. */
  put(key: Key, value: Value, options?: PutOptions & CallOptions): Promise<PutResult>;
  /** Deletes a key or range. */
  delete(selector: KeySelector, options?: DeleteOptions & CallOptions): Promise<DeleteResult>;
  /** Starts a transaction. */
  txn(): Txn;
  /** Watches a key or range. */
  watch(selector: KeySelector, options?: WatchOptions): Promise<Watcher>;
}
