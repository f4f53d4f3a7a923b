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
  readonly lease: LeaseApi;
  get(key: Key, options?: RangeOptions & CallOptions): Promise<KeyValue | undefined>;
  getAll(selector?: KeySelector, options?: RangeOptions & CallOptions): Promise<RangeResult>;
  put(key: Key, value: Value, options?: PutOptions & CallOptions): Promise<PutResult>;
  delete(selector: KeySelector, options?: DeleteOptions & CallOptions): Promise<DeleteResult>;
  txn(): Txn;
  watch(selector: KeySelector, options?: WatchOptions): Promise<Watcher>;
}
