/**
 * Namespaces: a view of the keys under a prefix, in which every key is relative to the
 * prefix and nothing outside it is visible — reads, writes, transactions (compares and
 * nested operations included), watches, and the concurrency recipes built on them.
 * Requests are rewritten on the way out and keys stripped on the way back, as Go's
 * clientv3 `namespace` package does.
 *
 * @module
 */
import { type etcdserverpb, mvccpb } from "@chainfire/api";
import {
  ALL_KEYS_FROM,
  type Key,
  type KeySelector,
  prefixEnd,
  toBuffer,
  type Value,
} from "./bytes.js";
import { Election, type ElectionOptions } from "./concurrency/election.js";
import type { ConcurrencyHost } from "./concurrency/host.js";
import { type LockHandle, type LockOptions, Mutex } from "./concurrency/mutex.js";
import { Session, type SessionOptions } from "./concurrency/session.js";
import { runSTM, type STM, type STMOptions } from "./concurrency/stm.js";
import type { KeyValue } from "./key-value.js";
import {
  type DeleteOptions,
  type DeleteResult,
  deleteRequest,
  type PutOptions,
  type PutResult,
  putRequest,
  type RangeOptions,
  type RangeResult,
  rangeRequest,
  toDeleteResult,
  toPutResult,
  toRangeResult,
} from "./kv.js";
import type { LeaseApi } from "./lease/lease-api.js";
import type { CallOptions } from "./transport.js";
import { Txn, toTxnResult } from "./txn.js";
import type { Watcher, WatchOptions } from "./watch/watcher.js";

/** The raw calls a namespace sends its rewritten requests through (the client). */
export interface NamespaceBackend {
  /** Lease calls (leases are not namespaced). */
  lease: LeaseApi;
  /** Sends a RangeRequest. */
  range(
    request: etcdserverpb.RangeRequest,
    options?: CallOptions,
  ): Promise<etcdserverpb.RangeResponse>;
  /** Sends a PutRequest. */
  put(request: etcdserverpb.PutRequest, options?: CallOptions): Promise<etcdserverpb.PutResponse>;
  /** Sends a DeleteRangeRequest. */
  deleteRange(
    request: etcdserverpb.DeleteRangeRequest,
    options?: CallOptions,
  ): Promise<etcdserverpb.DeleteRangeResponse>;
  /** Sends a TxnRequest. */
  txn(request: etcdserverpb.TxnRequest, options?: CallOptions): Promise<etcdserverpb.TxnResponse>;
  /** Creates a watcher whose key-values are rewritten by `mapKv`. */
  watch(
    selector: KeySelector,
    options: WatchOptions | undefined,
    mapKv: (kv: mvccpb.KeyValue) => mvccpb.KeyValue,
  ): Promise<Watcher>;
}

/** The keys under one prefix, seen as a keyspace of their own. */
export class Namespace implements ConcurrencyHost {
  /** The prefix. */
  readonly prefix: Buffer;
  /** Lease calls (leases are cluster-wide, not namespaced). */
  readonly lease: LeaseApi;

  constructor(
    prefix: Key,
    private readonly backend: NamespaceBackend,
  ) {
    this.prefix = Buffer.from(toBuffer(prefix));
    if (this.prefix.length === 0)
      throw new TypeError("chainfire: a namespace needs a non-empty prefix");
    this.lease = backend.lease;
  }

  /** A namespace nested in this one. */
  namespace(prefix: Key): Namespace {
    return new Namespace(Buffer.concat([this.prefix, toBuffer(prefix)]), this.backend);
  }

  // --- KV -----------------------------------------------------------------------------

  /** Reads one key. */
  async get(key: Key, options: RangeOptions & CallOptions = {}): Promise<KeyValue | undefined> {
    return (await this.getAll(key, { ...options, limit: 1 })).kvs[0];
  }

  /** Reads one key's value as a string. */
  async getString(key: Key, options?: RangeOptions & CallOptions): Promise<string | undefined> {
    return (await this.get(key, options))?.string();
  }

  /** Reads one key's value as JSON. */
  async getJson<T = unknown>(
    key: Key,
    options?: RangeOptions & CallOptions,
  ): Promise<T | undefined> {
    return (await this.get(key, options))?.json<T>();
  }

  /** Reads a range of keys of the namespace (default: all of them). */
  async getAll(
    selector: KeySelector = { all: true },
    options: RangeOptions & CallOptions = {},
  ): Promise<RangeResult> {
    const request = this.rewriteRange(rangeRequest(selector, options));
    return toRangeResult(this.unwrapRange(await this.backend.range(request, options)));
  }

  /** The number of keys in a range of the namespace. */
  async count(
    selector: KeySelector = { all: true },
    options: RangeOptions & CallOptions = {},
  ): Promise<bigint> {
    return (await this.getAll(selector, { ...options, countOnly: true })).count;
  }

  /** Writes a key. */
  async put(key: Key, value: Value, options: PutOptions & CallOptions = {}): Promise<PutResult> {
    const request = this.rewritePut(putRequest(key, value, options));
    return toPutResult(this.unwrapPut(await this.backend.put(request, options)));
  }

  /** Writes a key with a JSON value. */
  putJson(key: Key, value: unknown, options?: PutOptions & CallOptions): Promise<PutResult> {
    return this.put(key, JSON.stringify(value), options);
  }

  /** Deletes a key or a range of keys of the namespace. */
  async delete(
    selector: KeySelector,
    options: DeleteOptions & CallOptions = {},
  ): Promise<DeleteResult> {
    const request = this.rewriteDelete(deleteRequest(selector, options));
    return toDeleteResult(this.unwrapDelete(await this.backend.deleteRange(request, options)));
  }

  /** Starts a transaction on keys of the namespace. */
  txn(): Txn {
    return new Txn(async (request, options) =>
      toTxnResult(this.unwrapTxn(await this.backend.txn(this.rewriteTxn(request), options))),
    );
  }

  /** Watches a key or range of the namespace; events carry relative keys. */
  watch(selector: KeySelector, options?: WatchOptions): Promise<Watcher> {
    const { key, rangeEnd } = this.rewriteRange(rangeRequest(selector));
    return this.backend.watch({ start: key, end: rangeEnd }, options, (kv) => this.unwrapKv(kv));
  }

  // --- concurrency ----------------------------------------------------------------------

  /** A session (a kept-alive lease) for locks and elections. */
  session(options: SessionOptions = {}): Promise<Session> {
    return Session.create(this, options);
  }

  /** A mutex on keys of the namespace. */
  mutex(name: Key, options: { session?: Session } = {}): Mutex {
    return new Mutex(this, name, options.session);
  }

  /** Acquires a lock on keys of the namespace (see `Client.lock`). */
  lock(name: Key, options: LockOptions = {}): Promise<LockHandle> {
    return Mutex.acquire(this, name, options);
  }

  /** Runs `fn` holding the lock `name`. */
  async withLock<T>(
    name: Key,
    fn: (lock: LockHandle) => Promise<T>,
    options: LockOptions = {},
  ): Promise<T> {
    const handle = await this.lock(name, options);
    try {
      return await fn(handle);
    } finally {
      await handle.release();
    }
  }

  /** An election on keys of the namespace. */
  election(name: Key, options: ElectionOptions = {}): Election {
    return new Election(this, name, options);
  }

  /** Runs an STM transaction on keys of the namespace. */
  stm<T>(fn: (stm: STM) => Promise<T> | T, options?: STMOptions): Promise<T> {
    return runSTM(this, fn, options);
  }

  // --- rewriting --------------------------------------------------------------------

  /** Prefixes a wire range; `"\0"` ends (and the all-keys start) map to the namespace's ends. */
  private rewriteKeys(key: Buffer, rangeEnd: Buffer): { key: Buffer; rangeEnd: Buffer } {
    const all = ALL_KEYS_FROM.equals(key) && ALL_KEYS_FROM.equals(rangeEnd);
    const k = all ? Buffer.from(this.prefix) : Buffer.concat([this.prefix, key]);
    let end = rangeEnd;
    if (ALL_KEYS_FROM.equals(rangeEnd)) end = prefixEnd(this.prefix);
    else if (rangeEnd.length > 0) end = Buffer.concat([this.prefix, rangeEnd]);
    return { key: k, rangeEnd: end };
  }

  private rewriteRange(r: etcdserverpb.RangeRequest): etcdserverpb.RangeRequest {
    return { ...r, ...this.rewriteKeys(r.key, r.rangeEnd) };
  }

  private rewritePut(r: etcdserverpb.PutRequest): etcdserverpb.PutRequest {
    return { ...r, key: Buffer.concat([this.prefix, r.key]) };
  }

  private rewriteDelete(r: etcdserverpb.DeleteRangeRequest): etcdserverpb.DeleteRangeRequest {
    return { ...r, ...this.rewriteKeys(r.key, r.rangeEnd) };
  }

  private rewriteTxn(r: etcdserverpb.TxnRequest): etcdserverpb.TxnRequest {
    const ops = (list: etcdserverpb.RequestOp[]) => list.map((o) => this.rewriteOp(o));
    return {
      compare: r.compare.map((c) => ({ ...c, ...this.rewriteKeys(c.key, c.rangeEnd) })),
      success: ops(r.success),
      failure: ops(r.failure),
    };
  }

  private rewriteOp(o: etcdserverpb.RequestOp): etcdserverpb.RequestOp {
    const x = o.request;
    switch (x?.$case) {
      case "requestRange":
        return { request: { $case: x.$case, value: this.rewriteRange(x.value) } };
      case "requestPut":
        return { request: { $case: x.$case, value: this.rewritePut(x.value) } };
      case "requestDeleteRange":
        return { request: { $case: x.$case, value: this.rewriteDelete(x.value) } };
      case "requestTxn":
        return { request: { $case: x.$case, value: this.rewriteTxn(x.value) } };
      default:
        return o;
    }
  }

  /** Strips the prefix from a key-value's key. */
  private unwrapKv(kv: mvccpb.KeyValue): mvccpb.KeyValue {
    const key = kv.key.subarray(0, this.prefix.length).equals(this.prefix)
      ? kv.key.subarray(this.prefix.length)
      : kv.key;
    return mvccpb.KeyValue.fromPartial({ ...kv, key });
  }

  private unwrapRange(r: etcdserverpb.RangeResponse): etcdserverpb.RangeResponse {
    return { ...r, kvs: r.kvs.map((kv) => this.unwrapKv(kv)) };
  }

  private unwrapPut(r: etcdserverpb.PutResponse): etcdserverpb.PutResponse {
    return { ...r, prevKv: r.prevKv && this.unwrapKv(r.prevKv) };
  }

  private unwrapDelete(r: etcdserverpb.DeleteRangeResponse): etcdserverpb.DeleteRangeResponse {
    return { ...r, prevKvs: r.prevKvs.map((kv) => this.unwrapKv(kv)) };
  }

  private unwrapTxn(r: etcdserverpb.TxnResponse): etcdserverpb.TxnResponse {
    return {
      ...r,
      responses: r.responses.map((o): etcdserverpb.ResponseOp => {
        const x = o.response;
        switch (x?.$case) {
          case "responseRange":
            return { response: { $case: x.$case, value: this.unwrapRange(x.value) } };
          case "responsePut":
            return { response: { $case: x.$case, value: this.unwrapPut(x.value) } };
          case "responseDeleteRange":
            return { response: { $case: x.$case, value: this.unwrapDelete(x.value) } };
          case "responseTxn":
            return { response: { $case: x.$case, value: this.unwrapTxn(x.value) } };
          default:
            return o;
        }
      }),
    };
  }
}
