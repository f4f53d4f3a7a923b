/**
 * A lease handle: its id, a keep-alive that runs by itself, and typed events for each
 * renewal and for its loss.
 *
 * @module
 */

import { LeaseLostError, type LeaseLostReason } from "../errors.js";
import { Emitter, type Event } from "../events.js";
import type { Header } from "../kv.js";
import type { CallOptions } from "../transport.js";

/** One successful keep-alive. */
export interface KeepAliveEvent {
  header: Header;
  /** The TTL the member granted again (seconds). */
  ttl: bigint;
}

/** The result of a TimeToLive query. */
export interface LeaseTimeToLive {
  header: Header;
  id: bigint;
  /** Seconds left; -1 when the lease does not exist (any more). */
  ttl: bigint;
  /** The TTL the lease was granted with (seconds). */
  grantedTTL: bigint;
  /** The keys attached (when asked for). */
  keys: Buffer[];
}

/** What a {@link Lease} needs from its client. */
export interface LeaseHost {
  /** Starts renewing the lease. */
  startKeepAlive(lease: Lease): void;
  /** Stops renewing the lease. */
  stopKeepAlive(lease: Lease): void;
  /** Revokes a lease. */
  revoke(id: bigint, options?: CallOptions): Promise<Header>;
  /** Queries a lease's remaining TTL. */
  timeToLive(id: bigint, options?: CallOptions & { keys?: boolean }): Promise<LeaseTimeToLive>;
  /** Renews a lease once. */
  keepAliveOnce(id: bigint, options?: CallOptions): Promise<KeepAliveEvent>;
}

/**
 * A granted lease. With `keepAlive` (the default), the client renews it every third
 * of its TTL over a shared keep-alive stream that fails over between endpoints, and
 * fires {@link onLost} once if the member says it expired, or if no renewal succeeded
 * before the TTL (counted from the last successful renewal request) ran out.
 */
export class Lease {
  /** The TTL the member granted (seconds). */
  readonly grantedTTL: bigint;
  /** The TTL of the last renewal (seconds). */
  ttl: bigint;
  /**
   * When the lease expires at the latest, by this client's clock (ms since epoch):
   * the send time of the last successful renewal (or of the grant) plus the TTL.
   */
  expiresAt: number;
  /** Revoke when the client closes (see `GrantOptions.revokeOnClose`). */
  revokeOnClose = false;

  private readonly keepAliveEmitter = new Emitter<KeepAliveEvent>();
  private readonly lostEmitter = new Emitter<LeaseLostError>();
  private lostError: LeaseLostError | undefined;
  private released = false;
  private lostResolve!: (e: LeaseLostError) => void;

  /** Fires after each successful renewal. */
  readonly onKeepAlive: Event<KeepAliveEvent> = this.keepAliveEmitter.event;
  /** Fires once when the lease is lost (not when you revoke or release it). */
  readonly onLost: Event<LeaseLostError> = this.lostEmitter.event;
  /** Resolves with the loss (never rejects; never resolves if the lease is revoked or released). */
  readonly lost: Promise<LeaseLostError>;

  constructor(
    /** The lease id. */
    readonly id: bigint,
    ttl: bigint,
    grantSentAt: number,
    private readonly host: LeaseHost,
    keepAlive: boolean,
  ) {
    this.grantedTTL = ttl;
    this.ttl = ttl;
    this.expiresAt = grantSentAt + Number(ttl) * 1000;
    this.lost = new Promise((resolve) => {
      this.lostResolve = resolve;
    });
    if (keepAlive) host.startKeepAlive(this);
  }

  /** Whether the lease was lost. */
  get isLost(): boolean {
    return this.lostError !== undefined;
  }

  /** Whether keep-alive has stopped (lost, revoked or released). */
  get isDone(): boolean {
    return this.released || this.lostError !== undefined;
  }

  /** Revokes the lease (its keys are deleted) and stops the keep-alive. */
  async revoke(options?: CallOptions): Promise<Header> {
    this.release();
    return this.host.revoke(this.id, options);
  }

  /** Stops the keep-alive without revoking: the lease expires after its TTL. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.host.stopKeepAlive(this);
    this.keepAliveEmitter.dispose();
    this.lostEmitter.dispose();
  }

  /** Asks the member how long the lease has left (and, with `keys`, which keys it holds). */
  timeToLive(options?: CallOptions & { keys?: boolean }): Promise<LeaseTimeToLive> {
    return this.host.timeToLive(this.id, options);
  }

  /** Renews the lease once, now. */
  keepAliveOnce(options?: CallOptions): Promise<KeepAliveEvent> {
    return this.host.keepAliveOnce(this.id, options);
  }

  // --- called by the keep-alive manager -------------------------------------------

  /** A renewal sent at `sentAt` succeeded. */
  handleKeepAlive(event: KeepAliveEvent, sentAt: number): void {
    if (this.isDone) return;
    this.ttl = event.ttl;
    this.expiresAt = Math.max(this.expiresAt, sentAt + Number(event.ttl) * 1000);
    this.keepAliveEmitter.fire(event);
  }

  /** The lease is gone. */
  handleLost(reason: LeaseLostReason, cause?: unknown): void {
    if (this.isDone) return;
    this.lostError = new LeaseLostError(this.id, reason, { cause });
    this.host.stopKeepAlive(this);
    this.lostEmitter.fire(this.lostError);
    this.lostResolve(this.lostError);
    this.keepAliveEmitter.dispose();
    this.lostEmitter.dispose();
  }
}
