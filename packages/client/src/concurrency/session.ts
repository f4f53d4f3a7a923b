/**
 * Sessions (Go's `concurrency.Session`): a lease kept alive while the session lives.
 * Locks and elections put their keys on the session's lease, so they vanish when the
 * process holding them dies.
 *
 * @module
 */

import type { LeaseLostError } from "../errors.js";
import { Emitter, type Event } from "../events.js";
import type { Lease } from "../lease/lease.js";
import type { CallOptions } from "../transport.js";
import type { ConcurrencyHost } from "./host.js";

/** Options of a session. */
export interface SessionOptions extends CallOptions {
  /** The lease TTL in seconds (default 60, as in Go's clientv3). */
  ttl?: number;
}

/** A lease kept alive on behalf of locks and elections. */
export class Session {
  private readonly closedEmitter = new Emitter<void>();
  private closed = false;

  /** Fires once when the session is closed (by {@link close} or because its lease was lost). */
  readonly onClosed: Event<void> = this.closedEmitter.event;
  /** Fires once if the lease is lost. */
  readonly onLost: Event<LeaseLostError>;

  private constructor(
    /** The client. */
    readonly client: ConcurrencyHost,
    /** The session's lease. */
    readonly lease: Lease,
  ) {
    this.onLost = lease.onLost;
    void lease.lost.then(() => this.markClosed());
  }

  /** Grants the lease and starts keeping it alive. */
  static async create(client: ConcurrencyHost, options: SessionOptions = {}): Promise<Session> {
    const lease = await client.lease.grant(options.ttl ?? 60, { ...options, revokeOnClose: true });
    return new Session(client, lease);
  }

  /** The lease id. */
  get leaseId(): bigint {
    return this.lease.id;
  }

  /** Whether the session's lease was lost. */
  get isExpired(): boolean {
    return this.lease.isLost;
  }

  /** Whether the session is over (closed, expired, or its client closed). */
  get isClosed(): boolean {
    return this.closed || this.lease.isDone;
  }

  /** Resolves when the lease is lost (never if the session is closed normally). */
  get lost(): Promise<LeaseLostError> {
    return this.lease.lost;
  }

  /**
   * Ends the session: revokes its lease (so every lock and candidacy on it is released
   * at once). Best effort: if the revoke fails the lease expires after its TTL.
   */
  async close(options?: CallOptions): Promise<void> {
    if (this.closed) return;
    this.markClosed();
    try {
      await this.lease.revoke(options);
    } catch {
      // The lease will expire on its own.
    }
  }

  /** Stops keeping the lease alive without revoking it (it expires after its TTL). */
  orphan(): void {
    this.lease.release();
    this.markClosed();
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.closedEmitter.fire();
    this.closedEmitter.dispose();
  }
}
