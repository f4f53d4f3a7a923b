/**
 * ServerWatchStream + WatchableStore against a real MvccStore: the request/response
 * behaviours of etcd's watch stream, one by one. Expected outputs are what etcd 3.4.23
 * answered to the same requests (test/compat/watch-grpc.test.ts runs them against etcd),
 * except where the module comment of watch-stream.ts says we follow etcd 3.5/3.6.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  b,
  cancelReq,
  createReq,
  delOp,
  describeResponse,
  FakeSource,
  progressReq,
  putOp,
  settle,
  TempStore,
  until,
  watchHarness,
} from "./__tests__/fixture.js";
import { ERR_DUPLICATE_WATCH_ID, ERR_EMPTY_WATCHER_RANGE } from "./watch-stream.js";

describe("watch stream", () => {
  let db: TempStore;
  let h: ReturnType<typeof watchHarness>;

  beforeEach(async () => {
    db = await TempStore.open();
    h = watchHarness(new FakeSource(db.store));
  });
  afterEach(async () => {
    h.close();
    await db.close();
  });

  const texts = (s: { t: { received: Parameters<typeof describeResponse>[0][] } }) =>
    s.t.received.map(describeResponse);

  it("assigns ids from 0, refuses a duplicate client id, answers in request order", async () => {
    await db.put("x/a", "1"); // rev 2
    const s = h.open();
    s.stream.handle(createReq({ key: b("x/a"), watchId: 7n }));
    s.stream.handle(createReq({ key: b("x/b"), watchId: 7n }));
    s.stream.handle(createReq({ key: b("x/c") }));
    s.stream.handle(createReq({ key: b("x/d"), watchId: 0n }));
    await settle();
    expect(texts(s)).toEqual([
      "id=7 rev=2 created",
      `id=-1 rev=2 created canceled reason=${ERR_DUPLICATE_WATCH_ID}`,
      "id=0 rev=2 created",
      "id=1 rev=2 created",
    ]);
  });

  it("refuses an empty range and a negative start revision", async () => {
    const s = h.open();
    s.stream.handle(createReq({ key: b("x/b"), rangeEnd: b("x/a") }));
    s.stream.handle(createReq({ key: b("x/b"), rangeEnd: b("x/b") }));
    s.stream.handle(createReq({ key: b("x/b"), startRevision: -5n }));
    await settle();
    expect(texts(s)).toEqual([
      `id=-1 rev=1 created canceled reason=${ERR_EMPTY_WATCHER_RANGE}`,
      `id=-1 rev=1 created canceled reason=${ERR_EMPTY_WATCHER_RANGE}`,
      "id=-1 rev=1 created canceled reason=etcdserver: mvcc: required revision has been compacted",
    ]);
    expect(s.stream.watcherCount).toBe(0);
  });

  it("ignores a cancel of an unknown id; a cancel answers once and stops events", async () => {
    const s = h.open();
    s.stream.handle(cancelReq(99n));
    s.stream.handle(createReq({ key: b("x/a") }));
    await db.put("x/a", "1");
    await settle();
    s.stream.handle(cancelReq(0n));
    s.stream.handle(cancelReq(0n));
    await db.put("x/a", "2");
    await settle();
    expect(texts(s)).toEqual([
      "id=0 rev=1 created",
      "id=0 rev=2 PUT x/a@2=1",
      "id=0 rev=2 canceled",
    ]);
    expect(h.hub.counts()).toEqual({ synced: 0, unsynced: 0, victims: 0 });
  });

  it("empty key means \\0; range_end \\0 means every key >= key", async () => {
    const s = h.open();
    s.stream.handle(createReq({ key: b("") }));
    s.stream.handle(createReq({ key: b(""), rangeEnd: b("\0") }));
    s.stream.handle(createReq({ key: b("m"), rangeEnd: b("\0") }));
    await db.put("\0", "z");
    await db.put("a", "a");
    await db.put("q", "q");
    await settle();
    expect(texts(s)).toEqual([
      "id=0 rev=1 created",
      "id=1 rev=1 created",
      "id=2 rev=1 created",
      "id=0 rev=2 PUT \0@2=z",
      "id=1 rev=2 PUT \0@2=z",
      "id=1 rev=3 PUT a@3=a",
      "id=1 rev=4 PUT q@4=q",
      "id=2 rev=4 PUT q@4=q",
    ]);
  });

  it("prefix watch: a txn's events in one response; prev_kv; filters", async () => {
    await db.put("p/a", "0"); // rev 2
    const s = h.open();
    s.stream.handle(createReq({ key: b("p/"), rangeEnd: b("p0"), prevKv: true }));
    s.stream.handle(createReq({ key: b("p/"), rangeEnd: b("p0"), filters: [0] })); // NOPUT
    s.stream.handle(createReq({ key: b("p/"), rangeEnd: b("p0"), filters: [1] })); // NODELETE
    await db.txn([putOp("p/a", "1"), putOp("p/b", "1"), putOp("other", "1")]); // rev 3
    await db.txn([delOp("p/a"), putOp("p/c", "1")]); // rev 4
    await db.del("p/", "p0"); // rev 5: p/b, p/c
    await settle();
    expect(texts(s)).toEqual([
      "id=0 rev=2 created",
      "id=1 rev=2 created",
      "id=2 rev=2 created",
      "id=0 rev=3 PUT p/a@3=1 prev=0 PUT p/b@3=1",
      "id=2 rev=3 PUT p/a@3=1 PUT p/b@3=1",
      "id=0 rev=4 DELETE p/a@4 prev=1 PUT p/c@4=1",
      "id=1 rev=4 DELETE p/a@4",
      "id=2 rev=4 PUT p/c@4=1",
      "id=0 rev=5 DELETE p/b@5 prev=1 DELETE p/c@5 prev=1",
      "id=1 rev=5 DELETE p/b@5 DELETE p/c@5",
    ]);
  });

  it("replays history from a start revision, then follows live writes", async () => {
    await db.put("k", "1"); // 2
    await db.put("k", "2"); // 3
    await db.del("k"); // 4
    const s = h.open();
    s.stream.handle(createReq({ key: b("k"), startRevision: 2n, prevKv: true }));
    await until(() => h.hub.counts().synced === 1, "catch-up");
    await db.put("k", "3"); // 5
    await settle();
    expect(texts(s)).toEqual([
      "id=0 rev=4 created",
      "id=0 rev=4 PUT k@2=1 PUT k@3=2 prev=1 DELETE k@4 prev=2",
      "id=0 rev=5 PUT k@5=3",
    ]);
  });

  it("a compacted start revision: created, then canceled with compact_revision", async () => {
    for (let i = 1; i <= 4; i++) await db.put("x/a", `${i}`); // revs 2..5
    await db.compact(4n);
    const s = h.open();
    s.stream.handle(createReq({ key: b("x/a"), startRevision: 3n }));
    await until(() => s.t.received.length === 2, "the compaction response");
    // The id stays taken until the client cancels it, as in etcd.
    s.stream.handle(createReq({ key: b("x/a"), watchId: 0n }));
    s.stream.handle(cancelReq(0n));
    await settle();
    expect(texts(s)).toEqual([
      "id=0 rev=5 created",
      "id=0 rev=0 canceled compact=4",
      "id=1 rev=5 created",
      "id=0 rev=5 canceled",
    ]);
  });

  it("a start revision equal to the compact revision is allowed (etcd: minRev < compactRev)", async () => {
    for (let i = 1; i <= 4; i++) await db.put("x/a", `${i}`); // revs 2..5
    await db.compact(4n);
    const s = h.open();
    s.stream.handle(createReq({ key: b("x/a"), startRevision: 4n, prevKv: true }));
    await until(() => s.t.received.length === 2, "events");
    // At the compact revision the previous version is gone: no prev_kv there.
    expect(texts(s)).toEqual(["id=0 rev=5 created", "id=0 rev=5 PUT x/a@4=3 PUT x/a@5=4 prev=3"]);
  });

  it("a future start revision sends nothing until that revision", async () => {
    await db.put("x/a", "1"); // 2
    const s = h.open();
    s.stream.handle(createReq({ key: b("x/a"), startRevision: 5n }));
    await db.put("x/a", "2"); // 3
    await db.put("x/a", "3"); // 4
    await db.put("x/a", "4"); // 5
    await db.put("x/a", "5"); // 6
    await settle();
    expect(texts(s)).toEqual([
      "id=0 rev=2 created",
      "id=0 rev=5 PUT x/a@5=4",
      "id=0 rev=6 PUT x/a@6=5",
    ]);
  });

  describe("WatchProgressRequest (etcd 3.5)", () => {
    it("is not answered on a stream without watchers", async () => {
      const s = h.open();
      s.stream.handle(progressReq());
      await settle();
      expect(s.t.received).toEqual([]);
    });

    it("is answered with watch_id -1 and the store revision when all watchers are synced", async () => {
      const s = h.open();
      s.stream.handle(createReq({ key: b("x/"), rangeEnd: b("x0") }));
      await db.put("x/a", "1"); // 2
      await db.put("other", "1"); // 3
      s.stream.handle(progressReq());
      await settle();
      expect(texts(s)).toEqual(["id=0 rev=1 created", "id=0 rev=2 PUT x/a@2=1", "id=-1 rev=3"]);
    });

    it("is not answered while a watcher is catching up", async () => {
      for (let i = 0; i < 50; i++) await db.put(`x/${i}`, "v");
      const h2 = watchHarness(new FakeSource(db.store), {
        catchUpPageEntries: 10,
        catchUpEntriesPerTurn: 10,
      });
      try {
        const s = h2.open();
        s.stream.handle(createReq({ key: b("x/"), rangeEnd: b("x0") }));
        s.stream.handle(createReq({ key: b("x/"), rangeEnd: b("x0"), startRevision: 1n }));
        s.stream.handle(progressReq());
        expect(h2.hub.counts().unsynced).toBe(1);
        await until(() => h2.hub.counts().synced === 2, "catch-up");
        s.stream.handle(progressReq());
        await settle();
        const progress = s.t.received.filter((r) => r.watchId === -1n);
        expect(progress.map((r) => r.header?.revision)).toEqual([51n]);
        // ... and it came after the last event.
        expect(s.t.received.at(-1)?.watchId).toBe(-1n);
      } finally {
        h2.close();
      }
    });
  });

  it("progress_notify: synced watchers without news get their id and the revision", async () => {
    const h2 = watchHarness(new FakeSource(db.store), { progressNotifyIntervalMs: 20 });
    try {
      const s = h2.open();
      s.stream.handle(createReq({ key: b("a"), progressNotify: true }));
      s.stream.handle(createReq({ key: b("b"), progressNotify: true }));
      s.stream.handle(createReq({ key: b("c") })); // no progress_notify
      await db.put("a", "1"); // 2
      await until(() => s.t.received.some((r) => r.watchId === 1n && !r.created), "a notify");
      await until(
        () =>
          s.t.received.some(
            (r) => r.watchId === 0n && !r.created && !r.events.length && r.header?.revision === 2n,
          ),
        "a notify of watcher 0 after its event",
      );
      const ids = s.t.received.filter((r) => !r.created).map((r) => r.watchId);
      expect(ids).not.toContain(2n);
      // A notification at revision R comes after every event of its watcher up to R, and
      // before any event above R.
      s.t.received.forEach((r, i) => {
        if (r.created || r.events.length > 0) return;
        const R = r.header!.revision;
        const mine = s.t.received.filter((x) => x.watchId === r.watchId);
        const k = mine.indexOf(r);
        const before = mine.slice(0, k).flatMap((x) => x.events);
        const after = mine.slice(k + 1).flatMap((x) => x.events);
        expect(
          before.every((e) => e.kv!.modRevision <= R),
          `notify ${i}`,
        ).toBe(true);
        expect(
          after.every((e) => e.kv!.modRevision > R),
          `notify ${i}`,
        ).toBe(true);
        expect(R).toBeLessThanOrEqual(2n);
      });
      const notifies0 = s.t.received.filter(
        (r) => r.watchId === 0n && !r.created && !r.events.length,
      );
      expect(notifies0.at(-1)?.header?.revision).toBe(2n);
    } finally {
      h2.close();
    }
  });

  it("fragment: large responses are split in order, contiguously; others are not", async () => {
    const h2 = watchHarness(new FakeSource(db.store), { fragmentBytes: 1000 });
    try {
      const s = h2.open();
      s.stream.handle(createReq({ key: b("f/"), rangeEnd: b("f0"), fragment: true }));
      s.stream.handle(createReq({ key: b("f/"), rangeEnd: b("f0") }));
      const big = "v".repeat(300);
      await db.txn([0, 1, 2, 3, 4, 5, 6].map((i) => putOp(`f/${i}`, big)));
      await settle();
      const r = s.t.received.filter((x) => !x.created);
      const frags = r.filter((x) => x.watchId === 0n);
      expect(frags.map((x) => [x.events.length, x.fragment])).toEqual([
        [3, true],
        [3, true],
        [1, false],
      ]);
      // Contiguous: the fragments come one after the other.
      expect(r.slice(0, 3).every((x) => x.watchId === 0n)).toBe(true);
      expect(r.filter((x) => x.watchId === 1n).map((x) => x.events.length)).toEqual([7]);
    } finally {
      h2.close();
    }
  });

  it("limits watchers per stream", async () => {
    const h2 = watchHarness(new FakeSource(db.store), { maxWatchersPerStream: 2 });
    try {
      const s = h2.open();
      for (let i = 0; i < 3; i++) s.stream.handle(createReq({ key: b(`k${i}`) }));
      s.stream.handle(createReq({ key: b("k9"), watchId: 9n }));
      s.stream.handle(cancelReq(0n));
      s.stream.handle(createReq({ key: b("k3") }));
      await settle();
      expect(texts(s)).toEqual([
        "id=0 rev=1 created",
        "id=1 rev=1 created",
        "id=-1 rev=1 created canceled reason=chainfire: too many watchers on one stream (limit 2)",
        "id=-1 rev=1 created canceled reason=chainfire: too many watchers on one stream (limit 2)",
        "id=0 rev=1 canceled",
        "id=2 rev=1 created",
      ]);
    } finally {
      h2.close();
    }
  });

  it("limits the bytes of watched keys per stream; a cancel gives them back", async () => {
    const h2 = watchHarness(new FakeSource(db.store), { maxWatchKeyBytesPerStream: 10 });
    try {
      const s = h2.open();
      s.stream.handle(createReq({ key: b("aaaa"), rangeEnd: b("aaab") })); // 8 bytes
      s.stream.handle(createReq({ key: b("ccc") })); // 11: refused
      s.stream.handle(createReq({ key: b("cc") })); // 10
      s.stream.handle(cancelReq(0n));
      s.stream.handle(createReq({ key: b("dddddddd") })); // 2 + 8
      await settle();
      expect(texts(s)).toEqual([
        "id=0 rev=1 created",
        "id=-1 rev=1 created canceled reason=chainfire: watched keys on one stream exceed 10 bytes",
        "id=1 rev=1 created",
        "id=0 rev=1 canceled",
        "id=2 rev=1 created",
      ]);
    } finally {
      h2.close();
    }
  });

  it("closing a stream removes its watchers", async () => {
    const s = h.open();
    s.stream.handle(createReq({ key: b("a") }));
    s.stream.handle(createReq({ key: b("a"), startRevision: 1n }));
    expect(h.hub.counts()).toEqual({ synced: 1, unsynced: 1, victims: 0 });
    s.stream.close();
    expect(h.hub.counts()).toEqual({ synced: 0, unsynced: 0, victims: 0 });
    await db.put("a", "1");
    await settle();
    expect(texts(s)).toEqual([]);
  });
});
