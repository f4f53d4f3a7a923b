/**
 * The k8s checker (checker/k8s.ts) on hand-made logs: a good one passes (with a lease
 * expiry deleting two keys at one revision, a paged list, an informer relisting after a
 * compaction); each injected fault is found: a lost acknowledged update, two updates
 * succeeding on one mod_revision, a list page at another revision, a list with a gap, a
 * duplicated watch event, a watch event with a wrong prev_kv, a compact_revision below
 * the start, and a revision going backwards.
 */
import { describe, expect, it } from "vitest";
import type { K8sLog, K8sOp, Kv } from "../workloads/k8s.js";
import type { K8sWatch } from "../workloads/k8s-watch.js";
import type { WatchEvent } from "../workloads/watch.js";
import { checkK8s } from "./k8s.js";

const P = "/jepsen/k8s/pods/";
const E = "/jepsen/k8s/events/";
const put = (rev: number, key: string, value: string, prev?: [string, number]): WatchEvent => ({
  rev,
  key,
  type: "put",
  value,
  modRev: rev,
  prev: prev ? { value: prev[0], modRev: prev[1] } : null,
});
const del = (rev: number, key: string, prev: [string, number]): WatchEvent => ({
  rev,
  key,
  type: "del",
  value: "",
  modRev: rev,
  prev: { value: prev[0], modRev: prev[1] },
});
const kv = (key: string, value: string, modRev: number, createRev: number): Kv => ({
  key,
  value,
  modRev,
  createRev,
  lease: "0",
});

function good(): K8sLog {
  const history = [
    put(2, `${P}a`, "c0.0"),
    put(3, `${E}x`, "c1.0"),
    put(4, `${E}y`, "c1.1"),
    put(5, `${P}a`, "c0.1", ["c0.0", 2]),
    del(6, `${E}x`, ["c1.0", 3]),
    del(6, `${E}y`, ["c1.1", 4]),
    put(7, `${P}b`, "c2.0"),
  ];
  let id = 0;
  const op = (x: Partial<K8sOp>): K8sOp =>
    ({ id: id++, client: 0, member: 0, status: "ok", succeeded: true, ...x }) as K8sOp;
  const ops: K8sOp[] = [
    op({ f: "create", key: `${P}a`, value: "c0.0", invoke: 0, complete: 1, rev: 2 }),
    op({
      f: "create",
      client: 1,
      key: `${E}x`,
      value: "c1.0",
      lease: "9",
      invoke: 1,
      complete: 2,
      rev: 3,
    }),
    op({
      f: "create",
      client: 1,
      key: `${E}y`,
      value: "c1.1",
      lease: "9",
      invoke: 2,
      complete: 3,
      rev: 4,
    }),
    op({ f: "update", key: `${P}a`, value: "c0.1", expect: 2, invoke: 3, complete: 4, rev: 5 }),
    op({
      f: "update",
      client: 3,
      key: `${P}a`,
      value: "c3.0",
      expect: 2,
      invoke: 4,
      complete: 5,
      rev: 5,
      succeeded: false,
      read: kv(`${P}a`, "c0.1", 5, 2),
    }),
    op({
      f: "list",
      client: 2,
      key: "/jepsen/k8s/",
      invoke: 5,
      complete: 6,
      rev: 5,
      pages: [
        {
          askedRev: 0,
          headerRev: 5,
          kvs: [kv(`${E}x`, "c1.0", 3, 3), kv(`${E}y`, "c1.1", 4, 4)],
          more: true,
        },
        { askedRev: 5, headerRev: 6, kvs: [kv(`${P}a`, "c0.1", 5, 2)], more: false },
      ],
    }),
    op({ f: "create", client: 2, key: `${P}b`, value: "c2.0", invoke: 6, complete: 7, rev: 7 }),
  ];
  const informer: K8sWatch = {
    id: 0,
    problems: [],
    segments: [
      {
        listOp: 5,
        from: 6,
        events: [history[4], history[5]],
        streams: [],
        cancel: { start: 7, compactRev: 7, member: 0 },
      },
      { listOp: 5, from: 7, events: [history[6]], streams: [] },
    ],
  };
  return {
    ops,
    history: { id: -1, problems: [], segments: [{ from: 1, events: history, streams: [] }] },
    informers: [informer],
    compactions: [{ rev: 7, ok: true, at: 7 }],
    leases: [{ id: "9", ttlSec: 2, at: 0 }],
  };
}

describe("k8s checker", () => {
  it("passes a consistent log", () => {
    expect(checkK8s({ log: good(), finalRev: 7 })).toEqual([]);
  });

  it("finds a lost acknowledged update", () => {
    const log = good();
    log.history.segments[0].events.splice(3, 1);
    expect(checkK8s({ log, finalRev: 7 }).join("\n")).toMatch(/acknowledged update #3 .* at 5/);
  });

  it("finds two updates succeeding on one mod_revision", () => {
    const log = good();
    Object.assign(log.ops[4], { succeeded: true, read: undefined, rev: 8 });
    const v = checkK8s({ log, finalRev: 7 }).join("\n");
    expect(v).toMatch(/two acknowledged writes of \/jepsen\/k8s\/pods\/a expecting mod_revision 2/);
  });

  it("finds a page at another revision and a gap in a list", () => {
    const log = good();
    log.ops[5].pages![1].askedRev = 4;
    log.ops[5].pages![0].kvs.pop();
    const v = checkK8s({ log, finalRev: 7 }).join("\n");
    expect(v).toMatch(/page 1 at 4, not 5/);
    expect(v).toMatch(/not the state at 5: missing or different \/jepsen\/k8s\/events\/y/);
  });

  it("finds a duplicated watch event and a wrong prev_kv", () => {
    const log = good();
    const seg = log.informers[0].segments[1];
    seg.events.push(seg.events[0]);
    expect(checkK8s({ log, finalRev: 7 }).join("\n")).toMatch(/informer 0 segment 1 .* event 1/);
    const log2 = good();
    log2.history.segments[0].events[3] = put(5, `${P}a`, "c0.1", ["c0.0", 1]);
    expect(checkK8s({ log: log2, finalRev: 7 }).join("\n")).toMatch(/prev_kv .* replay says/);
  });

  it("tolerates a missing prev_kv only at or below a requested compaction", () => {
    const log = good();
    const seg = log.informers[0].segments[0];
    seg.events[0] = { ...seg.events[0], prev: null };
    const notes = { prevKvCompacted: 0 };
    expect(checkK8s({ log, finalRev: 7, notes })).toEqual([]);
    expect(notes.prevKvCompacted).toBe(1);
    log.compactions = [{ rev: 5, ok: true, at: 7 }];
    log.informers[0].segments[0].cancel!.compactRev = 5;
    log.informers[0].segments[0].cancel!.start = 5;
    expect(checkK8s({ log, finalRev: 7 }).join("\n")).toMatch(/informer 0 segment 0 .* event 0/);
  });

  it("finds a compact_revision below the start and a revision going backwards", () => {
    const log = good();
    log.informers[0].segments[0].cancel!.compactRev = 6;
    log.ops[6].rev = 4;
    const v = checkK8s({ log, finalRev: 7 }).join("\n");
    expect(v).toMatch(/watch from 7 cancelled with compact_revision 6/);
    expect(v).toMatch(/revision went backwards: #6/);
  });
});
