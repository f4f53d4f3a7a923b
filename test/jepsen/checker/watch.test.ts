/**
 * The watch checker on known-good and known-bad watcher logs: each bad log is the shape
 * of a real etcd bug (#17247 events lost on resume, #17529 duplicated events, wrong
 * prev_kv, a watcher that stalls, members disagreeing on history).
 */
import { describe, expect, it } from "vitest";
import type { Op } from "../history.js";
import type { WatchEvent, WatcherLog } from "../workloads/watch.js";
import { checkWatch } from "./watch.js";

const P = "/p/";
/** A history: puts of a, b, a, b, ... at revisions 2, 3, 4, ... (prev_kv consistent). */
function truth(n: number): WatchEvent[] {
  const events: WatchEvent[] = [];
  const last = new Map<string, WatchEvent>();
  for (let i = 0; i < n; i++) {
    const key = `${P}${i % 2 === 0 ? "a" : "b"}`;
    const before = last.get(key);
    const e: WatchEvent = {
      rev: i + 2,
      key,
      type: "put",
      value: `v${i}`,
      modRev: i + 2,
      prev: before ? { value: before.value, modRev: before.modRev } : null,
    };
    events.push(e);
    last.set(key, e);
  }
  return events;
}
function watcher(events: WatchEvent[], from = 1): WatcherLog {
  return { id: 0, from, events, streams: [{ at: 0, member: 0, from }], problems: [] };
}
function acked(events: WatchEvent[]): Op[] {
  return events.map((e, id) => ({
    id,
    client: 0,
    member: 0,
    f: "put",
    key: e.key,
    value: e.value,
    invoke: id,
    complete: id + 0.5,
    status: "ok",
    rev: e.rev,
  }));
}
const check = (histories: WatchEvent[][], watchers: WatcherLog[], ops: Op[] = []) =>
  checkWatch({ histories, watchers, ops, prefix: P, finalRev: histories[0].at(-1)!.rev });

describe("watch checker", () => {
  const h = truth(10);

  it("accepts complete watchers, from the start and from the middle", () => {
    expect(check([h, h], [watcher(h), watcher(h.slice(4), h[4].rev)], acked(h))).toEqual([]);
  });

  it("flags a gap (events lost on resume, etcd #17247)", () => {
    const lost = [...h.slice(0, 3), ...h.slice(5)];
    expect(check([h], [watcher(lost)]).join()).toMatch(/gap — missed 2 event/);
  });

  it("flags a duplicated event (etcd #17529)", () => {
    const dup = [...h.slice(0, 5), h[4], ...h.slice(5)];
    expect(check([h], [watcher(dup)]).join()).toMatch(/duplicate event/);
  });

  it("flags out-of-order events", () => {
    const swapped = [h[0], h[2], h[1], ...h.slice(3)];
    expect(check([h], [watcher(swapped)]).join()).toMatch(/out of order/);
  });

  it("flags a wrong prev_kv", () => {
    const wrong = h.map((e, i) => (i === 6 ? { ...e, prev: { value: "v0", modRev: 2 } } : e));
    expect(check([h], [watcher(wrong)]).join()).toMatch(/differs from the history/);
  });

  it("flags a watcher that never caught up", () => {
    expect(check([h], [watcher(h.slice(0, 8))]).join()).toMatch(/never saw the final write/);
  });

  it("flags members that disagree, and an acknowledged write missing from history", () => {
    const other = h.map((e, i) => (i === 3 ? { ...e, value: "x" } : e));
    expect(check([h, other], [watcher(h)]).join()).toMatch(/members disagree/);
    const missing = h.filter((_, i) => i !== 5);
    const fixed = missing.map((e) => e); // prev_kv now skips an event as well
    expect(check([fixed], [watcher(fixed)], acked(h)).join()).toMatch(
      /acknowledged write not in the watch history/,
    );
  });

  it("flags a history whose prev_kv skips a revision", () => {
    const broken = h.map((e, i) => (i === 4 ? { ...e, prev: null } : e));
    expect(check([broken], [watcher(broken)]).join()).toMatch(/history: prev_kv/);
  });
});
