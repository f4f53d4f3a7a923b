/**
 * The client's connections: one gRPC channel per endpoint (opened lazily), the
 * services on it, and what the client believes about each endpoint's health.
 *
 * Choice is health-aware: requests go to the *pinned* endpoint while it works; an
 * endpoint that fails (connection refused, no leader, stream broken) is marked down
 * for a cooldown that doubles with each consecutive failure (capped), and the next
 * endpoint that is not down is pinned. When every endpoint is down, the one whose
 * cooldown ends first is tried.
 *
 * @module
 */
import { etcdserverpb } from "@chainfire/api";
import {
  Channel,
  type ChannelCredentials,
  type ChannelOptions,
  connectivityState,
  status,
} from "@grpc/grpc-js";
import { onAbort } from "./backoff.js";
import type { Endpoint } from "./endpoint.js";
import { AbortError, ClientClosedError, UnavailableError } from "./errors.js";

/** The etcd services of one endpoint, sharing its channel. */
export interface Services {
  kv: etcdserverpb.KVClient;
  watch: etcdserverpb.WatchClient;
  lease: etcdserverpb.LeaseClient;
  cluster: etcdserverpb.ClusterClient;
  maintenance: etcdserverpb.MaintenanceClient;
  auth: etcdserverpb.AuthClient;
}

/** One endpoint: its channel, services and health. */
export class Connection {
  /** Consecutive failures since the last success. */
  failures = 0;
  /** Until when (Date.now() ms) the endpoint is considered down. */
  downUntil = 0;
  /** The last failure, for messages. */
  lastError: Error | undefined;
  private channel: Channel | undefined;
  private cachedServices: Services | undefined;
  private closed = false;

  constructor(
    readonly endpoint: Endpoint,
    private readonly credentials: ChannelCredentials,
    private readonly options: ChannelOptions,
  ) {}

  /** The endpoint URL as given. */
  get url(): string {
    return this.endpoint.url;
  }

  /** The channel, opened on first use. */
  getChannel(): Channel {
    if (this.closed) throw new ClientClosedError();
    this.channel ??= new Channel(this.endpoint.target, this.credentials, this.options);
    return this.channel;
  }

  /** The services, created on first use, all on this endpoint's channel. */
  services(): Services {
    if (this.cachedServices) return this.cachedServices;
    const channel = this.getChannel();
    const opts = { channelOverride: channel };
    const t = this.endpoint.target;
    const c = this.credentials;
    this.cachedServices = {
      kv: new etcdserverpb.KVClient(t, c, opts),
      watch: new etcdserverpb.WatchClient(t, c, opts),
      lease: new etcdserverpb.LeaseClient(t, c, opts),
      cluster: new etcdserverpb.ClusterClient(t, c, opts),
      maintenance: new etcdserverpb.MaintenanceClient(t, c, opts),
      auth: new etcdserverpb.AuthClient(t, c, opts),
    };
    return this.cachedServices;
  }

  /**
   * Resolves once the channel is connected (READY). Rejects with
   * {@link UnavailableError} when the connection attempt fails or `deadline` passes
   * first — in both cases nothing was sent, so any request may be tried elsewhere.
   */
  async waitReady(deadline: number, signal?: AbortSignal): Promise<void> {
    const channel = this.getChannel();
    let attempted = false;
    for (;;) {
      const state = channel.getConnectivityState(true);
      if (state === connectivityState.READY) return;
      if (state === connectivityState.SHUTDOWN) throw new ClientClosedError();
      if (state === connectivityState.TRANSIENT_FAILURE && (attempted || this.failures > 0)) {
        throw new UnavailableError(
          status.UNAVAILABLE,
          `chainfire: ${this.url}: connection failed`,
          { cause: this.lastError },
        );
      }
      if (Date.now() >= deadline) {
        throw new UnavailableError(status.UNAVAILABLE, `chainfire: ${this.url}: dial timeout`);
      }
      attempted = true;
      await new Promise<void>((resolve, reject) => {
        const remove = onAbort(signal, () => reject(new AbortError(signal?.reason)));
        channel.watchConnectivityState(state, deadline, () => {
          remove();
          resolve();
        });
      });
    }
  }

  /** Closes the channel; the connection can not be used afterwards. Idempotent. */
  close(): void {
    this.closed = true;
    this.cachedServices = undefined;
    this.channel?.close();
    this.channel = undefined;
  }
}

/** How the pool chooses among healthy endpoints. */
export type EndpointSelection = "ordered" | "random";

/** Cooldown of an endpoint after `failures` consecutive failures (ms). */
export function cooldownMs(failures: number): number {
  return Math.min(5_000, 250 * 2 ** Math.max(0, Math.min(failures - 1, 10)));
}

/** All endpoints of a client. */
export class ConnectionPool {
  readonly connections: readonly Connection[];
  private pinned: number;
  private closed = false;

  constructor(
    endpoints: readonly Endpoint[],
    credentials: (endpoint: Endpoint) => ChannelCredentials,
    options: ChannelOptions,
    selection: EndpointSelection,
  ) {
    if (endpoints.length === 0) throw new TypeError("chainfire: no endpoints given");
    this.connections = endpoints.map((e) => new Connection(e, credentials(e), options));
    this.pinned = selection === "random" ? Math.floor(Math.random() * endpoints.length) : 0;
  }

  /** Whether {@link close} was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * The endpoint to use next: the pinned one if it is not down, else the next one
   * (in order) that is not down, which becomes pinned; if all are down, the one whose
   * cooldown ends first. `avoid` is skipped when another choice exists.
   */
  pick(avoid?: Connection): Connection {
    if (this.closed) throw new ClientClosedError();
    const now = Date.now();
    const n = this.connections.length;
    for (let i = 0; i < n; i++) {
      const index = (this.pinned + i) % n;
      const conn = this.connections[index];
      if (conn.downUntil <= now && (conn !== avoid || n === 1)) {
        this.pinned = index;
        return conn;
      }
    }
    let best = this.connections[0];
    for (const conn of this.connections) {
      if (conn === avoid && n > 1) continue;
      if (best === avoid || conn.downUntil < best.downUntil) best = conn;
    }
    return best;
  }

  /** The connection for an endpoint URL (as given) or gRPC target. */
  find(endpoint: string): Connection | undefined {
    return this.connections.find((c) => c.url === endpoint || c.endpoint.target === endpoint);
  }

  /** Records a failure of `conn`: it is skipped for a cooldown. */
  markDown(conn: Connection, error: Error): void {
    conn.failures++;
    conn.lastError = error;
    conn.downUntil = Date.now() + cooldownMs(conn.failures);
  }

  /** Records a success of `conn`. */
  markUp(conn: Connection): void {
    conn.failures = 0;
    conn.downUntil = 0;
    conn.lastError = undefined;
  }

  /** Closes every channel. Idempotent. */
  close(): void {
    this.closed = true;
    for (const conn of this.connections) conn.close();
  }
}
