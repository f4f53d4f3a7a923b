/**
 * Revision invariants of an etcd history, checked across keys (the linearizability
 * check looks at one key at a time and so cannot see them):
 *
 * 1. unique: two successful writes never share a revision (each is its own txn);
 * 2. monotonic: if operation A completed before B was invoked, B's header revision is
 *    at least A's, and strictly greater when B is a successful write (the store's
 *    revision never goes backwards in real time, across members and restarts);
 * 3. reads agree with writes: a read with header revision H that saw (v, m) on key k
 *    has m <= H; the write that produced revision m on k (if it is known) wrote v; and no
 *    successful write on k has a revision in (m, H] (for an absent key: the last write at
 *    or below H, if any, was a delete);
 * 4. compare-and-set agrees with writes: a cas that succeeded at revision r expecting m
 *    means no successful write on the key has a revision in (m, r).
 */
import { describeOp, type Op, wroteOk } from "../history.js";

/** One violated invariant. */
export interface RevisionViolation {
  rule: "unique" | "monotonic" | "read" | "cas";
  message: string;
}

/** Checks the invariants above; returns every violation (at most `limit`). */
export function checkRevisions(history: readonly Op[], limit = 20): RevisionViolation[] {
  const violations: RevisionViolation[] = [];
  const add = (v: RevisionViolation) => {
    if (violations.length < limit) violations.push(v);
  };
  const ok = history.filter((op) => op.status === "ok" && op.rev !== undefined);

  // 1. unique
  const writers = new Map<number, Op>();
  for (const op of ok) {
    if (!wroteOk(op)) continue;
    const other = writers.get(op.rev!);
    if (other) {
      add({
        rule: "unique",
        message: `two writes at revision ${op.rev}: ${describeOp(other)} and ${describeOp(op)}`,
      });
    } else {
      writers.set(op.rev!, op);
    }
  }

  // 2. monotonic: sweep invokes in time order, folding in everything completed before.
  const byInvoke = [...ok].sort((a, b) => a.invoke - b.invoke);
  const byComplete = [...ok].sort((a, b) => a.complete! - b.complete!);
  let done = 0;
  let max: Op | undefined;
  for (const op of byInvoke) {
    while (done < byComplete.length && byComplete[done].complete! < op.invoke) {
      const c = byComplete[done++];
      if (!max || c.rev! > max.rev!) max = c;
    }
    if (!max) continue;
    const write = wroteOk(op);
    if (op.rev! < max.rev! || (write && op.rev! === max.rev!)) {
      add({
        rule: "monotonic",
        message: `revision went backwards in real time: ${describeOp(max)} completed before ${describeOp(op)} began`,
      });
    }
  }

  // 3 and 4, per key.
  const writesByKey = new Map<string, Op[]>();
  for (const op of ok) {
    if (!wroteOk(op)) continue;
    let list = writesByKey.get(op.key);
    if (!list) writesByKey.set(op.key, (list = []));
    list.push(op);
  }
  for (const list of writesByKey.values()) list.sort((a, b) => a.rev! - b.rev!);
  const writeIn = (key: string, low: number, high: number): Op | undefined =>
    writesByKey.get(key)?.find((w) => w.rev! > low && w.rev! <= high);
  for (const op of ok) {
    const observed = op.f === "get" || (op.f === "cas" && op.succeeded === false);
    if (observed) {
      const m = op.readModRev ?? 0;
      if (m > op.rev!) {
        add({ rule: "read", message: `read a mod_revision above its header: ${describeOp(op)}` });
        continue;
      }
      const writer = writers.get(m);
      if (m > 0 && writer && (writer.key !== op.key || writer.value !== op.read)) {
        add({
          rule: "read",
          message: `read ${JSON.stringify(op.read)} at mod_revision ${m}, but ${describeOp(writer)}: ${describeOp(op)}`,
        });
      }
      const latest = lastWriteUpTo(op.key, op.rev!, writesByKey);
      const missed = m > 0 ? writeIn(op.key, m, op.rev!) : latest?.f === "del" ? undefined : latest;
      if (missed) {
        add({
          rule: "read",
          message: `stale read: ${describeOp(op)} did not see ${describeOp(missed)}`,
        });
      }
    } else if (op.f === "cas" && op.succeeded) {
      const between = writeIn(op.key, op.expect!, op.rev! - 1);
      if (between) {
        add({
          rule: "cas",
          message: `compare-and-set succeeded over a newer write: ${describeOp(op)} despite ${describeOp(between)}`,
        });
      }
    }
  }
  return violations;
}

function lastWriteUpTo(key: string, rev: number, writesByKey: Map<string, Op[]>): Op | undefined {
  let last: Op | undefined;
  for (const w of writesByKey.get(key) ?? []) {
    if (w.rev! > rev) break;
    last = w;
  }
  return last;
}
