/**
 * The lessor's tuning, its time source, and etcd's TTL bounds.
 */

/** A monotonic millisecond clock (never wall time: a clock step must not expire leases). */
export interface Clock {
  now(): number;
}

/** performance.now(): monotonic. */
export const MONOTONIC_CLOCK: Clock = { now: () => performance.now() };

/** A clock tests move by hand. */
export class FakeClock implements Clock {
  #now: number;
  constructor(start = 1_000_000) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  advance(ms: number): void {
    this.#now += ms;
  }
}

export interface LessorOptions {
  /** The time source. Default {@link MONOTONIC_CLOCK}. */
  clock: Clock;
  /** How often the leader looks for expired leases and due checkpoints (etcd: 500 ms). */
  tickMs: number;
  /**
   * How often the leader records a lease's remaining TTL through the log, so a new
   * leader continues from there instead of the full TTL (etcd's
   * --experimental-lease-checkpoint-interval, default 5 min). Leases whose remaining TTL
   * is shorter than this are not checkpointed (a new leader gives them their full TTL,
   * which is never earlier). 0 turns checkpoints off.
   */
  checkpointIntervalMs: number;
  /** Revocations proposed per second at most (etcd's leaseRevokeRate: 1000). */
  revokeRate: number;
  /** Checkpoints per log entry at most (etcd's maxLeaseCheckpointBatchSize: 1000). */
  maxCheckpointBatch: number;
  /**
   * An expired lease whose revocation was proposed but not applied is proposed again
   * after this long (etcd: the request timeout).
   */
  expiredRetryMs: number;
  /**
   * What a new leader adds to every lease's remaining TTL (etcd's Promote: one election
   * timeout), covering the time the previous leader may still have renewed leases.
   */
  promoteExtendMs: number;
  /** How long a keep-alive or TimeToLive may take, forwarding and retries included. */
  requestTimeoutMs: number;
  /** Pause between attempts to reach the primary lessor (no leader yet, leader changing). */
  retryMs: number;
}

/** The defaults for a member with these raft timings (etcd's values). */
export function defaultLessorOptions(timing: {
  heartbeatIntervalMs: number;
  electionTimeoutMs: number;
}): LessorOptions {
  const requestTimeoutMs = 5_000 + 2 * timing.electionTimeoutMs;
  return {
    clock: MONOTONIC_CLOCK,
    tickMs: 500,
    checkpointIntervalMs: 5 * 60_000,
    revokeRate: 1000,
    maxCheckpointBatch: 1000,
    expiredRetryMs: requestTimeoutMs,
    promoteExtendMs: timing.electionTimeoutMs,
    requestTimeoutMs,
    retryMs: Math.max(10, Math.min(100, timing.heartbeatIntervalMs)),
  };
}

/**
 * The smallest TTL granted, in seconds; shorter requests are raised to it. etcd's
 * (server.go): `(3 * electionTicks) / 2` heartbeats, rounded up to whole seconds, with
 * electionTicks = election timeout / heartbeat in integer arithmetic (2 s with the
 * defaults 100 ms / 1000 ms). Every member must compute the same value (it is applied).
 */
export function minLeaseTtl(heartbeatIntervalMs: number, electionTimeoutMs: number): number {
  const electionTicks = Math.floor(electionTimeoutMs / heartbeatIntervalMs);
  const minTtlMs = Math.floor((3 * electionTicks) / 2) * heartbeatIntervalMs;
  return Math.max(1, Math.ceil(minTtlMs / 1000));
}
