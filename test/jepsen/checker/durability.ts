/**
 * Durability of acknowledged writes: after every member was killed with SIGKILL and
 * restarted, each key still holds its last acknowledged write or a later one — on every
 * member. (The linearizability check sees the same reads; this check says it plainly.)
 */
import { describeOp, type Op, wroteOk } from "../history.js";

/** A key whose post-restart read on some member lost acknowledged data. */
export interface DurabilityViolation {
  key: string;
  member: number;
  message: string;
}

/**
 * Checks reads taken after the restart (`after`, ok gets) against the acknowledged
 * writes of `history`. Keys with acknowledged deletes are skipped (the workloads using
 * this check never delete). Returns violations; reads that failed are reported too.
 */
export function checkDurability(
  history: readonly Op[],
  after: readonly Op[],
): DurabilityViolation[] {
  const lastAcked = new Map<string, Op>();
  const deleted = new Set<string>();
  for (const op of history) {
    if (!wroteOk(op)) continue;
    if (op.f === "del") deleted.add(op.key);
    const prior = lastAcked.get(op.key);
    if (!prior || op.rev! > prior.rev!) lastAcked.set(op.key, op);
  }
  const violations: DurabilityViolation[] = [];
  for (const read of after) {
    if (read.f !== "get" || deleted.has(read.key)) continue;
    if (read.status !== "ok") {
      violations.push({
        key: read.key,
        member: read.member,
        message: `n${read.member + 1} could not be read after the restart: ${read.error}`,
      });
      continue;
    }
    const acked = lastAcked.get(read.key);
    if (acked && (read.readModRev ?? 0) < acked.rev!) {
      violations.push({
        key: read.key,
        member: read.member,
        message: `acknowledged write lost on n${read.member + 1}: ${describeOp(acked)}; after the restart ${describeOp(read)}`,
      });
    }
  }
  return violations;
}
