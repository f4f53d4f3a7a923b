/**
 * How every request is sent: pick an endpoint, wait until it is connected (bounded by
 * the dial timeout), attach the auth token, send with a deadline, and decide what to
 * do with a failure.
 *
 * Retry rules (etcd issues #14890 and #18424 are what happens otherwise: a retried
 * write that had in fact been applied is applied twice):
 *
 * - A request that was certainly **not sent** — the endpoint could not be connected,
 *   gRPC reports "No connection established", the member refused it up front with
 *   "no leader" (we send `hasleader=true`, which etcd checks before doing anything) or
 *   "too many requests", or the token was stale — is sent again, to another endpoint
 *   when it is a connection problem. This holds for writes too.
 * - A request that **may have been received** is sent again only if it is idempotent
 *   (reads, status, lists) and the failure is transient (UNAVAILABLE). Writes (Put,
 *   DeleteRange, Txn, Compact, lease grant/revoke, membership changes) then fail with
 *   the error, and the caller decides.
 *
 * Retries wait with exponential backoff and full jitter, and never past the call's
 * deadline, which covers every attempt.
 *
 * @module
 */
import { ErrAuthOldRevision, EtcdError, isEtcdError } from "@chainfire/api";
import { type CallOptions as GrpcCallOptions, Metadata, type ServiceError } from "@grpc/grpc-js";
import type { TokenSource } from "./auth-token.js";
import { type BackoffOptions, backoffDelay, onAbort, sleep, throwIfAborted } from "./backoff.js";
import type { Connection, ConnectionPool, Services } from "./connection-pool.js";
import {
  AbortError,
  ClientClosedError,
  DeadlineExceededError,
  fromStatus,
  InvalidAuthTokenError,
  isStatusLike,
  NoLeaderError,
  TooManyRequestsError,
  UnavailableError,
} from "./errors.js";

/** Options every call accepts. */
export interface CallOptions {
  /**
   * How long the call may take in total, retries included (ms). Defaults to the
   * client's `callTimeoutMs`. The call fails with `DeadlineExceededError` (or the last
   * transient error) when it passes.
   */
  timeoutMs?: number;
  /** Aborts the call; it then rejects with `AbortError`. */
  signal?: AbortSignal;
}

/** Timing settings of a {@link Transport}. */
export interface TransportSettings {
  callTimeoutMs: number;
  dialTimeoutMs: number;
  backoff: BackoffOptions;
}

/** Something in flight that can be canceled (a grpc-js call). */
export interface Cancelable {
  /** Cancels it. */
  cancel(): void;
}

/**
 * Sends one request on a connection's services and calls back once with its answer
 * (a unary call, or a stream used for one answer).
 */
export type Invoke<T> = (
  services: Services,
  metadata: Metadata,
  options: Partial<GrpcCallOptions>,
  callback: (error: ServiceError | Error | null, response: T) => void,
) => Cancelable;

/** How a request may be retried and routed. */
export interface CallPolicy {
  /** Safe to send again after an ambiguous failure (reads and queries). */
  idempotent: boolean;
  /**
   * Send `hasleader=true`: a member without a leader refuses the request at once
   * (instead of timing out), and the SDK tries another member. Not for serializable
   * reads or maintenance calls, which a member answers on its own.
   */
  requireLeader: boolean;
  /**
   * Send to this endpoint only: no failover, and no retry when it cannot be
   * connected.
   */
  connection?: Connection;
  /** Told which endpoint answered. */
  onAnswer?: (conn: Connection) => void;
}

/** Requests prepared for a stream: metadata and the token it carries. */
export interface Prepared {
  metadata: Metadata;
  token: string | undefined;
}

/** The client's request engine (one per client). */
export class Transport {
  constructor(
    readonly pool: ConnectionPool,
    readonly settings: TransportSettings,
    private readonly tokens: TokenSource | undefined,
  ) {}

  /** The absolute deadline (Date.now() ms) of a call started now. */
  deadline(options?: CallOptions): number {
    return Date.now() + (options?.timeoutMs ?? this.settings.callTimeoutMs);
  }

  /**
   * Connects `conn` (within the dial timeout and `deadline`) and builds the metadata
   * of a request: the auth token, and `hasleader` when asked.
   */
  async prepare(
    conn: Connection,
    deadline: number,
    requireLeader: boolean,
    signal?: AbortSignal,
  ): Promise<Prepared> {
    await conn.waitReady(Math.min(deadline, Date.now() + this.settings.dialTimeoutMs), signal);
    const metadata = new Metadata();
    if (requireLeader) metadata.set("hasleader", "true");
    let token: string | undefined;
    if (this.tokens) {
      token = await this.tokens.get(conn, deadline);
      metadata.set("token", token);
    }
    return { metadata, token };
  }

  /**
   * Records what a failure says about `conn` (down for UNAVAILABLE; a stale token is
   * dropped) and returns the typed error.
   */
  noteFailure(conn: Connection, error: unknown, token: string | undefined): Error {
    const err = normalize(error, conn);
    if (err instanceof UnavailableError) this.pool.markDown(conn, err);
    if (staleToken(err) && token !== undefined) this.tokens?.invalidate(token);
    return err;
  }

  /** Sends a unary request under `policy`; see the module comment for the retry rules. */
  async unary<T>(invoke: Invoke<T>, policy: CallPolicy, options: CallOptions = {}): Promise<T> {
    const { signal } = options;
    throwIfAborted(signal);
    if (this.pool.isClosed) throw new ClientClosedError();
    const deadline = this.deadline(options);
    let attempt = 0;
    let reauthenticated = false;
    let previous: Connection | undefined;
    let lastTransient: Error | undefined;
    for (;;) {
      const conn = policy.connection ?? this.pool.pick(previous);
      previous = conn;
      let sent = false;
      let token: string | undefined;
      try {
        const prepared = await this.prepare(conn, deadline, policy.requireLeader, signal);
        token = prepared.token;
        sent = true;
        const response = await invokeOnce(conn, invoke, prepared.metadata, deadline, signal);
        this.pool.markUp(conn);
        policy.onAnswer?.(conn);
        return response;
      } catch (error) {
        if (error instanceof AbortError || error instanceof ClientClosedError) throw error;
        if (this.pool.isClosed) throw new ClientClosedError();
        const notSent = !sent || neverReachedServer(error);
        const err = this.noteFailure(conn, error, token);
        if (staleToken(err) && token !== undefined && !reauthenticated) {
          reauthenticated = true; // refused before it was executed: safe to resend
          continue;
        }
        const refusedUpFront =
          (err instanceof NoLeaderError && policy.requireLeader) ||
          err instanceof TooManyRequestsError;
        const transient = err instanceof UnavailableError || err instanceof TooManyRequestsError;
        const pinnedDown = policy.connection !== undefined && !sent;
        const retry = transient && !pinnedDown && (notSent || refusedUpFront || policy.idempotent);
        if (!retry) {
          // A deadline that cut short a retry: the transient error is the real story.
          if (err instanceof DeadlineExceededError && lastTransient) throw lastTransient;
          throw err;
        }
        lastTransient = err;
        const delay = backoffDelay(attempt++, this.settings.backoff);
        if (Date.now() + delay >= deadline) throw err;
        await sleep(delay, signal);
      }
    }
  }

  /** Closes every connection. */
  close(): void {
    this.pool.close();
  }
}

function invokeOnce<T>(
  conn: Connection,
  invoke: Invoke<T>,
  metadata: Metadata,
  deadline: number,
  signal: AbortSignal | undefined,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let call: Cancelable | undefined;
    const remove = onAbort(signal, () => {
      call?.cancel();
      reject(new AbortError(signal?.reason));
    });
    if (signal?.aborted) return;
    call = invoke(conn.services(), metadata, { deadline }, (error, response) => {
      remove();
      if (error) reject(error);
      else resolve(response);
    });
  });
}

/** Whether a failure shows that the request never reached a server. */
function neverReachedServer(error: unknown): boolean {
  return isStatusLike(error) && /^No connection established/.test(error.details ?? "");
}

/** A typed SDK error for anything a call can fail with. */
export function normalize(error: unknown, conn?: Connection): Error {
  if (error instanceof Error && !isStatusLike(error)) return error;
  if (isStatusLike(error)) {
    // Errors the SDK made itself already have their type.
    if (error instanceof EtcdError) return error;
    return fromStatus(error, conn?.url);
  }
  return new Error(String(error));
}

/**
 * Whether a refusal means "get a new token": an unknown or expired token, or one issued
 * before an auth change (JWT tokens carry the auth revision; etcd's clientv3 re-authenticates
 * on both). Either way the request was refused before it took effect: safe to resend.
 */
function staleToken(err: Error): boolean {
  return err instanceof InvalidAuthTokenError || isEtcdError(err, ErrAuthOldRevision);
}
