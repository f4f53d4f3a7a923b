/**
 * Checks a k8s run (workloads/k8s.ts) against the reference history (the historian's
 * watch of the prefix from revision 1, which every member's replay after the restart
 * must agree with):
 *
 * - history: revisions strictly increase (every write is one key); each event's prev_kv
 *   is the replayed previous state; every put was attempted by a client with that value
 *   (create: key absent before; update: prev mod_revision = the expected one); every
 *   delete is a client's delete expecting prev's mod_revision or a leased event expiring;
 * - every acknowledged create/update/delete is in the history exactly once, at its
 *   revision; a failed compare read the replayed state at its revision, which differs
 *   from what it expected; two acknowledged updates never share an expected revision;
 * - every list: pages at one revision R (the first page's header), keys strictly
 *   increasing across pages, `more` on every page but the last, and the union equal to
 *   the replayed state at R; a list that failed as compacted asked for R below a
 *   compaction that was requested;
 * - every informer segment (list at R, watch from R + 1, across resumptions) is exactly
 *   the history's events after R, in order, no gap, no duplicate, prev_kv equal (or
 *   absent on an event at or below a requested compaction: etcd reads prev_kv at rev - 1,
 *   so a watch from the compact revision gets no prev_kv there); a
 *   watch cancelled for compaction asked for a start ≤ its compact_revision, which a
 *   requested compaction reached; the last segment reaches the final revision;
 * - revisions never go backwards: an operation invoked after another completed reports a
 *   header revision at least as high.
 */

import type { K8sLog, K8sOp, Kv } from "../workloads/k8s.js";
import { EVENTS } from "../workloads/k8s.js";
import type { WatchEvent } from "../workloads/watch.js";

export interface K8sCheckInput {
  log: K8sLog;
  /** The revision every watch must reach at the end. */
  finalRev: number;
  /** Tolerated oddities, counted for the report. */
  notes?: { prevKvCompacted: number };
}

type State = Map<string, Kv>;

/** Replays the history; `at(rev)` gives the state after every event ≤ rev. */
export function replay(history: WatchEvent[]) {
  const revs: number[] = [];
  const states: State[] = [];
  let cur: State = new Map();
  for (const e of history) {
    cur = new Map(cur);
    if (e.type === "put") {
      const createRev = cur.get(e.key)?.createRev ?? e.rev;
      cur.set(e.key, { key: e.key, value: e.value, modRev: e.rev, createRev, lease: "0" });
    } else cur.delete(e.key);
    revs.push(e.rev);
    states.push(cur);
  }
  const at = (rev: number): State => {
    let lo = 0;
    let hi = revs.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (revs[mid] <= rev) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? new Map() : states[found];
  };
  return { at };
}

const same = (a: Kv | undefined | null, b: Kv | undefined | null) =>
  (!a && !b) ||
  (!!a && !!b && a.value === b.value && a.modRev === b.modRev && a.createRev === b.createRev);

export function checkK8s(input: K8sCheckInput, limit = 30): string[] {
  const out: string[] = [];
  const add = (v: string) => {
    if (out.length < limit) out.push(v);
  };
  const { log } = input;
  const history = log.history.segments.flatMap((s) => s.events);
  for (const p of log.history.problems) add(p);
  const state = replay(history);
  const writes = log.ops.filter((o) => o.f !== "list");
  const byValue = new Map<string, K8sOp>();
  for (const w of writes) if (w.value) byValue.set(`${w.key}\n${w.value}`, w);
  const maxCompact = Math.max(0, ...log.compactions.map((c) => c.rev));

  // The history itself.
  let prev: WatchEvent | undefined;
  const group = new Set<string>();
  const seenValue = new Set<string>();
  for (const e of history) {
    // One event per revision, except a lease expiry: deletes of several keys at one.
    if (prev && e.rev === prev.rev) {
      if (e.type !== "del" || prev.type !== "del" || group.has(e.key)) {
        add(`history: ${e.type} ${e.key} shares revision ${e.rev} with ${prev.type} ${prev.key}`);
      }
    } else if (prev && e.rev < prev.rev) {
      add(`history: event at ${e.rev} after ${prev.rev} (not increasing)`);
    }
    if (!prev || e.rev !== prev.rev) group.clear();
    group.add(e.key);
    prev = e;
    const before = state.at(e.rev - 1).get(e.key);
    const was = before ? { value: before.value, modRev: before.modRev } : null;
    if (JSON.stringify(was) !== JSON.stringify(e.prev)) {
      add(
        `history: ${e.key} at ${e.rev}: prev_kv ${JSON.stringify(e.prev)}, replay says ${JSON.stringify(was)}`,
      );
    }
    if (e.type === "put") {
      const id = `${e.key}\n${e.value}`;
      if (seenValue.has(id)) add(`history: ${e.key}=${e.value} written twice (again at ${e.rev})`);
      seenValue.add(id);
      const w = byValue.get(id);
      if (!w || w.status === "fail" || (w.status === "ok" && !w.succeeded)) {
        add(`history: ${e.key}=${e.value} at ${e.rev}: no client attempt could have written it`);
      } else if (w.f === "create" && before) {
        add(`history: create ${e.key}=${e.value} at ${e.rev} over an existing key`);
      } else if (w.f === "update" && before?.modRev !== w.expect) {
        add(
          `history: update ${e.key}=${e.value} at ${e.rev} expected ${w.expect}, prev is ${before?.modRev}`,
        );
      }
    } else {
      const byClient = writes.some(
        (w) =>
          w.f === "delete" &&
          w.key === e.key &&
          w.expect === before?.modRev &&
          (w.status === "unknown" || (w.status === "ok" && w.succeeded && w.rev === e.rev)),
      );
      if (!byClient && !e.key.startsWith(EVENTS)) {
        add(
          `history: delete of ${e.key} at ${e.rev}: no client delete expecting ${before?.modRev}`,
        );
      }
    }
  }

  // Acknowledged writes and failed compares.
  const byRev = new Map(history.map((e) => [e.rev, e]));
  const occ = new Map<string, number>();
  for (const w of writes) {
    if (w.status !== "ok") continue;
    if (w.succeeded) {
      const e = byRev.get(w.rev!);
      const want = w.f === "delete" ? "del" : "put";
      if (!e || e.key !== w.key || e.type !== want || (w.value && e.value !== w.value)) {
        add(
          `acknowledged ${w.f} #${w.id} of ${w.key}${w.value ? `=${w.value}` : ""} at ${w.rev}: history has ${e ? `${e.type} ${e.key}=${e.value}` : "nothing"} there`,
        );
      }
      if (w.f !== "create") {
        const k = `${w.key}@${w.expect}`;
        occ.set(k, (occ.get(k) ?? 0) + 1);
        if (occ.get(k) === 2)
          add(`two acknowledged writes of ${w.key} expecting mod_revision ${w.expect}`);
      }
    } else {
      const now = state.at(w.rev!).get(w.key);
      if (
        !same(now, w.read) &&
        !(w.read && now && w.read.modRev === now.modRev && w.read.value === now.value)
      ) {
        add(
          `failed ${w.f} #${w.id} of ${w.key} at ${w.rev} read ${JSON.stringify(w.read)}, replay has ${JSON.stringify(now ?? null)}`,
        );
      }
      const held = w.f === "create" ? !now : now?.modRev === w.expect;
      if (held) add(`${w.f} #${w.id} of ${w.key} failed its compare at ${w.rev} although it held`);
    }
  }

  // Lists.
  for (const l of log.ops) {
    if (l.f !== "list") continue;
    if (l.status !== "ok") {
      const asked = l.pages?.at(-1)?.headerRev;
      if (l.compacted && (l.rev === undefined || l.rev > maxCompact)) {
        add(
          `list #${l.id} at ${l.rev} (after ${asked}) said compacted, but no compaction reached it (max ${maxCompact})`,
        );
      }
      continue;
    }
    const rev = l.rev!;
    const got: Kv[] = [];
    l.pages!.forEach((p, i) => {
      if (i > 0 && p.askedRev !== rev) add(`list #${l.id}: page ${i} at ${p.askedRev}, not ${rev}`);
      if (p.headerRev < rev) add(`list #${l.id}: page ${i} header ${p.headerRev} below ${rev}`);
      if (p.more !== i < l.pages!.length - 1) add(`list #${l.id}: page ${i} more=${p.more}`);
      got.push(...p.kvs);
    });
    for (let i = 1; i < got.length; i++) {
      if (got[i].key <= got[i - 1].key)
        add(`list #${l.id} at ${rev}: ${got[i].key} after ${got[i - 1].key}`);
    }
    const want = [...state.at(rev).values()].sort((a, b) => (a.key < b.key ? -1 : 1));
    const g = new Map(got.map((kv) => [kv.key, kv]));
    const missing = want.filter((kv) => !same(kv, g.get(kv.key)));
    const extra = got.filter((kv) => !state.at(rev).has(kv.key));
    if (missing.length > 0 || extra.length > 0) {
      add(
        `list #${l.id} on n${l.member + 1} at ${rev}: not the state at ${rev}: missing or different ${missing.map((k) => k.key).join(" ")}; extra ${extra.map((k) => k.key).join(" ")}`,
      );
    }
  }

  // Informers.
  for (const inf of log.informers) {
    for (const p of inf.problems) add(`informer ${inf.id}: ${p}`);
    inf.segments.forEach((s, i) => {
      const owed = history.filter((e) => e.rev >= s.from);
      const n = s.events.length;
      for (let j = 0; j < n; j++) {
        const a = s.events[j];
        let b = owed[j];
        // As in etcd, a watch event's prev_kv is read at rev - 1; a watch started at the
        // compact revision gets the events there without it. Tolerated at or below a
        // requested compaction, and counted.
        if (b && a.prev === null && b.prev !== null && a.rev <= maxCompact) {
          b = { ...b, prev: null };
          if (input.notes) input.notes.prevKvCompacted++;
        }
        if (!b || JSON.stringify(a) !== JSON.stringify(b)) {
          add(
            `informer ${inf.id} segment ${i} (from ${s.from}): event ${j} is ${JSON.stringify(a)}, history has ${JSON.stringify(b ?? null)}`,
          );
          break;
        }
      }
      if (s.cancel) {
        if (s.cancel.start > s.cancel.compactRev || s.cancel.compactRev > maxCompact) {
          add(
            `informer ${inf.id}: watch from ${s.cancel.start} cancelled with compact_revision ${s.cancel.compactRev} (compactions up to ${maxCompact})`,
          );
        }
      }
      if (i === inf.segments.length - 1) {
        const last = s.events.at(-1)?.rev ?? s.from - 1;
        if (last < input.finalRev)
          add(`informer ${inf.id} stopped at ${last}, before the final ${input.finalRev}`);
      }
    });
  }

  // Revisions never go backwards in real time.
  const done = log.ops
    .filter((o) => o.status === "ok" && o.rev !== undefined)
    .sort((a, b) => a.complete! - b.complete!);
  const started = [...done].sort((a, b) => a.invoke - b.invoke);
  let j = 0;
  let maxRev = 0;
  let maxOp: K8sOp | undefined;
  for (const o of started) {
    while (j < done.length && done[j].complete! < o.invoke) {
      if (done[j].rev! > maxRev) {
        maxRev = done[j].rev!;
        maxOp = done[j];
      }
      j++;
    }
    if (o.rev! < maxRev)
      add(
        `revision went backwards: #${o.id} (${o.f}) saw ${o.rev} after #${maxOp!.id} completed at ${maxRev}`,
      );
  }
  return out;
}
