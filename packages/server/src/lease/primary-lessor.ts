/**
 * PrimaryLessor: the lessor's state while this member leads one raft term (etcd calls
 * the leader's lessor "primary"). It exists from the promotion (see lessor.ts: once the
 * new leader has applied an entry of its own term) until the demotion, and is never
 * reused for another term.
 *
 * - Every lease has an expiry on the lessor's monotonic clock. At promotion it is
 *   `now + promoteExtendMs + remaining`, remaining being the last checkpointed TTL or, if
 *   none, the full TTL (etcd's Promote); a grant applied later starts at `now + TTL`; a
 *   keep-alive sets `now + TTL`.
 * - {@link tick} (every tickMs) collects expired leases (at most revokeRate per second)
 *   and due checkpoints, and {@link flush} proposes them as ONE LessorRequest bound to
 *   this term (see apply-lessor.ts). Proposals go one at a time, in order: the next is
 *   proposed once the previous one was applied or failed, so a checkpoint can never be
 *   applied after a later one of the same lease.
 * - An expired lease is revoked only through the log. Until its revocation is applied it
 *   cannot be renewed (a keep-alive waits for the revocation — answered "not found" — or
 *   for the demotion — retried with the next leader), and its revocation is proposed
 *   again after expiredRetryMs if it did not happen.
 * - Checkpoints (every checkpointIntervalMs for leases that live longer than that) record
 *   the remaining TTL, rounded up. A keep-alive of a lease with a recorded (or in-flight)
 *   checkpoint proposes a reset (remaining 0 = "full TTL") and answers only once it is
 *   applied — etcd's Renew does the same — so a renewal the client saw always survives
 *   a leader change: the next leader starts the lease from its full TTL plus the
 *   extension, never from a checkpoint older than the renewal.
 */
import { ErrCanceled, EtcdError, type internalpb } from "@chainfire/api";
import type { LeaseRecord } from "@chainfire/storage";
import { status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { LeaseQueue } from "./lease-queue.js";
import type { LessorOptions } from "./options.js";

/** What the primary needs from the member. */
export interface PrimaryHost {
  /** The lease table as applied on this member (read only). */
  leases(): { get(id: bigint): LeaseRecord | undefined };
  /** Proposes a LessorRequest; resolves once applied here, rejects if it failed. */
  propose(request: internalpb.LessorRequest): Promise<unknown>;
  readonly logger: Logger;
}

const NOT_PRIMARY = "chainfire: not the primary lessor";

/** Thrown when the lessor stopped being primary (the caller retries with the new leader). */
export class NotPrimaryError extends EtcdError {
  constructor() {
    // UNAVAILABLE: retryable, like etcd's ErrNotPrimary which makes it forward/retry.
    super(status.UNAVAILABLE, NOT_PRIMARY);
  }
}

/** Whether `err` is {@link NotPrimaryError}, also after a trip over the peer protocol. */
export function isNotPrimary(err: unknown): boolean {
  return err instanceof EtcdError && err.code === status.UNAVAILABLE && err.message === NOT_PRIMARY;
}

interface LeaseState {
  readonly id: bigint;
  /** Granted TTL in seconds. */
  readonly ttl: number;
  /** Milliseconds on the lessor's clock. */
  expiry: number;
  /** Its revocation was proposed (it expired); it cannot be renewed any more. */
  revoking: boolean;
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

/** Time to live of one lease as the primary knows it. */
export interface LeaseTimeToLive {
  /** Whole seconds left (truncated, as etcd), never below 0. */
  ttl: number;
  grantedTtl: number;
}

export class PrimaryLessor {
  readonly term: bigint;
  readonly #host: PrimaryHost;
  readonly #o: LessorOptions;
  readonly #leases = new Map<bigint, LeaseState>();
  readonly #expiries = new LeaseQueue();
  readonly #checkpoints = new LeaseQueue();
  /** Keep-alives of expired leases, waiting for the revocation. */
  readonly #revokeWaiters = new Map<bigint, Set<Waiter>>();
  /** Decided but not yet proposed: expired leases and checkpoints (true: a reset to 0). */
  readonly #pendingExpired = new Set<bigint>();
  readonly #pendingCheckpoints = new Map<bigint, boolean>();
  /** Keep-alives waiting for a reset of their lease that is not proposed yet. */
  readonly #resetWaiters = new Map<bigint, Set<Waiter>>();
  /**
   * The proposal in flight: the leases with a non-zero checkpoint or a reset in it, and
   * the keep-alives waiting for it.
   */
  #inflight: { nonZero: Set<bigint>; resets: Set<bigint>; waiters: Set<Waiter> } | null = null;
  #closed = false;

  /** Promotion: every lease of `records` gets `now + extend + remaining` (etcd's Promote). */
  constructor(
    host: PrimaryHost,
    options: LessorOptions,
    term: bigint,
    records: readonly LeaseRecord[],
  ) {
    this.#host = host;
    this.#o = options;
    this.term = term;
    const now = options.clock.now();
    for (const r of records) {
      const remaining = r.remainingTtl > 0 ? Math.min(r.remainingTtl, r.ttl) : r.ttl;
      this.#add(r.id, r.ttl, now + options.promoteExtendMs + remaining * 1000, now);
    }
  }

  get size(): number {
    return this.#leases.size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** A grant was applied: the lease lives TTL from now. */
  granted(id: bigint, ttl: number): void {
    if (this.#closed) return;
    const now = this.#o.clock.now();
    this.#add(id, ttl, now + ttl * 1000, now);
  }

  /** A revocation (by a client or by expiry) was applied. */
  revoked(id: bigint): void {
    this.#leases.delete(id);
    this.#expiries.delete(id);
    this.#checkpoints.delete(id);
    this.#pendingExpired.delete(id);
    this.#pendingCheckpoints.delete(id);
    const waiters = this.#revokeWaiters.get(id);
    this.#revokeWaiters.delete(id);
    for (const w of waiters ?? []) w.resolve();
    // Resets of a revoked lease are moot; their keep-alives answer "not found".
    const resets = this.#resetWaiters.get(id);
    this.#resetWaiters.delete(id);
    for (const w of resets ?? []) w.resolve();
  }

  /**
   * Renews lease `id` (the caller confirmed leadership first). Resolves with its granted
   * TTL, or 0 when the lease does not exist or expired. Rejects NotPrimaryError when
   * demoted meanwhile.
   */
  async renew(id: bigint, signal: AbortSignal): Promise<number> {
    this.#assertOpen();
    const l = this.#leases.get(id);
    if (l === undefined) return 0;
    const now = this.#o.clock.now();
    if (l.revoking || l.expiry <= now) {
      await wait(registry(this.#revokeWaiters, id), signal);
      this.#assertOpen();
      return 0;
    }
    l.expiry = now + l.ttl * 1000;
    this.#expiries.set(id, l.expiry);
    this.#scheduleCheckpoint(l, now);
    const reset = this.#reset(id, signal);
    if (reset !== undefined) {
      await reset;
      this.#assertOpen();
      if (!this.#leases.has(id)) return 0;
    }
    return l.ttl;
  }

  /**
   * If a checkpoint of `id` is recorded or on its way into the log, makes sure a reset
   * (remaining 0) follows it and resolves once that reset is applied.
   */
  #reset(id: bigint, signal: AbortSignal): Promise<void> | undefined {
    const f = this.#inflight;
    if (f?.resets.has(id)) return wait(f.waiters, signal);
    const recorded = this.#host.leases().get(id)?.remainingTtl ?? 0;
    if (recorded === 0 && !f?.nonZero.has(id)) return undefined;
    this.#pendingCheckpoints.set(id, true);
    const p = wait(registry(this.#resetWaiters, id), signal);
    this.flush();
    return p;
  }

  /** What TimeToLive answers for `id` (the caller confirmed leadership first). */
  timeToLive(id: bigint): LeaseTimeToLive | undefined {
    this.#assertOpen();
    const l = this.#leases.get(id);
    if (l === undefined) return undefined;
    const left = Math.max(0, Math.floor((l.expiry - this.#o.clock.now()) / 1000));
    return { ttl: Math.min(left, l.ttl), grantedTtl: l.ttl };
  }

  /** The expiry of `id` on the lessor's clock (tests, metrics). */
  expiryOf(id: bigint): number | undefined {
    return this.#leases.get(id)?.expiry;
  }

  /**
   * Collects expired leases (rate-limited) and due checkpoints, then proposes them
   * (see the module comment).
   */
  tick(): void {
    if (this.#closed) return;
    const now = this.#o.clock.now();
    const limit = Math.max(1, Math.floor((this.#o.revokeRate * this.#o.tickMs) / 1000));
    let found = 0;
    for (let top = this.#expiries.peek(); top !== undefined && top.time <= now; ) {
      if (found >= limit) break;
      const l = this.#leases.get(top.id);
      if (l === undefined) {
        this.#expiries.delete(top.id);
      } else {
        // Look again after the retry interval, in case the revocation does not happen.
        this.#expiries.set(l.id, now + this.#o.expiredRetryMs);
        l.revoking = true;
        this.#pendingExpired.add(l.id);
        this.#pendingCheckpoints.delete(l.id);
        found++;
      }
      top = this.#expiries.peek();
    }
    for (let top = this.#checkpoints.peek(); top !== undefined && top.time <= now; ) {
      this.#checkpoints.pop();
      const l = this.#leases.get(top.id);
      if (l !== undefined && !l.revoking) {
        if (!this.#pendingCheckpoints.has(l.id)) this.#pendingCheckpoints.set(l.id, false);
        this.#scheduleCheckpoint(l, now);
      }
      top = this.#checkpoints.peek();
    }
    this.flush();
  }

  /** Proposes what is pending, unless a proposal is in flight (one at a time, in order). */
  flush(): void {
    if (this.#closed || this.#inflight !== null) return;
    if (this.#pendingExpired.size === 0 && this.#pendingCheckpoints.size === 0) return;
    const now = this.#o.clock.now();
    const max = this.#o.maxCheckpointBatch;
    const expired: bigint[] = [];
    for (const id of this.#pendingExpired) {
      if (expired.length >= max) break;
      this.#pendingExpired.delete(id);
      if (this.#leases.has(id)) expired.push(id);
    }
    const checkpoints: { ID: bigint; remainingTTL: bigint }[] = [];
    const nonZero = new Set<bigint>();
    const resets = new Set<bigint>();
    const waiters = new Set<Waiter>();
    for (const [id, reset] of this.#pendingCheckpoints) {
      if (checkpoints.length >= max) break;
      this.#pendingCheckpoints.delete(id);
      const l = this.#leases.get(id);
      if (l === undefined) continue;
      if (reset) {
        checkpoints.push({ ID: id, remainingTTL: 0n });
        resets.add(id);
        for (const w of this.#resetWaiters.get(id) ?? []) waiters.add(w);
        this.#resetWaiters.delete(id);
        continue;
      }
      if (l.revoking || l.expiry <= now) continue;
      const remaining = Math.ceil((l.expiry - now) / 1000);
      if (remaining >= l.ttl) continue; // the full TTL: nothing worth recording
      checkpoints.push({ ID: id, remainingTTL: BigInt(remaining) });
      nonZero.add(id);
    }
    if (expired.length === 0 && checkpoints.length === 0) {
      this.flush();
      return;
    }
    this.#inflight = { nonZero, resets, waiters };
    this.#host.propose({ term: this.term, expired, checkpoints }).then(
      () => {
        this.#inflight = null;
        for (const w of waiters) w.resolve();
        this.flush();
      },
      (err: unknown) => {
        this.#inflight = null;
        if (!this.#closed) {
          this.#host.logger.warn(
            {
              err: (err as Error).message,
              expired: expired.length,
              checkpoints: checkpoints.length,
            },
            "lessor: proposing expiries/checkpoints failed (expiries are retried)",
          );
        }
        for (const w of waiters) w.reject(err as Error);
        this.flush();
      },
    );
  }

  /** Demotion: nothing more is proposed; waiting keep-alives retry with the new leader. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const err = new NotPrimaryError();
    for (const set of this.#revokeWaiters.values()) for (const w of set) w.reject(err);
    for (const set of this.#resetWaiters.values()) for (const w of set) w.reject(err);
    for (const w of this.#inflight?.waiters ?? []) w.reject(err);
    this.#revokeWaiters.clear();
    this.#resetWaiters.clear();
    this.#pendingExpired.clear();
    this.#pendingCheckpoints.clear();
    this.#expiries.clear();
    this.#checkpoints.clear();
  }

  #add(id: bigint, ttl: number, expiry: number, now: number): void {
    const l: LeaseState = { id, ttl, expiry, revoking: false };
    this.#leases.set(id, l);
    this.#expiries.set(id, expiry);
    this.#checkpoints.delete(id);
    this.#scheduleCheckpoint(l, now);
  }

  /** etcd's scheduleCheckpointIfNeeded: only leases that outlive the interval. */
  #scheduleCheckpoint(l: LeaseState, now: number): void {
    const every = this.#o.checkpointIntervalMs;
    if (every <= 0 || this.#checkpoints.has(l.id)) return;
    if (l.expiry - now > every) this.#checkpoints.set(l.id, now + every);
  }

  #assertOpen(): void {
    if (this.#closed) throw new NotPrimaryError();
  }
}

/** The waiter set of `id` in `map`, created if missing. */
function registry(map: Map<bigint, Set<Waiter>>, id: bigint): Set<Waiter> {
  let set = map.get(id);
  if (set === undefined) map.set(id, (set = new Set()));
  return set;
}

/** Joins `set` until resolved or rejected (removing itself), or until `signal` aborts. */
function wait(set: Set<Waiter>, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = () => {
      set.delete(w);
      signal.removeEventListener("abort", onAbort);
    };
    const w: Waiter = {
      resolve: () => {
        done();
        resolve();
      },
      reject: (err) => {
        done();
        reject(err);
      },
    };
    const onAbort = () => w.reject(new EtcdError(ErrCanceled));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    set.add(w);
  });
}
