/**
 * Lessor: a member's lease manager (etcd's noun). The lease table itself is replicated
 * state (LeaseStore, changed only by applied log entries); the Lessor adds time:
 *
 * - **Expiry is the leader's.** Only the member that leads the current term keeps
 *   expiries, in a {@link PrimaryLessor} created when it is promoted and dropped when it
 *   is demoted. Promotion waits until the new leader has applied an entry of its own
 *   term (a read barrier: ReadIndex needs a commit in the current term), so every entry
 *   of earlier terms — grants, revocations, checkpoints, a deposed leader's expiries — is
 *   applied before it takes over (etcd promotes at the same point). Expired leases are
 *   revoked through the log, proposed by the primary, rate-limited, as term-bound
 *   LessorRequests (apply-lessor.ts explains why a deposed leader's expiry cannot apply).
 * - **Keep-alives and TimeToLive go to the primary.** On the leader they run after a read
 *   barrier (etcd's ensureLeadership: the renewal is answered only once a quorum has
 *   confirmed this member still leads, and a lease granted through another member is
 *   applied here before "not found" is answered). Any other member forwards them to the
 *   leader over the peer protocol (leader-forwarder.ts), retrying across leader changes
 *   until the request timeout (etcd forwards keep-alives the same way).
 * - **Leader changes neither reset TTLs nor expire leases early.** See primary-lessor.ts:
 *   checkpoints of remaining TTLs through the log, a reset on renewal, and
 *   `remaining + one election timeout` at promotion.
 * - Followers keep no expiry state (TimeToLive is answered by the leader, as in etcd).
 *
 * Time is a monotonic clock (options.ts), injectable for tests; {@link tick} runs every
 * tickMs once {@link start}ed.
 */

import {
  ErrCanceled,
  ErrStopped,
  ErrTimeout,
  EtcdError,
  etcdserverpb,
  type internalpb,
} from "@chainfire/api";
import type { LeaseRecord } from "@chainfire/storage";
import { type ChannelCredentials, credentials, status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { LeaseApplyHooks } from "./apply-lessor.js";
import { LeaderForwarder } from "./leader-forwarder.js";
import { defaultLessorOptions, type LessorOptions } from "./options.js";
import { NotPrimaryError, PrimaryLessor } from "./primary-lessor.js";

/** Forwarded method names (peer.proto ForwardRequest.method). */
export const FORWARD_KEEP_ALIVE = "LeaseKeepAlive";
export const FORWARD_TIME_TO_LIVE = "LeaseTimeToLive";

/** What the lessor needs from the member (MemberContext provides all of it). */
export interface LessorHost {
  readonly id: bigint;
  readonly clusterId: bigint;
  readonly logger: Logger;
  /** Aborted when the member stops: the lessor closes. */
  readonly stopping: AbortSignal;
  readonly options: { readonly heartbeatIntervalMs: number; readonly electionTimeoutMs: number };
  /** The applied lease table (read each time: a snapshot install replaces it). */
  readonly leases: {
    get(id: bigint): LeaseRecord | undefined;
    list(): LeaseRecord[];
  };
  /** The MVCC store (read each time). */
  readonly store: { keysOfLease(lease: bigint): Uint8Array[] };
  isLeader(): boolean;
  leader(): bigint;
  term(): bigint;
  members(): ReadonlyArray<{ id: bigint; peerUrls: string[] }>;
  /** Credentials to dial a peer URL (default plaintext). */
  dialCredentials?(url: string): ChannelCredentials;
  readBarrier(signal?: AbortSignal): Promise<void>;
  propose(
    request: { $case: "lessor"; value: internalpb.LessorRequest },
    signal?: AbortSignal,
  ): Promise<unknown>;
  onLeaderChange(listener: (e: { isLeader: boolean }) => void): { dispose(): void };
}

/** TimeToLive as the leader answers it (header filled by the service). */
export type TimeToLiveAnswer = Omit<etcdserverpb.LeaseTimeToLiveResponse, "header">;

export class Lessor implements LeaseApplyHooks {
  readonly options: LessorOptions;
  readonly #host: LessorHost;
  readonly #forwarder: LeaderForwarder;
  readonly #log: Logger;
  #primary: PrimaryLessor | null = null;
  /** The term a promotion is under way for. */
  #promoting: bigint | null = null;
  #timer: NodeJS.Timeout | null = null;
  #leaderSub: { dispose(): void } | null = null;
  /** Wakes callers waiting for a leader, a promotion or a demotion. */
  readonly #changed = new Set<() => void>();
  #closed = false;

  constructor(host: LessorHost, options: Partial<LessorOptions> = {}) {
    this.#host = host;
    this.options = { ...defaultLessorOptions(host.options), ...options };
    this.#log = host.logger.child({ component: "lessor" });
    this.#forwarder = new LeaderForwarder({
      id: host.id,
      clusterId: host.clusterId,
      members: () => host.members(),
      dialCredentials: (url) => host.dialCredentials?.(url) ?? credentials.createInsecure(),
      logger: this.#log,
    });
  }

  /** Follows leadership and starts the expiry/checkpoint loop. Idempotent. */
  start(): void {
    if (this.#closed || this.#timer !== null) return;
    const h = this.#host;
    if (h.stopping.aborted) {
      this.close();
      return;
    }
    h.stopping.addEventListener("abort", () => this.close(), { once: true });
    this.#leaderSub = h.onLeaderChange(() => this.checkLeadership());
    this.#timer = setInterval(() => this.tick(), this.options.tickMs);
    this.#timer.unref();
    this.checkLeadership();
  }

  /** Stops everything; waiting callers get ErrStopped. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#leaderSub?.dispose();
    this.#primary?.close();
    this.#primary = null;
    this.#forwarder.close();
    this.#wake();
  }

  /** Whether this member is the primary lessor (it leads and was promoted). */
  get isPrimary(): boolean {
    return this.#primary !== null;
  }

  /** The primary's state (tests). */
  get primary(): PrimaryLessor | null {
    return this.#primary;
  }

  // ---- the apply path (LeaseApplyHooks) ----

  granted(id: bigint, ttl: number): void {
    this.#primary?.granted(id, ttl);
  }

  revoked(id: bigint): void {
    this.#primary?.revoked(id);
  }

  // ---- the loop ----

  /** Follows leadership changes, then lets the primary expire and checkpoint. */
  tick(): void {
    this.checkLeadership();
    this.#primary?.tick();
  }

  /** Demotes if this member no longer leads the primary's term; starts a promotion. */
  checkLeadership(): void {
    if (this.#closed) return;
    const h = this.#host;
    const leads = h.isLeader();
    const term = h.term();
    const p = this.#primary;
    if (p !== null && (!leads || p.term !== term)) {
      p.close();
      this.#primary = null;
      this.#log.info({ term: p.term }, "lessor demoted: expiry stops here");
    }
    if (leads && this.#primary === null && this.#promoting !== term) void this.#promote(term);
    this.#wake();
  }

  async #promote(term: bigint): Promise<void> {
    this.#promoting = term;
    const h = this.#host;
    const stillLeads = () => !this.#closed && h.isLeader() && h.term() === term;
    try {
      for (;;) {
        try {
          await h.readBarrier(h.stopping);
          break;
        } catch {
          if (!stillLeads() || this.#promoting !== term) return;
          await this.#waitChange(this.options.retryMs, h.stopping);
        }
      }
      if (!stillLeads() || this.#promoting !== term || this.#primary !== null) return;
      const records = h.leases.list();
      this.#primary = new PrimaryLessor(
        {
          leases: () => h.leases,
          propose: (value) => h.propose({ $case: "lessor", value }),
          logger: this.#log,
        },
        this.options,
        term,
        records,
      );
      this.#log.info(
        { term, leases: records.length, extendMs: this.options.promoteExtendMs },
        "lessor promoted: this member expires leases now",
      );
    } finally {
      if (this.#promoting === term) this.#promoting = null;
      this.#wake();
    }
  }

  // ---- keep-alive and time-to-live ----

  /**
   * LeaseKeepAlive for one request: renews lease `id` on the leader and resolves with its
   * granted TTL, or 0 if it does not exist (any more). Rejects ErrTimeout when no primary
   * answered in time, ErrCanceled / ErrStopped.
   */
  keepAlive(id: bigint, signal: AbortSignal): Promise<bigint> {
    return this.#route(
      signal,
      async (p, s) => BigInt(await p.renew(id, s)),
      async (leader, s, timeoutMs) => {
        const req = etcdserverpb.LeaseKeepAliveRequest.encode({ ID: id }).finish();
        const res = await this.#forwarder.forward(leader, FORWARD_KEEP_ALIVE, req, timeoutMs, s);
        return etcdserverpb.LeaseKeepAliveResponse.decode(res).TTL;
      },
    );
  }

  /** LeaseTimeToLive, answered by the leader: TTL -1 for an unknown lease. */
  timeToLive(id: bigint, keys: boolean, signal: AbortSignal): Promise<TimeToLiveAnswer> {
    return this.#route(
      signal,
      async (p) => this.#timeToLiveLocal(p, id, keys),
      async (leader, s, timeoutMs) => {
        const req = etcdserverpb.LeaseTimeToLiveRequest.encode({ ID: id, keys }).finish();
        const res = await this.#forwarder.forward(leader, FORWARD_TIME_TO_LIVE, req, timeoutMs, s);
        const { header: _, ...answer } = etcdserverpb.LeaseTimeToLiveResponse.decode(res);
        return answer;
      },
    );
  }

  /**
   * Serves a request another member forwarded (transport/forward.ts). Only a leader
   * serves them; anything else answers NotPrimaryError and the sender retries.
   */
  async handleForward(
    method: string,
    request: Uint8Array,
    signal: AbortSignal,
  ): Promise<Uint8Array> {
    switch (method) {
      case FORWARD_KEEP_ALIVE: {
        const { ID } = etcdserverpb.LeaseKeepAliveRequest.decode(request);
        const TTL = await this.#local(signal, async (p, s) => BigInt(await p.renew(ID, s)));
        return etcdserverpb.LeaseKeepAliveResponse.encode({ header: undefined, ID, TTL }).finish();
      }
      case FORWARD_TIME_TO_LIVE: {
        const { ID, keys } = etcdserverpb.LeaseTimeToLiveRequest.decode(request);
        const answer = await this.#local(signal, async (p) => this.#timeToLiveLocal(p, ID, keys));
        return etcdserverpb.LeaseTimeToLiveResponse.encode({
          header: undefined,
          ...answer,
        }).finish();
      }
      default:
        throw new EtcdError(status.UNIMPLEMENTED, `chainfire: unknown forwarded method ${method}`);
    }
  }

  #timeToLiveLocal(p: PrimaryLessor, id: bigint, keys: boolean): TimeToLiveAnswer {
    const t = p.timeToLive(id);
    if (t === undefined) return { ID: id, TTL: -1n, grantedTTL: 0n, keys: [] };
    return {
      ID: id,
      TTL: BigInt(t.ttl),
      grantedTTL: BigInt(t.grantedTtl),
      keys: keys ? this.#host.store.keysOfLease(id).map((k) => Buffer.from(k)) : [],
    };
  }

  /**
   * Runs `local` on the primary (this member, after a read barrier) or `remote` against
   * the leader, retrying across leader changes until the request timeout.
   */
  async #route<T>(
    signal: AbortSignal,
    local: (p: PrimaryLessor, signal: AbortSignal) => Promise<T>,
    remote: (leader: bigint, signal: AbortSignal, timeoutMs: number) => Promise<T>,
  ): Promise<T> {
    const deadline = performance.now() + this.options.requestTimeoutMs;
    const timeout = AbortSignal.timeout(this.options.requestTimeoutMs);
    // (Stopping needs no signal here: close() wakes and fails every wait.)
    const s = AbortSignal.any([signal, timeout]);
    for (;;) {
      this.#throwIfDone(signal, timeout);
      const h = this.#host;
      try {
        if (h.isLeader()) return await this.#local(s, local);
        const leader = h.leader();
        if (leader !== 0n && leader !== h.id) {
          return await remote(leader, s, Math.max(1, deadline - performance.now()));
        }
      } catch (err) {
        this.#throwIfDone(signal, timeout);
        if (!retryable(err)) throw err;
        this.#log.debug({ err: (err as Error).message }, "lease request: no primary; retrying");
      }
      await this.#waitChange(this.options.retryMs, s);
    }
  }

  /**
   * Runs `fn` on this member's primary once it is promoted; rejects NotPrimaryError if
   * this member does not lead (or stops leading before it could answer).
   */
  async #local<T>(
    signal: AbortSignal,
    fn: (p: PrimaryLessor, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const h = this.#host;
    for (;;) {
      if (this.#closed) throw new EtcdError(ErrStopped);
      if (signal.aborted) throw new EtcdError(ErrCanceled);
      if (!h.isLeader()) throw new NotPrimaryError();
      const term = h.term();
      await h.readBarrier(signal);
      const p = this.#primary;
      if (p !== null && p.term === term && h.isLeader() && h.term() === term) {
        return await fn(p, signal);
      }
      this.checkLeadership();
      await this.#waitChange(this.options.retryMs, signal);
    }
  }

  #throwIfDone(signal: AbortSignal, timeout: AbortSignal): void {
    if (this.#closed || this.#host.stopping.aborted) throw new EtcdError(ErrStopped);
    if (signal.aborted) throw new EtcdError(ErrCanceled);
    if (timeout.aborted) throw new EtcdError(ErrTimeout);
  }

  /** Resolves at the next leadership change or promotion, after `ms`, or on abort. */
  #waitChange(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#changed.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.#changed.add(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  #wake(): void {
    for (const f of [...this.#changed]) f();
  }
}

/**
 * Whether a failed attempt may be retried (until the caller's deadline): UNAVAILABLE
 * (no leader, leader changed, not primary, the leader unreachable or stopping) and
 * CANCELLED from the leader (its copy of our deadline ran out a moment before ours).
 */
function retryable(err: unknown): boolean {
  return (
    err instanceof EtcdError && (err.code === status.UNAVAILABLE || err.code === status.CANCELLED)
  );
}
