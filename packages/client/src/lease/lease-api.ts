/**
 * Lease calls: grant (with automatic keep-alive), revoke, time-to-live, list and
 * single renewals.
 *
 * @module
 */
import { ErrLeaseNotFound, etcdserverpb } from "@chainfire/api";
import { status } from "@grpc/grpc-js";
import { ClientClosedError, LeaseNotFoundError, UnavailableError } from "../errors.js";
import { type Header, toHeader } from "../kv.js";
import type { CallOptions, Transport } from "../transport.js";
import { KeepAliveManager } from "./keepalive-manager.js";
import { type KeepAliveEvent, Lease, type LeaseHost, type LeaseTimeToLive } from "./lease.js";

/** Options of {@link LeaseApi.grant}. */
export interface GrantOptions extends CallOptions {
  /** Ask for this id (0 or absent: the member chooses). */
  id?: bigint;
  /** Renew the lease automatically until it is revoked or released (default true). */
  keepAlive?: boolean;
  /**
   * Revoke the lease when the client is closed (best effort; default false, so that
   * a lease outlives a restart of its holder for its TTL). Sessions set it.
   */
  revokeOnClose?: boolean;
}

/** The lease calls of a client (`client.lease`). */
export class LeaseApi implements LeaseHost {
  private readonly keepAlives: KeepAliveManager;
  private readonly leases = new Set<Lease>();

  constructor(private readonly transport: Transport) {
    this.keepAlives = new KeepAliveManager(transport);
  }

  /**
   * Grants a lease of `ttlSeconds` (the member may raise it to its minimum) and, unless
   * `keepAlive: false`, keeps it alive. A grant is a write: it is not retried after an
   * ambiguous failure.
   */
  async grant(ttlSeconds: number | bigint, options: GrantOptions = {}): Promise<Lease> {
    const sentAt = Date.now();
    const r = await this.transport.unary<etcdserverpb.LeaseGrantResponse>(
      (s, md, o, cb) =>
        s.lease.leaseGrant(
          etcdserverpb.LeaseGrantRequest.fromPartial({
            TTL: BigInt(ttlSeconds),
            ID: options.id ?? 0n,
          }),
          md,
          o,
          cb,
        ),
      { idempotent: false, requireLeader: true },
      options,
    );
    if (this.transport.pool.isClosed) throw new ClientClosedError();
    const lease = new Lease(r.ID, r.TTL, sentAt, this, options.keepAlive ?? true);
    lease.revokeOnClose = options.revokeOnClose ?? false;
    return lease;
  }

  /** Revokes a lease: it ends now and its keys are deleted. */
  async revoke(id: bigint, options?: CallOptions): Promise<Header> {
    const r = await this.transport.unary<etcdserverpb.LeaseRevokeResponse>(
      (s, md, o, cb) => s.lease.leaseRevoke({ ID: id }, md, o, cb),
      { idempotent: false, requireLeader: true },
      options,
    );
    return toHeader(r.header);
  }

  /** How long a lease has left (TTL -1 when it does not exist) and, with `keys`, its keys. */
  async timeToLive(
    id: bigint,
    options: CallOptions & { keys?: boolean } = {},
  ): Promise<LeaseTimeToLive> {
    const r = await this.transport.unary<etcdserverpb.LeaseTimeToLiveResponse>(
      (s, md, o, cb) => s.lease.leaseTimeToLive({ ID: id, keys: options.keys ?? false }, md, o, cb),
      { idempotent: true, requireLeader: true },
      options,
    );
    return {
      header: toHeader(r.header),
      id: r.ID,
      ttl: r.TTL,
      grantedTTL: r.grantedTTL,
      keys: r.keys,
    };
  }

  /** The ids of every lease. */
  async list(options?: CallOptions): Promise<bigint[]> {
    const r = await this.transport.unary<etcdserverpb.LeaseLeasesResponse>(
      (s, md, o, cb) => s.lease.leaseLeases({}, md, o, cb),
      { idempotent: true, requireLeader: true },
      options,
    );
    return r.leases.map((l) => l.ID);
  }

  /**
   * Renews a lease once, over a short-lived stream. Rejects with
   * {@link LeaseNotFoundError} when the lease does not exist.
   */
  async keepAliveOnce(id: bigint, options: CallOptions = {}): Promise<KeepAliveEvent> {
    const r = await this.transport.unary<etcdserverpb.LeaseKeepAliveResponse>(
      (s, md, o, cb) => {
        const stream = s.lease.leaseKeepAlive(md, o);
        let answered = false;
        const answer = (error: Error | null, response?: etcdserverpb.LeaseKeepAliveResponse) => {
          if (answered) return;
          answered = true;
          stream.removeAllListeners("data");
          stream.on("error", () => {}); // the cancel below reports CANCELLED
          stream.cancel();
          cb(error, response as etcdserverpb.LeaseKeepAliveResponse);
        };
        stream.on("data", (resp: etcdserverpb.LeaseKeepAliveResponse) => answer(null, resp));
        stream.on("error", (e: Error) => answer(e));
        stream.on("end", () =>
          answer(new UnavailableError(status.UNAVAILABLE, "chainfire: keep-alive stream ended")),
        );
        stream.write(etcdserverpb.LeaseKeepAliveRequest.fromPartial({ ID: id }));
        return stream;
      },
      { idempotent: true, requireLeader: true },
      options,
    );
    if (r.TTL <= 0n) throw new LeaseNotFoundError(ErrLeaseNotFound.code, ErrLeaseNotFound.message);
    return { header: toHeader(r.header), ttl: r.TTL };
  }

  // --- LeaseHost --------------------------------------------------------------------

  /** Starts renewing `lease` (called by the lease itself). */
  startKeepAlive(lease: Lease): void {
    this.leases.add(lease);
    this.keepAlives.add(lease);
  }

  /** Stops renewing `lease`. */
  stopKeepAlive(lease: Lease): void {
    this.leases.delete(lease);
    this.keepAlives.remove(lease);
  }

  /** Stops every keep-alive; leases granted with `revokeOnClose` are revoked first. */
  async close(): Promise<void> {
    const revoking = [...this.leases].filter((l) => l.revokeOnClose && !l.isDone);
    await Promise.allSettled(revoking.map((l) => l.revoke({ timeoutMs: 1_000 })));
    this.keepAlives.close();
    this.leases.clear();
  }
}
