/**
 * Properties of the watch module under seeded random workloads against a real MvccStore,
 * compared with the history read back from the store:
 *
 * - per watcher, the events received (fragments reassembled) are exactly the store's
 *   history of its range from its start revision, filtered: ordered by revision, unique,
 *   nothing missing; prev_kv as the history reports it;
 * - atomic per revision: the events of one revision arrive in one response;
 * - a response's header revision R is truthful: the watcher's next events are above R;
 * - a progress notification (revision R) comes after every event up to R of every watcher
 *   alive on the stream;
 * - a stream whose client does not read never holds more than its buffer (plus one batch),
 *   never delays another stream, and loses nothing: its watchers catch up from history.
 */
import fs from "node:fs";
import type { etcdserverpb } from "@chainfire/api";
import type { MvccEvent, RequestOp } from "@chainfire/storage";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  b,
  cancelReq,
  createReq,
  delOp,
  FakeSource,
  progressReq,
  putOp,
  type RecordingTransport,
  Rng,
  settle,
  TempStore,
  testSeed,
  until,
  watchHarness,
} from "./__tests__/fixture.js";

interface WatchSpec {
  key: string;
  rangeEnd?: string;
  startRevision: bigint;
  noPut: boolean;
  noDelete: boolean;
  prevKv: boolean;
  fragment: boolean;
}

/** What a test remembers about one watcher. */
interface Tracked {
  stream: number;
  id: bigint;
  spec: WatchSpec;
  /** Index in the stream's received list of its created / canceled response. */
  createdAt: number;
  canceledAt?: number;
  /** The first revision it watches (for start revision 0: created's revision + 1). */
  from: bigint;
}

const KEYS = ["a", "a/1", "a/2", "a/3", "b/1", "b/2", "c", "d", "e/x", "e/y"];

function randomSpec(rng: Rng, current: bigint): WatchSpec {
  const kinds = [
    () => ({ key: rng.pick(KEYS) }),
    () => ({ key: "a/", rangeEnd: "a0" }),
    () => ({ key: "b/", rangeEnd: "b0" }),
    () => ({ key: "a", rangeEnd: "c" }),
    () => ({ key: "c", rangeEnd: "\0" }),
    () => ({ key: "", rangeEnd: "\0" }),
  ];
  const r = rng.pick(kinds)();
  const past = current > 1n && rng.chance(0.5);
  return {
    ...r,
    startRevision: past ? BigInt(1 + rng.int(Number(current))) : 0n,
    noPut: rng.chance(0.15),
    noDelete: rng.chance(0.15),
    prevKv: rng.chance(0.5),
    fragment: rng.chance(0.3),
  };
}

function randomTxn(rng: Rng, n: number): RequestOp[] {
  const used = new Set<string>();
  const ops: RequestOp[] = [];
  const count = 1 + rng.int(3);
  for (let i = 0; i < count; i++) {
    const key = rng.pick(KEYS);
    if (used.has(key)) continue;
    used.add(key);
    ops.push(rng.chance(0.75) ? putOp(key, `v${n}.${i}`) : delOp(key));
  }
  if (rng.chance(0.05) && used.size === 0) ops.push(delOp("a/", "a0"));
  return ops;
}

function describeSpec(s: WatchSpec): string {
  return JSON.stringify({ ...s, startRevision: `${s.startRevision}` });
}

/** Merges fragments into whole responses (a client's reassembly). */
function reassemble(rs: etcdserverpb.WatchResponse[]): etcdserverpb.WatchResponse[] {
  const out: etcdserverpb.WatchResponse[] = [];
  let cur: etcdserverpb.WatchResponse | undefined;
  for (const r of rs) {
    if (cur) {
      expect(r.watchId, "fragments are contiguous").toBe(cur.watchId);
      cur = { ...cur, events: [...cur.events, ...r.events], fragment: r.fragment };
    } else {
      cur = r;
    }
    if (!cur.fragment) {
      out.push(cur);
      cur = undefined;
    }
  }
  expect(cur, "no unfinished fragment").toBeUndefined();
  return out;
}

const evKey = (e: { kv?: { key: Uint8Array; modRevision: bigint } }) =>
  `${Buffer.from(e.kv!.key).toString("latin1")}@${e.kv!.modRevision}`;

function plainEvent(e: etcdserverpb.WatchResponse["events"][number] | MvccEvent, prev: boolean) {
  const type = typeof e.type === "string" ? e.type : e.type === 0 ? "PUT" : "DELETE";
  const kv = e.kv!;
  const pk = prev ? e.prevKv : undefined;
  return {
    type,
    key: Buffer.from(kv.key).toString("latin1"),
    mod: kv.modRevision,
    create: kv.createRevision,
    version: kv.version,
    value: Buffer.from(kv.value).toString("latin1"),
    prev: pk ? `${Buffer.from(pk.value).toString("latin1")}@${pk.modRevision}` : undefined,
  };
}

describe("watch properties", () => {
  let db: TempStore;

  beforeEach(async () => {
    db = await TempStore.open();
  });
  afterEach(async () => {
    await db.close();
  });

  /** The store's history for `spec` from its start revision, as watch events. */
  function expectedEvents(spec: WatchSpec, from: bigint) {
    const page = db.store.changes({
      fromRevision: from,
      key: b(spec.key || "\0"),
      ...(spec.rangeEnd ? { rangeEnd: b(spec.rangeEnd) } : {}),
      limit: 1e9,
    });
    expect(page.done).toBe(true);
    return page.events
      .filter((e) => !(e.type === "PUT" ? spec.noPut : spec.noDelete))
      .map((e) => plainEvent(e.toJSON(), spec.prevKv));
  }

  /** Checks every property for the watchers of one stream. */
  function checkStream(received: etcdserverpb.WatchResponse[], tracked: Tracked[]) {
    const cache = new Map<Tracked, ReturnType<typeof expectedEvents>>();
    const expected = (t: Tracked) => {
      let e = cache.get(t);
      if (!e) cache.set(t, (e = expectedEvents(t.spec, t.from)));
      return e;
    };
    // Progress notifications: never ahead of the events of any watcher alive then.
    const counts = new Map<bigint, number>();
    received.forEach((r, at) => {
      if (r.watchId !== -1n || r.created) {
        if (!r.created) counts.set(r.watchId, (counts.get(r.watchId) ?? 0) + r.events.length);
        return;
      }
      const R = r.header!.revision;
      for (const t of tracked) {
        if (t.createdAt > at || (t.canceledAt !== undefined && t.canceledAt < at)) continue;
        const want = expected(t).filter((e) => e.mod <= R).length;
        expect(counts.get(t.id) ?? 0, `progress at ${R} is ahead of watcher ${t.id}`).toBe(want);
      }
    });
    for (const t of tracked) {
      const mine = received.filter((r) => r.watchId === t.id && !r.created && !r.canceled);
      const whole = reassemble(mine);
      const got = whole.flatMap((r) => r.events.map((e) => plainEvent(e, t.spec.prevKv)));
      const want = expected(t);
      if (t.canceledAt === undefined) {
        expect(got, `watcher ${t.id} ${describeSpec(t.spec)}`).toEqual(want);
      } else {
        // Cancelled: a prefix of whole revisions.
        expect(got, `cancelled watcher ${t.id}`).toEqual(want.slice(0, got.length));
        const next = want[got.length];
        if (next && got.length > 0) expect(next.mod).toBeGreaterThan(got.at(-1)!.mod);
      }
      // Atomic per revision, and truthful header revisions.
      const seen = new Set<bigint>();
      let covered = 0n;
      for (const r of whole) {
        const revs = new Set(r.events.map((e) => e.kv!.modRevision));
        for (const rev of revs) {
          expect(seen.has(rev), `revision ${rev} split over two responses`).toBe(false);
          seen.add(rev);
          const n = r.events.filter((e) => e.kv!.modRevision === rev).length;
          expect(n).toBe(want.filter((e) => e.mod === rev).length);
          expect(rev).toBeGreaterThan(covered);
        }
        const last = r.events.at(-1)!.kv!.modRevision;
        expect(r.header!.revision).toBeGreaterThanOrEqual(last);
        covered = r.header!.revision;
      }
    }
  }

  it("random workloads: exactly the history, atomic revisions, truthful progress", async () => {
    const seed = testSeed("watch random workload");
    const seen = { victims: 0, catchUpPages: 0, progress: 0, fragments: 0, cancels: 0 };
    for (let round = 0; round < 2; round++) {
      const rng = new Rng(seed + round);
      const h = watchHarness(new FakeSource(db.store), {
        streamBufferBytes: 1 + rng.int(3000),
        fragmentBytes: 200 + rng.int(400),
        catchUpPageEntries: 1 + rng.int(20),
        catchUpEntriesPerTurn: 1 + rng.int(60),
      });
      const streams = [h.open(), h.open(), h.open()];
      const tracked: Tracked[][] = streams.map(() => []);
      const create = (si: number) => {
        const s = streams[si]!;
        const spec = randomSpec(rng, db.store.revision);
        s.stream.handle(
          createReq({
            key: b(spec.key),
            rangeEnd: spec.rangeEnd ? b(spec.rangeEnd) : Buffer.alloc(0),
            startRevision: spec.startRevision,
            filters: [...(spec.noPut ? [0] : []), ...(spec.noDelete ? [1] : [])],
            prevKv: spec.prevKv,
            fragment: spec.fragment,
          }),
        );
        tracked[si]!.push({ stream: si, id: -2n, spec, createdAt: -1, from: spec.startRevision });
      };
      for (let si = 0; si < streams.length; si++) for (let i = 0; i < 4; i++) create(si);
      for (let n = 0; n < 120; n++) {
        await db.batch((w) => {
          const txns = 1 + rng.int(3);
          for (let i = 0; i < txns; i++) {
            const ops = randomTxn(rng, n);
            if (ops.length) w.txn({ compare: [], success: ops, failure: [] });
          }
        });
        const si = rng.int(streams.length);
        const s = streams[si]!;
        const action = rng.int(10);
        if (action === 0) s.t.blocked ? s.t.release() : s.t.block();
        else if (action === 1) s.stream.handle(progressReq());
        else if (action === 2) create(si);
        else if (action === 3) {
          const live = tracked[si]!.filter((t) => t.id >= 0n && t.canceledAt === undefined);
          const victim = live.length ? rng.pick(live) : undefined;
          if (victim) s.stream.handle(cancelReq(victim.id));
        }
        if (rng.chance(0.3)) await settle(1 + rng.int(3));
        // Assign ids from the created responses as they arrive.
        for (let j = 0; j < streams.length; j++) resolveIds(streams[j]!.t, tracked[j]!);
      }
      for (const s of streams) if (s.t.blocked) s.t.release();
      await until(
        () => h.hub.counts().unsynced === 0 && h.hub.counts().victims === 0,
        "everyone synced",
      );
      // Every seed exercises an answered progress request: all watchers are synced now.
      for (const s of streams) s.stream.handle(progressReq());
      await settle();
      for (let j = 0; j < streams.length; j++) {
        resolveIds(streams[j]!.t, tracked[j]!);
        checkStream(streams[j]!.t.received, tracked[j]!);
        const got = streams[j]!.t.received;
        seen.progress += got.filter((r) => r.watchId === -1n && !r.created).length;
        seen.fragments += got.filter((r) => r.fragment).length;
        seen.cancels += got.filter((r) => r.canceled).length;
      }
      seen.victims += h.hub.stats.victims;
      seen.catchUpPages += h.hub.stats.catchUpPages;
      h.close();
    }
    console.log("watch random workload covered", seen);
    // The workload exercised what it claims to.
    for (const [what, n] of Object.entries(seen)) expect(n, what).toBeGreaterThan(0);
  });

  /** Fills in ids and created/canceled positions from a stream's responses. */
  function resolveIds(t: RecordingTransport, tracked: Tracked[]) {
    const all = [...t.received, ...t.inFlight];
    const created = all.map((r, i) => ({ r, i })).filter(({ r }) => r.created && r.watchId >= 0n);
    created.forEach(({ r, i }, k) => {
      const tr = tracked[k];
      if (tr) {
        tr.id = r.watchId;
        tr.createdAt = i;
        if (tr.spec.startRevision === 0n) tr.from = r.header!.revision + 1n;
      }
    });
    for (const tr of tracked) {
      const c = all.findIndex((r) => r.watchId === tr.id && r.canceled && !r.created);
      if (c >= 0) tr.canceledAt = c;
    }
  }

  it("a slow consumer: bounded buffer, other streams unaffected, nothing lost", async () => {
    const budget = 64 * 1024;
    const h = watchHarness(new FakeSource(db.store), { streamBufferBytes: budget });
    try {
      const slow = h.open();
      const fast = h.open();
      for (const s of [slow, fast]) {
        s.stream.handle(createReq({ key: b("s/"), rangeEnd: b("s0"), prevKv: true }));
      }
      await settle();
      slow.t.block();
      const value = "x".repeat(100);
      let maxQueued = 0;
      for (let n = 0; n < 300; n++) {
        const ops: RequestOp[] = [];
        for (let i = 0; i < 10; i++) ops.push(putOp(`s/${(n * 10 + i) % 97}`, `${value}${n}`));
        await db.batch((w) => {
          for (let i = 0; i < 10; i += 2) {
            w.txn({ compare: [], success: ops.slice(i, i + 2), failure: [] });
          }
        });
        maxQueued = Math.max(maxQueued, slow.stream.queuedBytes);
        if (n % 10 === 0) await settle(2);
      }
      await settle();
      // The fast stream got everything while the slow one was stuck.
      const fastEvents = fast.t.received.flatMap((r) => r.events);
      expect(fastEvents.length).toBe(3000);
      expect(h.hub.counts().victims).toBe(1);
      // One commit's events (10 puts with prev_kv, ~3 KiB) may overshoot the budget.
      expect(maxQueued).toBeGreaterThan(budget / 2);
      expect(maxQueued).toBeLessThanOrEqual(budget + 8 * 1024);
      // The slow client reads again.
      await until(() => {
        if (slow.t.blocked) slow.t.release();
        return h.hub.counts().synced === 2 && slow.stream.queuedBytes === 0;
      }, "the slow stream caught up");
      await settle();
      const slowEvents = slow.t.received.flatMap((r) => r.events);
      expect(slowEvents.map(evKey)).toEqual(fastEvents.map(evKey));
      expect(slowEvents.map((e) => plainEvent(e, true))).toEqual(
        fastEvents.map((e) => plainEvent(e, true)),
      );
      // The catch-up came from history, and agrees with it.
      const spec = {
        key: "s/",
        rangeEnd: "s0",
        startRevision: 2n,
        noPut: false,
        noDelete: false,
        prevKv: true,
        fragment: false,
      };
      expect(slowEvents.map((e) => plainEvent(e, true))).toEqual(expectedEvents(spec, 2n));
    } finally {
      h.close();
    }
  });

  it("a victim whose history is compacted meanwhile is canceled with compact_revision", async () => {
    const h = watchHarness(new FakeSource(db.store), { streamBufferBytes: 100 });
    try {
      const s = h.open();
      s.stream.handle(createReq({ key: b("k") }));
      await settle();
      s.t.block();
      for (let n = 0; n < 20; n++) await db.put("k", `${n}`);
      await settle();
      expect(h.hub.counts().victims).toBe(1);
      await db.compact(15n);
      s.t.release();
      await until(() => s.t.received.some((r) => r.compactRevision > 0n), "compaction notice");
      const last = s.t.received.at(-1)!;
      expect(last).toMatchObject({ watchId: 0n, canceled: true, compactRevision: 15n });
      // Events before the notice are a gap-free prefix of the history.
      const revs = s.t.received.flatMap((r) => r.events.map((e) => e.kv!.modRevision));
      expect(revs).toEqual(revs.map((_, i) => BigInt(i + 2)));
      expect(revs.at(-1)! + 1n).toBeLessThan(15n);
      expect(h.hub.counts()).toEqual({ synced: 0, unsynced: 0, victims: 0 });
    } finally {
      h.close();
    }
  });

  it("resumes after a reconnect from the last revision + 1", async () => {
    const h = watchHarness(new FakeSource(db.store));
    try {
      const first = h.open();
      first.stream.handle(createReq({ key: b("r/"), rangeEnd: b("r0") }));
      for (let n = 0; n < 10; n++) await db.put(`r/${n % 3}`, `${n}`);
      await settle();
      first.stream.close(); // the connection drops
      const seen = first.t.received.flatMap((r) => r.events);
      const lastRev = seen.at(-1)!.kv!.modRevision;
      for (let n = 10; n < 20; n++) await db.put(`r/${n % 3}`, `${n}`);
      const second = h.open();
      second.stream.handle(
        createReq({ key: b("r/"), rangeEnd: b("r0"), startRevision: lastRev + 1n }),
      );
      await until(() => h.hub.counts().synced === 1, "caught up");
      for (let n = 20; n < 25; n++) await db.put(`r/${n % 3}`, `${n}`);
      await settle();
      const all = [...seen, ...second.t.received.flatMap((r) => r.events)];
      expect(all.map((e) => Buffer.from(e.kv!.value).toString())).toEqual(
        Array.from({ length: 25 }, (_, i) => `${i}`),
      );
    } finally {
      h.close();
    }
  });

  it("pauses catching up while the old store is closed for a replacement", async () => {
    const old = await TempStore.open();
    const source = new FakeSource(old.store);
    const h = watchHarness(source, { catchUpPageEntries: 2, catchUpEntriesPerTurn: 2 });
    try {
      for (let n = 0; n < 20; n++) {
        await old.put(`z/${n % 3}`, `${n}`);
        await db.put(`z/${n % 3}`, `${n}`);
      }
      const s = h.open();
      s.stream.handle(createReq({ key: b("z/"), rangeEnd: b("z0"), startRevision: 2n }));
      await until(() => s.t.received.some((r) => r.events.length > 0), "some events");
      // The install closes the old database before handing over the new one.
      await old.engine.close();
      await settle(10);
      expect(s.t.failed).toBeUndefined();
      expect(h.hub.counts().unsynced).toBe(1);
      source.swap(db.store);
      await until(() => h.hub.counts().synced === 1, "caught up on the new store");
      await settle();
      const values = s.t.received.flatMap((r) => r.events.map((e) => e.kv!.value.toString()));
      expect(values).toEqual(Array.from({ length: 20 }, (_, i) => `${i}`));
    } finally {
      h.close();
      fs.rmSync(old.dir, { recursive: true, force: true });
    }
  });

  it("follows a replaced store (snapshot install) without losing or repeating events", async () => {
    const other = await TempStore.open();
    const source = new FakeSource(db.store);
    const h = watchHarness(source, { catchUpPageEntries: 3, catchUpEntriesPerTurn: 3 });
    try {
      const writes: [string, string][] = [];
      for (let n = 0; n < 30; n++) writes.push([`w/${n % 4}`, `${n}`]);
      // The old store has the first 10 writes; the "snapshot" has all 30.
      for (const [k, v] of writes.slice(0, 10)) await db.put(k, v);
      for (const [k, v] of writes) await other.put(k, v);
      const s = h.open();
      s.stream.handle(createReq({ key: b("w/"), rangeEnd: b("w0") })); // synced at 11
      s.stream.handle(createReq({ key: b("w/"), rangeEnd: b("w0"), startRevision: 2n }));
      await settle(1);
      source.swap(other.store);
      await until(() => h.hub.counts().synced === 2, "both synced on the new store");
      await other.put("w/0", "30");
      await settle();
      const values = (id: bigint) =>
        s.t.received
          .filter((r) => r.watchId === id)
          .flatMap((r) => r.events.map((e) => Buffer.from(e.kv!.value).toString()));
      expect(values(0n)).toEqual(Array.from({ length: 21 }, (_, i) => `${i + 10}`));
      expect(values(1n)).toEqual(Array.from({ length: 31 }, (_, i) => `${i}`));
    } finally {
      h.close();
      await other.close();
    }
  });
});
