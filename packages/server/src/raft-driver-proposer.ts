/**
 * Proposals: from a client request to a raft entry and back to the client.
 *
 * A request gets a cluster-unique id (request-id.ts), is encoded as an InternalRequest and
 * proposed through the RawNode (a follower's raft forwards it to the leader); the caller
 * waits in the {@link WaitRegistry} until the apply path of THIS member triggers the id
 * (DESIGN rule 4). Conf changes work the same way with the id in the ConfChange.
 *
 * When no leader is known, or raft drops the proposal (a leadership transfer in progress),
 * the proposal is held and re-proposed after the next Ready that can take it — as etcd's
 * raft node blocks proposals while there is no leader — until the request timeout. A
 * request that is not applied in time fails with "etcdserver: request timed out" (or
 * "... possibly due to previous leader failure" when a new leader was elected meanwhile);
 * its entry may still be applied later, as in etcd.
 *
 * Backpressure (etcd answers "etcdserver: too many requests" when its applied index lags
 * the committed index by more than {@link MAX_APPLY_LAG} entries; we do the same, and
 * also bound what one member holds): a proposal is refused at once, before it gets a
 * waiter or reaches raft, when
 * - this member's applied index lags its committed index by more than 5000 entries, or
 * - {@link ProposerOptions.maxPending} proposals are already waiting here, or
 * - their encoded bytes plus this one would pass {@link ProposerOptions.maxPendingBytes}.
 * Held proposals (no leader yet) count as waiting, so a leaderless member's queue is
 * bounded too. Conf changes are never refused for load (they are rare and operator-made).
 *
 * Storage admission (storage-stall.ts): while RocksDB stalls writes
 * ({@link ProposerHost.writeStall}), a normal proposal waits here, in order, before it
 * reaches raft: while writes are stopped, or while the bytes proposed here and not yet
 * applied, this one included, would take more than STALL_WINDOW_S to write at the delayed
 * rate (each is written twice here: raft log, then apply). With nothing in flight one
 * proposal always goes (the driver's own gate then holds its write if it must). It is
 * re-checked every STALL_POLL_MS. Waiting proposals count as pending and keep their
 * request timeout. Without a stall nothing waits.
 */
import {
  ErrCanceled,
  ErrRequestTooLarge,
  ErrStopped,
  ErrTimeout,
  ErrTimeoutDueToLeaderFail,
  ErrTooManyRequests,
  EtcdError,
  internalpb,
} from "@chainfire/api";
import { type ConfChange, ProposalDroppedError } from "@chainfire/raft";
import type { WriteStall } from "@chainfire/storage";
import type { AppliedOutcome } from "./apply/applier.js";
import { requesterOf } from "./auth/member-auth.js";
import type { RaftDriver } from "./raft-driver.js";
import { RequestIdGenerator } from "./request-id.js";
import { STALL_POLL_MS, writeFits } from "./storage-stall.js";
import { WaitRegistry } from "./wait.js";

/** What the proposer needs from the member. */
export interface ProposerHost {
  /** The current driver. */
  driver(): RaftDriver;
  /** Whether a proposal can go to raft now (driver accepting, leader known). */
  canPropose(): boolean;
  /** When (performance.now()) the current leader was elected, 0 if none. */
  leaderElectedAt(): number;
  /** Proposal counters (etcd_server_proposals_*). */
  onFailed?(): void;
  /** This member's committed index minus its applied index. */
  applyLag(): number;
  /** The storage engine's write stall (Engine.writeStall); absent: never stalled. */
  writeStall?(): WriteStall;
}

/** A stall reading is reused for this long while proposals arrive. */
const STALL_CACHE_MS = 2;

/** etcd's maxGapBetweenApplyAndCommitIndex: more unapplied committed entries refuse writes. */
export const MAX_APPLY_LAG = 5000;

export interface ProposerOptions {
  memberId: bigint;
  requestTimeoutMs: number;
  electionTimeoutMs: number;
  maxRequestBytes: number;
  /** Most proposals waiting for their apply on this member (--max-pending-proposals). */
  maxPending: number;
  /** Most encoded bytes of those (--max-pending-proposal-bytes). */
  maxPendingBytes: number;
}

type Held =
  | { kind: "normal"; id: bigint; data: Uint8Array }
  | { kind: "conf"; id: bigint; cc: ConfChange };

/** A normal proposal waiting for storage admission; `waiting` false once out of the queue. */
interface Admission {
  item: Held;
  bytes: number;
  waiting: boolean;
}

const NO_STALL: WriteStall = { stopped: false, delayedRate: 0 };

export class Proposer {
  readonly wait = new WaitRegistry<unknown>();
  readonly #ids: RequestIdGenerator;
  readonly #host: ProposerHost;
  readonly #opts: ProposerOptions;
  #held: Held[] = [];
  #closed: Error | null = null;
  #pendingBytes = 0;
  /** Storage admission queue (module comment) and the bytes in it. */
  #admitting: Admission[] = [];
  #admittingBytes = 0;
  #admitTimer: NodeJS.Timeout | null = null;
  #stall: WriteStall = NO_STALL;
  #stallReadAt = Number.NEGATIVE_INFINITY;
  /** Proposals that waited for storage admission (a counter for tests and logs). */
  stallWaits = 0;

  constructor(host: ProposerHost, opts: ProposerOptions) {
    this.#host = host;
    this.#opts = opts;
    this.#ids = new RequestIdGenerator(opts.memberId);
  }

  /** A fresh cluster-unique id (also used for lease ids). */
  nextId(): bigint {
    return this.#ids.next();
  }

  /** Number of proposals waiting for their apply. */
  get pending(): number {
    return this.wait.size;
  }

  /** Encoded bytes of the normal proposals waiting for their apply. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Proposes one request; resolves with its apply result. See the module comment. */
  propose(request: internalpb.InternalRequest["request"], signal?: AbortSignal): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = this.#ids.next();
    // The requester of the call being served, if auth is on (auth/member-auth.ts runAs),
    // for the requests a client makes (the member's own proposals carry no user).
    const ai = requesterOf(request);
    const data = internalpb.InternalRequest.encode({
      header: { id, username: ai?.username ?? "", authRevision: ai?.revision ?? 0n },
      request,
    }).finish();
    if (data.length > this.#opts.maxRequestBytes) {
      return Promise.reject(new EtcdError(ErrRequestTooLarge));
    }
    if (
      this.wait.size >= this.#opts.maxPending ||
      this.#pendingBytes + data.length > this.#opts.maxPendingBytes ||
      this.#host.applyLag() > MAX_APPLY_LAG
    ) {
      this.#host.onFailed?.();
      return Promise.reject(new EtcdError(ErrTooManyRequests));
    }
    return this.#track({ kind: "normal", id, data }, signal, data.length);
  }

  /** Proposes a conf change (its `id` is set here); resolves with the apply result. */
  proposeConfChange(cc: Omit<ConfChange, "id">, signal?: AbortSignal): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = this.#ids.next();
    return this.#track({ kind: "conf", id, cc: { ...cc, id } }, signal);
  }

  /** Registers the waiter, the timeout and `bytes` of {@link pendingBytes}; submits. */
  #track(item: Held, signal: AbortSignal | undefined, bytes = 0): Promise<unknown> {
    if (signal?.aborted) return Promise.reject(new EtcdError(ErrCanceled));
    this.#pendingBytes += bytes;
    let admission: Admission | undefined;
    const started = performance.now();
    const p = this.wait.register(item.id);
    const timer = setTimeout(() => {
      if (this.wait.fail(item.id, this.#timeoutError(started))) this.#host.onFailed?.();
    }, this.#opts.requestTimeoutMs);
    timer.unref();
    const onAbort = () => {
      if (this.wait.fail(item.id, new EtcdError(ErrCanceled))) this.#host.onFailed?.();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    // In flight: proposed here and not yet applied (neither the waiting ones nor this one).
    const inFlight = this.#pendingBytes - this.#admittingBytes - bytes;
    if (
      item.kind === "normal" &&
      (this.#admitting.length > 0 || !this.#admissible(bytes, inFlight, false))
    ) {
      admission = { item, bytes, waiting: true };
      this.#admitting.push(admission);
      this.#admittingBytes += bytes;
      this.stallWaits++;
      this.#armAdmission();
    } else {
      this.#submit(item);
    }
    return p.finally(() => {
      this.#pendingBytes -= bytes;
      if (admission?.waiting) {
        admission.waiting = false;
        this.#admittingBytes -= bytes;
      }
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    });
  }

  /** Whether a proposal of `bytes` may go to raft now, with `inFlight` bytes in flight. */
  #admissible(bytes: number, inFlight: number, fresh: boolean): boolean {
    const read = this.#host.writeStall;
    if (read === undefined) return true;
    const now = performance.now();
    if (fresh || now - this.#stallReadAt >= STALL_CACHE_MS) {
      this.#stall = read();
      this.#stallReadAt = now;
    }
    // Each proposal is written twice on this member (raft log, then its apply).
    return inFlight <= 0 ? !this.#stall.stopped : writeFits(this.#stall, 2 * (inFlight + bytes));
  }

  #armAdmission(): void {
    if (this.#admitTimer !== null) return;
    this.#admitTimer = setTimeout(() => {
      this.#admitTimer = null;
      this.#admitWaiting();
    }, STALL_POLL_MS);
    this.#admitTimer.unref();
  }

  /** Lets waiting proposals through, in order, as far as the stall allows. */
  #admitWaiting(): void {
    let fresh = true;
    while (this.#admitting.length > 0) {
      const a = this.#admitting[0];
      if (!a.waiting) {
        this.#admitting.shift(); // failed (timeout, cancel) while it waited
        continue;
      }
      const inFlight = this.#pendingBytes - this.#admittingBytes;
      if (!this.#admissible(a.bytes, inFlight, fresh)) break;
      fresh = false;
      this.#admitting.shift();
      a.waiting = false;
      this.#admittingBytes -= a.bytes;
      this.#submit(a.item);
    }
    if (this.#admitting.length > 0) this.#armAdmission();
  }

  #timeoutError(started: number): EtcdError {
    const elected = this.#host.leaderElectedAt();
    const window = 2 * this.#opts.electionTimeoutMs;
    if (elected > 0 && started > elected - window && started < elected) {
      return new EtcdError(ErrTimeoutDueToLeaderFail);
    }
    return new EtcdError(ErrTimeout);
  }

  #submit(item: Held): void {
    if (!this.#host.canPropose()) {
      this.#held.push(item);
      return;
    }
    const driver = this.#host.driver();
    try {
      if (item.kind === "normal") driver.propose(item.data);
      else {
        driver.node.proposeConfChange(item.cc);
        driver.schedule();
      }
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err;
      this.#held.push(item);
    }
  }

  /** Re-proposes held proposals if raft can take them now (after each Ready). */
  flush(): void {
    if (this.#held.length === 0 || !this.#host.canPropose()) return;
    const items = this.#held;
    this.#held = [];
    for (const item of items) {
      if (this.wait.has(item.id)) this.#submit(item);
    }
  }

  /** Hands applied outcomes to their waiters (those proposed by this member). */
  onApplied(outcomes: readonly AppliedOutcome[]): void {
    for (const o of outcomes) this.wait.trigger(o.id, o.outcome);
  }

  /** Fails every waiting proposal with `err` (they may still be applied). */
  failAll(err: Error): void {
    this.#held = [];
    for (const a of this.#admitting) a.waiting = false;
    this.wait.failAll(err);
    this.#admitting = [];
    this.#admittingBytes = 0;
    if (this.#admitTimer !== null) clearTimeout(this.#admitTimer);
    this.#admitTimer = null;
  }

  /** Fails everything with ErrStopped; later proposals fail at once. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = new EtcdError(ErrStopped);
    this.failAll(this.#closed);
  }
}
