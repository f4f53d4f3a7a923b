/**
 * Watch guarantees, checked against the final history (a watch from revision 1 on every
 * member after the run, which must agree):
 *
 * - the history itself: revisions strictly increase, prev_kv of each event is the key's
 *   previous event (or absent after none or a delete), and every acknowledged write of
 *   the client history is in it at its revision with its value;
 * - each watcher, across its resumptions: ordered and unique (revisions strictly
 *   increase), every event equal to the history's at that revision (key, type, value,
 *   prev_kv), no gaps (from the first revision it was owed, every event of the history
 *   in order) and no loss at the tail (it reached the final revision).
 *
 * The workloads write one key per revision, so "atomic per revision" is one event per
 * revision here; multi-key transactions would need events grouped by revision.
 */
import { describeOp, type Op, wroteOk } from "../history.js";
import { lastRevision, type WatchEvent, type WatcherLog } from "../workloads/watch.js";

/** Checks watchers and histories; returns violations (at most `limit`). */
export function checkWatch(input: {
  /** The final history as each member told it. */
  histories: WatchEvent[][];
  watchers: WatcherLog[];
  /** The client history (acknowledged writes must be in the watch history). */
  ops: readonly Op[];
  prefix: string;
  /** The revision of the last write (the sentinel); every watcher must reach it. */
  finalRev: number;
  limit?: number;
}): string[] {
  const violations: string[] = [];
  const limit = input.limit ?? 20;
  const add = (v: string) => {
    if (violations.length < limit) violations.push(v);
  };
  const truth = input.histories[0] ?? [];
  input.histories.forEach((h, member) => {
    const diff = firstDifference(truth, h);
    if (diff) add(`members disagree on the history: n1 and n${member + 1} ${diff}`);
  });

  // The history.
  const byRev = new Map<number, WatchEvent>();
  const last = new Map<string, WatchEvent>();
  let previous = 0;
  for (const event of truth) {
    if (event.rev <= previous) add(`history: revision ${event.rev} after ${previous}`);
    previous = event.rev;
    byRev.set(event.rev, event);
    const before = last.get(event.key);
    const expected =
      before && before.type === "put" ? { value: before.value, modRev: before.modRev } : null;
    if (!sameJson(event.prev, expected)) {
      add(
        `history: prev_kv of ${describe(event)} is ${JSON.stringify(event.prev)}, the key's previous event says ${JSON.stringify(expected)}`,
      );
    }
    last.set(event.key, event);
  }
  for (const op of input.ops) {
    if (!wroteOk(op) || !op.key.startsWith(input.prefix)) continue;
    const event = byRev.get(op.rev!);
    if (!event || event.key !== op.key || (op.f !== "del" && event.value !== op.value)) {
      add(
        `acknowledged write not in the watch history as acknowledged: ${describeOp(op)}; history has ${event ? describe(event) : "nothing"} at ${op.rev}`,
      );
    }
  }

  // Each watcher against the history.
  const index = new Map(truth.map((e, i) => [e.rev, i]));
  for (const w of input.watchers) {
    for (const p of w.problems) add(`watcher ${w.id}: ${p}`);
    let expectedAt = truth.findIndex((e) => e.rev >= w.from);
    if (expectedAt < 0) expectedAt = truth.length;
    let prev = 0;
    const seen = new Set<number>();
    for (const event of w.events) {
      if (event.rev <= prev) {
        const what = seen.has(event.rev) ? "duplicate" : "out of order";
        add(`watcher ${w.id}: ${what} event ${describe(event)} after revision ${prev}`);
        continue;
      }
      seen.add(event.rev);
      prev = event.rev;
      const at = index.get(event.rev);
      if (at === undefined) {
        add(`watcher ${w.id}: event ${describe(event)} is not in the history`);
        continue;
      }
      if (!sameJson(event, truth[at])) {
        add(
          `watcher ${w.id}: event ${describe(event)} differs from the history's ${describe(truth[at])} (prev_kv ${JSON.stringify(event.prev)} vs ${JSON.stringify(truth[at].prev)})`,
        );
      }
      if (at > expectedAt) {
        const missed = truth.slice(expectedAt, at);
        add(
          `watcher ${w.id}: gap — missed ${missed.length} event(s) ${missed.slice(0, 3).map(describe).join(", ")}${missed.length > 3 ? ", …" : ""} before ${describe(event)} (streams: ${describeStreams(w)})`,
        );
      }
      expectedAt = at + 1;
    }
    if (lastRevision(w) < input.finalRev) {
      add(
        `watcher ${w.id}: stopped at revision ${lastRevision(w)}, never saw the final write at ${input.finalRev} (streams: ${describeStreams(w)})`,
      );
    }
  }
  return violations;
}

function describe(e: WatchEvent): string {
  return `${e.type} ${e.key}=${JSON.stringify(e.value)}@${e.rev}`;
}

function describeStreams(w: WatcherLog): string {
  return w.streams
    .map(
      (s) =>
        `n${s.member + 1} from ${s.from} at ${(s.at / 1000).toFixed(1)} s${s.end ? ` (${s.end})` : ""}`,
    )
    .join("; ");
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function firstDifference(a: WatchEvent[], b: WatchEvent[]): string | undefined {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (!sameJson(a[i], b[i])) {
      return `differ at event ${i}: ${a[i] ? describe(a[i]) : "end"} vs ${b[i] ? describe(b[i]) : "end"}`;
    }
  }
  return undefined;
}
