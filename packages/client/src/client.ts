/**
 * The {@link Client}: the SDK's entry point.
 *
 * @module
 */
import type { etcdserverpb } from "@chainfire/api";
import { type ChannelCredentials, type ChannelOptions, credentials } from "@grpc/grpc-js";
import { AuthApi } from "./auth-api.js";
import { type AuthOptions, TokenSource } from "./auth-token.js";
import type { BackoffOptions } from "./backoff.js";
import type { Key, KeySelector, Value } from "./bytes.js";
import { ClusterApi } from "./cluster.js";
import { Election, type ElectionOptions } from "./concurrency/election.js";
import { type LockHandle, type LockOptions, Mutex } from "./concurrency/mutex.js";
import { Session, type SessionOptions } from "./concurrency/session.js";
import { runSTM, type STM, type STMOptions } from "./concurrency/stm.js";
import { ConnectionPool, type EndpointSelection } from "./connection-pool.js";
import { type Endpoint, parseEndpoint, splitEndpoints } from "./endpoint.js";
import type { KeyValue } from "./key-value.js";
import {
  type DeleteOptions,
  type DeleteResult,
  deleteRequest,
  type Header,
  type PutOptions,
  type PutResult,
  putRequest,
  type RangeOptions,
  type RangeResult,
  rangeRequest,
  toDeleteResult,
  toHeader,
  toPutResult,
  toRangeResult,
} from "./kv.js";
import { LeaseApi } from "./lease/lease-api.js";
import { MaintenanceApi } from "./maintenance.js";
import { Namespace } from "./namespace.js";
import { type CallOptions, Transport } from "./transport.js";
import { Txn, type TxnResult, toTxnResult } from "./txn.js";
import { WatchManager } from "./watch/watch-manager.js";
import type { Watcher, WatchOptions } from "./watch/watcher.js";

/** TLS settings. PEM contents as strings or Buffers. */
export interface TlsOptions {
  /** CA certificate(s) to trust (default: the system's). */
  ca?: string | Buffer;
  /** Client certificate, for members that require one. */
  cert?: string | Buffer;
  /** The client certificate's private key. */
  key?: string | Buffer;
  /** The name expected in the server certificate (default: the endpoint's host). */
  serverName?: string;
  /** Accept any server certificate (testing only). */
  insecureSkipVerify?: boolean;
}

/** Options of a {@link Client}. */
export interface ClientOptions {
  /** Member URLs (`http://10.0.0.1:2379`, `https://node01:2379`, `host:port`), or a comma list. */
  endpoints: string[] | string;
  /** Authenticate with etcd's built-in users. */
  auth?: AuthOptions;
  /** Use TLS (also implied by `https://` endpoints). */
  tls?: TlsOptions;
  /** Default deadline of a call, retries included (ms; default 10 000). */
  callTimeoutMs?: number;
  /** How long to wait for a connection to an endpoint before trying another (ms; default 5 000). */
  dialTimeoutMs?: number;
  /** gRPC keepalive ping interval on busy connections (ms; default 30 000). */
  keepAliveTimeMs?: number;
  /** How long a keepalive ping may go unanswered before the connection is dropped (ms; default 10 000). */
  keepAliveTimeoutMs?: number;
  /** Retry backoff (default: 50 ms doubling to 2 s, full jitter). */
  backoff?: BackoffOptions;
  /**
   * Which healthy endpoint to start with: `"random"` (default; spreads clients over
   * members) or `"ordered"` (the first one given, then the next).
   */
  endpointSelection?: EndpointSelection;
  /** Extra gRPC channel options (advanced). */
  grpcOptions?: ChannelOptions;
}

function pem(x: string | Buffer | undefined): Buffer | null {
  if (x === undefined) return null;
  return typeof x === "string" ? Buffer.from(x) : x;
}

function makeCredentials(tls: TlsOptions | undefined): (e: Endpoint) => ChannelCredentials {
  return (endpoint) => {
    if (!tls && !endpoint.secure) return credentials.createInsecure();
    const verify = tls?.insecureSkipVerify
      ? { checkServerIdentity: () => undefined, rejectUnauthorized: false }
      : undefined;
    return credentials.createSsl(pem(tls?.ca), pem(tls?.key), pem(tls?.cert), verify);
  };
}

/**
 * A client of a Chainfire (or etcd v3) cluster.
 *
 * ```ts
 * const client = new Client({ endpoints: ["http://127.0.0.1:2379"] });
 * await client.put("greeting", "hello");
 * console.log((await client.get("greeting"))?.string()); // "hello"
 * await client.close();
 * ```
 *
 * Key-value calls are methods of the client; leases, the cluster, maintenance and
 * auth management are grouped under {@link lease}, {@link cluster},
 * {@link maintenance} and {@link auth}. Every call takes `{ timeoutMs, signal }`.
 */
export class Client {
  /** Lease calls: grant (kept alive automatically), revoke, timeToLive, list. */
  readonly lease: LeaseApi;
  /** Membership calls. */
  readonly cluster: ClusterApi;
  /** Status, health, alarms, defragment, hashKV, moveLeader, snapshots. */
  readonly maintenance: MaintenanceApi;
  /** Auth management (users, roles, enable/disable). */
  readonly auth: AuthApi;

  private readonly transport: Transport;
  private readonly watches: WatchManager;
  private closed = false;

  constructor(options: ClientOptions) {
    const list =
      typeof options.endpoints === "string" ? splitEndpoints(options.endpoints) : options.endpoints;
    const endpoints = list.map(parseEndpoint);
    const channelOptions: ChannelOptions = {
      "grpc.use_local_subchannel_pool": 1,
      "grpc.max_receive_message_length": -1,
      "grpc.max_send_message_length": -1,
      "grpc.keepalive_time_ms": options.keepAliveTimeMs ?? 30_000,
      "grpc.keepalive_timeout_ms": options.keepAliveTimeoutMs ?? 10_000,
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 2_000,
      ...(options.tls?.serverName
        ? { "grpc.ssl_target_name_override": options.tls.serverName }
        : {}),
      ...options.grpcOptions,
    };
    const pool = new ConnectionPool(
      endpoints,
      makeCredentials(options.tls),
      channelOptions,
      options.endpointSelection ?? "random",
    );
    this.transport = new Transport(
      pool,
      {
        callTimeoutMs: options.callTimeoutMs ?? 10_000,
        dialTimeoutMs: options.dialTimeoutMs ?? 5_000,
        backoff: options.backoff ?? {},
      },
      options.auth ? new TokenSource(options.auth) : undefined,
    );
    this.watches = new WatchManager(this.transport);
    this.lease = new LeaseApi(this.transport);
    this.cluster = new ClusterApi(this.transport);
    this.maintenance = new MaintenanceApi(this.transport);
    this.auth = new AuthApi(this.transport);
  }

  /** The endpoints, as given. */
  get endpoints(): string[] {
    return this.transport.pool.connections.map((c) => c.url);
  }

  // --- KV -----------------------------------------------------------------------------

  /** Reads one key; `undefined` when it does not exist. */
  async get(key: Key, options: RangeOptions & CallOptions = {}): Promise<KeyValue | undefined> {
    const r = await this.range(key, { ...options, limit: 1 });
    return r.kvs[0];
  }

  /** Reads one key's value as a string (`undefined` when the key does not exist). */
  async getString(key: Key, options?: RangeOptions & CallOptions): Promise<string | undefined> {
    return (await this.get(key, options))?.string();
  }

  /** Reads one key's value as JSON (`undefined` when the key does not exist). */
  async getJson<T = unknown>(
    key: Key,
    options?: RangeOptions & CallOptions,
  ): Promise<T | undefined> {
    return (await this.get(key, options))?.json<T>();
  }

  /**
   * Reads a range of keys — a prefix, `[start, end)`, every key from one on, or every
   * key (the default) — with limit, sort, revision, keysOnly, countOnly and
   * serializable options.
   */
  getAll(
    selector: KeySelector = { all: true },
    options: RangeOptions & CallOptions = {},
  ): Promise<RangeResult> {
    return this.range(selector, options);
  }

  /** The number of keys in a range (a count-only read). */
  async count(
    selector: KeySelector = { all: true },
    options: RangeOptions & CallOptions = {},
  ): Promise<bigint> {
    return (await this.range(selector, { ...options, countOnly: true })).count;
  }

  private async range(
    selector: KeySelector,
    options: RangeOptions & CallOptions,
  ): Promise<RangeResult> {
    return toRangeResult(await this.rawRange(rangeRequest(selector, options), options));
  }

  /** Writes a key. Never retried after an ambiguous failure. */
  async put(key: Key, value: Value, options: PutOptions & CallOptions = {}): Promise<PutResult> {
    return toPutResult(await this.rawPut(putRequest(key, value, options), options));
  }

  /** Writes a key with a value serialised as JSON. */
  putJson(key: Key, value: unknown, options?: PutOptions & CallOptions): Promise<PutResult> {
    return this.put(key, JSON.stringify(value), options);
  }

  /** Deletes a key or a range of keys. */
  async delete(
    selector: KeySelector,
    options: DeleteOptions & CallOptions = {},
  ): Promise<DeleteResult> {
    return toDeleteResult(await this.rawDelete(deleteRequest(selector, options), options));
  }

  /** Starts a transaction: `client.txn().if(...).then(...).else(...).commit()`. */
  txn(): Txn {
    return new Txn((request, options) => this.commitTxn(request, options));
  }

  private async commitTxn(
    request: etcdserverpb.TxnRequest,
    options?: CallOptions,
  ): Promise<TxnResult> {
    return toTxnResult(await this.rawTxn(request, options));
  }

  /** Sends a RangeRequest as it is (retried: reads are idempotent). */
  rawRange(
    request: etcdserverpb.RangeRequest,
    options?: CallOptions,
  ): Promise<etcdserverpb.RangeResponse> {
    return this.transport.unary(
      (s, md, o, cb) => s.kv.range(request, md, o, cb),
      { idempotent: true, requireLeader: !request.serializable },
      options,
    );
  }

  /** Sends a PutRequest as it is (never sent twice). */
  rawPut(
    request: etcdserverpb.PutRequest,
    options?: CallOptions,
  ): Promise<etcdserverpb.PutResponse> {
    return this.transport.unary(
      (s, md, o, cb) => s.kv.put(request, md, o, cb),
      { idempotent: false, requireLeader: true },
      options,
    );
  }

  /** Sends a DeleteRangeRequest as it is (never sent twice). */
  rawDelete(
    request: etcdserverpb.DeleteRangeRequest,
    options?: CallOptions,
  ): Promise<etcdserverpb.DeleteRangeResponse> {
    return this.transport.unary(
      (s, md, o, cb) => s.kv.deleteRange(request, md, o, cb),
      { idempotent: false, requireLeader: true },
      options,
    );
  }

  /** Sends a TxnRequest as it is (never sent twice). */
  rawTxn(
    request: etcdserverpb.TxnRequest,
    options?: CallOptions,
  ): Promise<etcdserverpb.TxnResponse> {
    return this.transport.unary(
      (s, md, o, cb) => s.kv.txn(request, md, o, cb),
      { idempotent: false, requireLeader: true },
      options,
    );
  }

  /**
   * Compacts history up to `revision`: older revisions can no longer be read or
   * watched. `physical` waits until the space is reclaimed.
   */
  async compact(
    revision: bigint | number,
    options: CallOptions & { physical?: boolean } = {},
  ): Promise<Header> {
    const r = await this.transport.unary<etcdserverpb.CompactionResponse>(
      (s, md, o, cb) =>
        s.kv.compact(
          { revision: BigInt(revision), physical: options.physical ?? false },
          md,
          o,
          cb,
        ),
      { idempotent: false, requireLeader: true },
      options,
    );
    return toHeader(r.header);
  }

  // --- watch --------------------------------------------------------------------------

  /**
   * Watches a key or range; resolves once the member created the watch. See
   * {@link Watcher} for consuming events and for what happens on failures.
   */
  watch(selector: KeySelector, options?: WatchOptions): Promise<Watcher> {
    return this.watches.watch(selector, options);
  }

  /**
   * A view of the keys under `prefix`: every key is relative to it, and nothing
   * outside it is visible (like etcd3's `namespace` and clientv3's `namespace`
   * package). Locks, elections and STM work inside it too.
   */
  namespace(prefix: Key): Namespace {
    return new Namespace(prefix, {
      lease: this.lease,
      range: (request, options) => this.rawRange(request, options),
      put: (request, options) => this.rawPut(request, options),
      deleteRange: (request, options) => this.rawDelete(request, options),
      txn: (request, options) => this.rawTxn(request, options),
      watch: (selector, options, mapKv) => this.watches.watch(selector, options, mapKv),
    });
  }

  /** Asks for a progress notification on every watcher of this client. */
  requestWatchProgress(): void {
    this.watches.requestProgress();
  }

  // --- concurrency ----------------------------------------------------------------------

  /**
   * A session: a lease kept alive for as long as the session lives, on which locks
   * and elections are built.
   */
  async session(options: SessionOptions = {}): Promise<Session> {
    return Session.create(this, options);
  }

  /**
   * A mutex named `name` on a session (a new one is created and owned by the mutex
   * when none is given). Call `lock()` on it.
   */
  mutex(name: Key, options: { session?: Session } = {}): Mutex {
    return new Mutex(this, name, options.session);
  }

  /**
   * Acquires the lock `name` and resolves with a handle (its `fencingToken` is the
   * lock key's create revision); release it with `handle.release()`.
   */
  lock(name: Key, options: LockOptions = {}): Promise<LockHandle> {
    return Mutex.acquire(this, name, options);
  }

  /** Runs `fn` while holding the lock `name`, and releases it afterwards. */
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

  /** An election named `name` (campaign, proclaim, resign, leader, observe). */
  election(name: Key, options: ElectionOptions = {}): Election {
    return new Election(this, name, options);
  }

  /**
   * Runs `fn` as a software transactional memory transaction: reads through `stm.get`,
   * writes through `stm.put`/`stm.delete`, committed atomically and retried on
   * conflict.
   */
  stm<T>(fn: (stm: STM) => Promise<T> | T, options?: STMOptions): Promise<T> {
    return runSTM(this, fn, options);
  }

  // --- lifecycle ------------------------------------------------------------------------

  /** Whether {@link close} was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Ends every watcher, keep-alive and session (session leases are revoked, best
   * effort) and closes every connection. Leaves no timers or sockets behind.
   * Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watches.close();
    await this.lease.close();
    this.transport.close();
  }
}
