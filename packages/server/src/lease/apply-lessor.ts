/**
 * Applying what the leader's lessor proposed (internalpb.LessorRequest): revocations of
 * expired leases and remaining-TTL checkpoints, in the Ready's one MVCC write (DESIGN
 * rule 3). Called by the applier (apply/applier.ts) for the `lessor` request kind.
 *
 * Deposed-leader safety: the request carries the term in which its leader decided it and
 * is applied only from a log entry of that same term. A leader appends its own proposals
 * with its current term, so the check passes for everything it proposed while it led.
 * It fails for a decision that reaches the log later, in another term — a proposal the
 * old leader's member held and re-proposed after losing leadership, or that its raft
 * forwarded to the new leader — and that decision is then skipped on every member alike
 * (the entry's term is part of the log, so the outcome is deterministic). Entries of the
 * old term that do commit are applied before the new leader takes over expiry (it
 * promotes only once it has applied an entry of its own term), and the old leader had
 * stopped renewing those leases when it proposed their expiry.
 */
import { ErrLeaderChanged, EtcdError, type etcdserverpb, type internalpb } from "@chainfire/api";
import { type LeaseStore, type MvccWrite, revokeLease } from "@chainfire/storage";

/** etcd's MaxLeaseTTL in seconds (a checkpoint above it is ignored, as in the applier). */
const MAX_LEASE_TTL = 9_000_000_000n;

/**
 * What the lessor learns from the apply path: the leader keeps an expiry for every lease
 * and must see grants and revocations as they are applied (see lease/lessor.ts). Called
 * during the apply of the entry, before its batch is written.
 */
export interface LeaseApplyHooks {
  granted(id: bigint, ttl: number): void;
  revoked(id: bigint): void;
}

/** What applying a LessorRequest needs (a subset of the applier's ApplyEnv). */
export interface LessorApplyEnv {
  readonly leases: LeaseStore;
  header(revision: bigint): etcdserverpb.ResponseHeader;
  readonly leaseHooks?: LeaseApplyHooks;
}

/** The apply result of a LessorRequest. */
export interface LessorApplyResult {
  header: etcdserverpb.ResponseHeader;
  /** The expired leases revoked (those that still existed). */
  revoked: bigint[];
}

/**
 * Applies `req` from an entry of term `entryTerm`. Throws ErrLeaderChanged, changing
 * nothing, when the request was decided in another term (see the module comment).
 */
export function applyLessorRequest(
  env: LessorApplyEnv,
  w: MvccWrite,
  req: internalpb.LessorRequest,
  entryTerm: number,
): LessorApplyResult {
  if (req.term !== BigInt(entryTerm)) throw new EtcdError(ErrLeaderChanged);
  const revoked: bigint[] = [];
  for (const id of req.expired) {
    if (!env.leases.has(id)) continue;
    revokeLease(w, env.leases, id);
    env.leaseHooks?.revoked(id);
    revoked.push(id);
  }
  for (const cp of req.checkpoints) {
    const remaining = cp.remainingTTL < 0n ? 0n : cp.remainingTTL;
    if (remaining > MAX_LEASE_TTL) continue;
    env.leases.checkpoint(w.batch, cp.ID, Number(remaining));
  }
  return { header: env.header(w.revision), revoked };
}
