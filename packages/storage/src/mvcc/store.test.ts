import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Engine } from "../engine.js";
import { isStorageError, type StorageErrorName } from "../errors.js";
import { FROM_KEY, prefixEnd } from "../keys.js";
import { bytes, describe as plain, TempDb } from "./__tests__/helpers.js";
import { MAX_CHUNK_ENTRIES } from "./revlog.js";
import { MvccStore } from "./store.js";
import {
  CompareResult,
  CompareTarget,
  type RequestOp,
  SortOrder,
  SortTarget,
  type TxnRequest,
} from "./types.js";
import type { MvccWrite } from "./write.js";

const k = bytes;
const put = (key: string, value = "v"): RequestOp => ({
  request: { $case: "requestPut", value: { key: k(key), value: k(value) } },
});
const del = (key: string, rangeEnd?: Uint8Array): RequestOp => ({
  request: {
    $case: "requestDeleteRange",
    value: rangeEnd ? { key: k(key), rangeEnd } : { key: k(key) },
  },
});
const get = (key: string, revision?: bigint): RequestOp => ({
  request: { $case: "requestRange", value: revision ? { key: k(key), revision } : { key: k(key) } },
});
const nested = (t: TxnRequest): RequestOp => ({ request: { $case: "requestTxn", value: t } });

describe("MvccStore", () => {
  let db: TempDb;
  let engine: Engine;
  let store: MvccStore;
  const leases = new Set([5n, 6n]);

  const open = async () => {
    engine = await db.open();
    store = MvccStore.open(engine, { leaseExists: (id) => leases.has(id) });
  };
  const write = async <T>(fn: (w: MvccWrite) => T): Promise<T> => {
    const w = store.beginWrite();
    try {
      const r = fn(w);
      await w.commit({ sync: false });
      return r;
    } catch (e) {
      w.abort();
      throw e;
    }
  };
  const value = (key: string, revision?: bigint) =>
    store.range(revision ? { key: k(key), revision } : { key: k(key) }).kvs[0]?.value.toString();
  /** Everything observable: revisions, all keys now, and the whole replayable history. */
  const everything = () => ({
    revision: store.revision,
    compact: store.compactRevision,
    all: plain(store.range({ key: k("\0"), rangeEnd: FROM_KEY })),
    history: plain(store.changes({ fromRevision: store.compactRevision, limit: 1e9 }).events),
    leases: [5n, 6n].map((l) => store.keysOfLease(l).map((b) => b.toString())),
  });

  beforeEach(async () => {
    db = new TempDb();
    await open();
  });
  afterEach(async () => {
    await engine.close();
    db.remove();
  });

  describe("revisions", () => {
    it("starts at revision 1 with no keys and no compaction", () => {
      expect(store.revision).toBe(1n);
      expect(store.compactRevision).toBe(-1n);
      const r = store.range({ key: k("a"), rangeEnd: FROM_KEY });
      expect(r).toEqual({ header: { revision: 1n }, kvs: [], more: false, count: 0n });
      expect(store.range({ key: k("a"), revision: 1n }).kvs).toEqual([]);
    });

    it("gives each changing write one revision and tracks create, mod, version", async () => {
      const r1 = await write((w) => w.put({ key: k("a"), value: k("1") }));
      expect(r1.header.revision).toBe(2n);
      await write((w) => {
        expect(w.put({ key: k("a"), value: k("2") }).header.revision).toBe(3n);
        expect(w.put({ key: k("b"), value: k("x"), lease: 5n }).header.revision).toBe(4n);
      });
      const a = store.range({ key: k("a") }).kvs[0]!;
      expect([a.createRevision, a.modRevision, a.version, a.lease]).toEqual([2n, 3n, 2n, 0n]);
      const dr = await write((w) => w.deleteRange({ key: k("a"), prevKv: true }));
      expect(dr.header.revision).toBe(5n);
      expect(dr.deleted).toBe(1n);
      expect(dr.prevKvs[0]?.value.toString()).toBe("2");
      await write((w) => w.put({ key: k("a"), value: k("3") }));
      const a2 = store.range({ key: k("a") }).kvs[0]!;
      expect([a2.createRevision, a2.modRevision, a2.version]).toEqual([6n, 6n, 1n]);
      expect(value("a", 3n)).toBe("2");
      expect(value("a", 5n)).toBeUndefined();
      expect(value("a", 2n)).toBe("1");
      expect(value("a", 1n)).toBeUndefined();
    });

    it("does not advance on a delete of nothing or a read-only txn", async () => {
      await write((w) => w.put({ key: k("a") }));
      const d = await write((w) => w.deleteRange({ key: k("zzz") }));
      expect(d).toEqual({ header: { revision: 2n }, deleted: 0n, prevKvs: [] });
      const t = await write((w) =>
        w.txn({ compare: [], success: [get("a"), del("nothing")], failure: [] }),
      );
      expect(t.header.revision).toBe(2n);
      expect(store.revision).toBe(2n);
      const t2 = await write((w) => w.txn({ success: [get("a"), put("b"), get("b")] }));
      expect(t2.header.revision).toBe(3n);
      // a Range inside a txn reports the txn's revision once it has written
      const [r0, , r2] = t2.responses.map((r) => r.response.value.header.revision);
      expect([r0, r2]).toEqual([2n, 3n]);
      const inner = t2.responses[2]!.response;
      expect(inner.$case === "responseRange" && inner.value.kvs[0]?.value.toString()).toBe("v");
    });

    it("keeps sub-revision order for the events of one txn", async () => {
      const events: string[] = [];
      store.onCommit((evs, rev) => {
        for (const e of evs)
          events.push(`${e.type} ${e.kv.key.toString()}@${e.kv.modRevision}/${rev}`);
      });
      await write((w) => {
        w.put({ key: k("x") });
        w.txn({ success: [put("b"), put("a"), del("x")] });
      });
      expect(events).toEqual(["PUT x@2/3", "PUT b@3/3", "PUT a@3/3", "DELETE x@3/3"]);
    });
  });

  describe("bad input changes nothing", () => {
    beforeEach(async () => {
      await write((w) => {
        w.put({ key: k("a"), value: k("1") });
        w.put({ key: k("b"), value: k("2"), lease: 5n });
        w.put({ key: k("a"), value: k("3") });
        w.deleteRange({ key: k("b") });
        w.put({ key: k("c"), value: k("4") });
      });
      await write((w) => w.compact(3n));
    });

    const cases: [string, StorageErrorName, (w: MvccWrite) => unknown][] = [
      ["put with an empty key", "ErrEmptyKey", (w) => w.put({ key: k(""), value: k("x") })],
      ["delete with an empty key", "ErrEmptyKey", (w) => w.deleteRange({ key: k("") })],
      ["range with an empty key", "ErrEmptyKey", (w) => w.range({ key: k("") })],
      [
        "txn compare with an empty key",
        "ErrEmptyKey",
        (w) => w.txn({ compare: [{ key: k(""), target: 0, result: 0 }], success: [put("q")] }),
      ],
      ["txn op with an empty key", "ErrEmptyKey", (w) => w.txn({ success: [put("q"), put("")] })],
      [
        "ignore_value on a missing key",
        "ErrKeyNotFound",
        (w) => w.put({ key: k("missing"), ignoreValue: true }),
      ],
      [
        "ignore_lease on a missing key",
        "ErrKeyNotFound",
        (w) => w.put({ key: k("missing"), ignoreLease: true }),
      ],
      [
        "ignore_value with a value",
        "ErrValueProvided",
        (w) => w.put({ key: k("a"), value: k("x"), ignoreValue: true }),
      ],
      [
        "ignore_lease with a lease",
        "ErrLeaseProvided",
        (w) => w.put({ key: k("a"), lease: 5n, ignoreLease: true }),
      ],
      ["an unknown lease", "ErrLeaseNotFound", (w) => w.put({ key: k("a"), lease: 99n })],
      [
        "an unknown lease in a txn",
        "ErrLeaseNotFound",
        (w) =>
          w.txn({
            success: [
              put("q"),
              { request: { $case: "requestPut", value: { key: k("r"), lease: 99n } } },
            ],
          }),
      ],
      ["a future revision", "ErrFutureRev", (w) => w.range({ key: k("a"), revision: 99n })],
      ["a compacted revision", "ErrCompacted", (w) => w.range({ key: k("a"), revision: 2n })],
      [
        "a future revision in a txn",
        "ErrFutureRev",
        (w) => w.txn({ success: [put("q"), get("a", 99n)] }),
      ],
      [
        "a compacted revision in a txn",
        "ErrCompacted",
        (w) => w.txn({ success: [put("q"), get("a", 2n)] }),
      ],
      ["compact at the compact revision", "ErrCompacted", (w) => w.compact(3n)],
      ["compact below it", "ErrCompacted", (w) => w.compact(1n)],
      ["compact in the future", "ErrFutureRev", (w) => w.compact(99n)],
      [
        "129 success ops",
        "ErrTooManyOps",
        (w) => w.txn({ success: Array.from({ length: 129 }, (_, i) => put(`k${i}`)) }),
      ],
      [
        "129 compares",
        "ErrTooManyOps",
        (w) =>
          w.txn({
            compare: Array.from({ length: 129 }, () => ({ key: k("a"), target: 0, result: 0 })),
          }),
      ],
      [
        "a nested txn past the parent's budget",
        "ErrTooManyOps",
        (w) =>
          w.txn({
            success: [
              ...Array.from({ length: 100 }, (_, i) => get(`k${i}`)),
              nested({ success: Array.from({ length: 29 }, (_, i) => put(`n${i}`)) }),
            ],
          }),
      ],
      ["two puts of one key", "ErrDuplicateKey", (w) => w.txn({ success: [put("q"), put("q")] })],
      [
        "a put inside a delete range",
        "ErrDuplicateKey",
        (w) => w.txn({ success: [del("a", k("z")), put("q")] }),
      ],
      [
        "a put deleted by the same key",
        "ErrDuplicateKey",
        (w) => w.txn({ success: [put("q"), del("q")] }),
      ],
      [
        "a nested put of an outer put's key",
        "ErrDuplicateKey",
        (w) => w.txn({ success: [put("q"), nested({ success: [put("q")] })] }),
      ],
      [
        "a nested put inside an outer delete",
        "ErrDuplicateKey",
        (w) => w.txn({ failure: [del("p", k("r")), nested({ failure: [put("q")] })] }),
      ],
      [
        "an outer put inside a nested delete",
        "ErrDuplicateKey",
        (w) => w.txn({ success: [nested({ success: [del("p", k("r"))] }), put("q")] }),
      ],
      [
        "an empty op",
        "ErrKeyNotFound",
        (w) => w.txn({ success: [put("q"), { request: undefined }] }),
      ],
      [
        "an invalid sort option",
        "ErrInvalidSortOption",
        (w) => w.range({ key: k("a"), sortOrder: 7 }),
      ],
      [
        "an invalid sort target",
        "ErrInvalidSortOption",
        (w) => w.range({ key: k("a"), sortTarget: -1 }),
      ],
      // etcd lets a "\0"-ended delete precede a put (its interval check misses it) and
      // then fails the put half-way: here the txn is rolled back instead.
      [
        "a txn failing half-way",
        "ErrKeyNotFound",
        (w) =>
          w.txn({
            success: [
              del("a", FROM_KEY),
              { request: { $case: "requestPut", value: { key: k("c"), ignoreValue: true } } },
            ],
          }),
      ],
    ];

    it.each(cases)("%s → %s", async (_name, errorName, op) => {
      const before = everything();
      const w = store.beginWrite();
      w.put({ key: k("same-batch"), value: k("ok") });
      let caught: unknown;
      try {
        op(w);
      } catch (e) {
        caught = e;
      }
      expect(isStorageError(caught, errorName), String(caught)).toBe(true);
      // the batch stays usable and holds only the good write
      expect(w.revision).toBe(before.revision + 1n);
      await w.commit({ sync: false });
      const after = everything();
      expect(after.revision).toBe(before.revision + 1n);
      expect(after.compact).toBe(before.compact);
      expect(value("same-batch")).toBe("ok");
      expect(after.leases).toEqual(before.leases);
      await write((w2) => w2.deleteRange({ key: k("same-batch") }));
      expect(plain(store.range({ key: k("\0"), rangeEnd: FROM_KEY }).kvs)).toEqual(
        (before.all as { kvs: unknown }).kvs,
      );
    });

    it("answers an inverted range with nothing, and deletes nothing", async () => {
      const before = everything();
      expect(store.range({ key: k("c"), rangeEnd: k("a") })).toEqual({
        header: { revision: before.revision },
        kvs: [],
        more: false,
        count: 0n,
      });
      const d = await write((w) => w.deleteRange({ key: k("c"), rangeEnd: k("a"), prevKv: true }));
      expect(d).toEqual({ header: { revision: before.revision }, deleted: 0n, prevKvs: [] });
      expect(everything()).toEqual(before);
    });

    it("refuses the same errors on the committed-state read path", () => {
      const expectErr = (name: StorageErrorName, f: () => unknown) => {
        let caught: unknown;
        try {
          f();
        } catch (e) {
          caught = e;
        }
        expect(isStorageError(caught, name), String(caught)).toBe(true);
      };
      expectErr("ErrEmptyKey", () => store.range({ key: k("") }));
      expectErr("ErrFutureRev", () => store.range({ key: k("a"), revision: store.revision + 1n }));
      expectErr("ErrCompacted", () => store.range({ key: k("a"), revision: 2n }));
      expectErr("ErrCompacted", () => store.changes({ fromRevision: 2n }));
      expect(store.range({ key: k("a"), revision: 3n }).kvs[0]?.value.toString()).toBe("1");
      expect(store.range({ key: k("a"), revision: -5n }).kvs[0]?.value.toString()).toBe("3");
    });

    it("aborting a write drops all of it", async () => {
      const before = everything();
      const w = store.beginWrite();
      w.put({ key: k("a"), value: k("gone") });
      w.compact(4n);
      w.abort();
      expect(everything()).toEqual(before);
      expect(() => w.put({ key: k("a") })).toThrow(/finished/);
    });
  });

  describe("txn semantics", () => {
    beforeEach(async () => {
      await write((w) => {
        w.put({ key: k("a"), value: k("1") }); // 2
        w.put({ key: k("b"), value: k("2"), lease: 6n }); // 3
      });
    });

    const cmp = (key: string, target: number, result: number, v: bigint | string) => ({
      key: k(key),
      target,
      result,
      targetUnion:
        typeof v === "string"
          ? ({ $case: "value", value: k(v) } as const)
          : target === CompareTarget.VERSION
            ? ({ $case: "version", value: v } as const)
            : target === CompareTarget.CREATE
              ? ({ $case: "createRevision", value: v } as const)
              : target === CompareTarget.MOD
                ? ({ $case: "modRevision", value: v } as const)
                : ({ $case: "lease", value: v } as const),
    });
    const holds = (c: ReturnType<typeof cmp> & { rangeEnd?: Uint8Array }) =>
      store.beginWrite().txn({ compare: [c] }).succeeded;
    afterEach(() => {
      // leave no write open for the next test's helpers
    });

    it("compares every target like etcd, missing keys as zero (VALUE: false)", async () => {
      const check = (c: ReturnType<typeof cmp> & { rangeEnd?: Uint8Array }) => {
        const w = store.beginWrite();
        const r = w.txn({ compare: [c] }).succeeded;
        w.abort();
        return r;
      };
      void holds;
      expect(check(cmp("a", CompareTarget.VERSION, CompareResult.EQUAL, 1n))).toBe(true);
      expect(check(cmp("a", CompareTarget.CREATE, CompareResult.EQUAL, 2n))).toBe(true);
      expect(check(cmp("a", CompareTarget.MOD, CompareResult.LESS, 3n))).toBe(true);
      expect(check(cmp("a", CompareTarget.VALUE, CompareResult.GREATER, "0"))).toBe(true);
      expect(check(cmp("b", CompareTarget.LEASE, CompareResult.EQUAL, 6n))).toBe(true);
      expect(check(cmp("b", CompareTarget.LEASE, CompareResult.NOT_EQUAL, 6n))).toBe(false);
      expect(check(cmp("zz", CompareTarget.VERSION, CompareResult.EQUAL, 0n))).toBe(true);
      expect(check(cmp("zz", CompareTarget.MOD, CompareResult.EQUAL, 0n))).toBe(true);
      expect(check(cmp("zz", CompareTarget.CREATE, CompareResult.LESS, 1n))).toBe(true);
      expect(check(cmp("zz", CompareTarget.LEASE, CompareResult.EQUAL, 0n))).toBe(true);
      expect(check(cmp("zz", CompareTarget.VALUE, CompareResult.EQUAL, ""))).toBe(false);
      expect(check(cmp("zz", CompareTarget.VALUE, CompareResult.NOT_EQUAL, "x"))).toBe(false);
      // with a range end every key in range must satisfy it
      const all = { ...cmp("a", CompareTarget.MOD, CompareResult.GREATER, 1n), rangeEnd: k("c") };
      expect(check(all)).toBe(true);
      expect(
        check({ ...cmp("a", CompareTarget.MOD, CompareResult.GREATER, 2n), rangeEnd: k("c") }),
      ).toBe(false);
      expect(
        check({ ...cmp("c", CompareTarget.VALUE, CompareResult.EQUAL, ""), rangeEnd: k("d") }),
      ).toBe(false);
    });

    it("evaluates nested compares before any op and sees earlier writes in later ops", async () => {
      const r = await write((w) =>
        w.txn({
          compare: [cmp("a", CompareTarget.VERSION, CompareResult.EQUAL, 1n)],
          success: [
            {
              request: {
                $case: "requestPut",
                value: { key: k("a"), value: k("new"), prevKv: true },
              },
            },
            // decided against the state before the txn: a's version is still 1 here
            nested({
              compare: [cmp("a", CompareTarget.VALUE, CompareResult.EQUAL, "1")],
              success: [get("a"), put("c", "nested")],
            }),
          ],
        }),
      );
      expect(r.succeeded).toBe(true);
      expect(r.header.revision).toBe(4n);
      const [p, t] = r.responses;
      expect(p?.response.$case === "responsePut" && p.response.value.prevKv?.value.toString()).toBe(
        "1",
      );
      const inner = t?.response.$case === "responseTxn" ? t.response.value : undefined;
      expect(inner?.succeeded).toBe(true);
      expect(inner?.header.revision).toBe(0n);
      const got = inner?.responses[0]?.response;
      expect(got?.$case === "responseRange" && got.value.kvs[0]?.value.toString()).toBe("new");
      expect(value("c")).toBe("nested");
    });

    it("allows a \\0-ended delete next to a put, as etcd's interval check does", async () => {
      const r = await write((w) => w.txn({ success: [put("q", "x"), del("a", FROM_KEY)] }));
      expect(r.header.revision).toBe(4n);
      const d = r.responses[1]?.response;
      expect(d?.$case === "responseDeleteRange" && d.value.deleted).toBe(3n);
      expect(store.range({ key: k("a"), rangeEnd: FROM_KEY }).count).toBe(0n);
      // both changes of q are in the log, in order
      const evs = store.changes({ fromRevision: 4n }).events.map((e) => `${e.type} ${e.kv.key}`);
      expect(evs).toEqual(["PUT q", "DELETE a", "DELETE b", "DELETE q"]);
      expect(value("q", 3n)).toBeUndefined();
      expect(value("q", 4n)).toBeUndefined();
    });
  });

  describe("ranges", () => {
    beforeEach(async () => {
      await write((w) => {
        for (const [key, v] of [
          ["a", "3"],
          ["a\0", "1"],
          ["a\xff", "2"],
          ["b", "5"],
          ["\xff", "4"],
        ]) {
          w.put({ key: k(key), value: k(v) });
        }
        w.put({ key: k("a"), value: k("0") });
      });
    });
    const keys = (r: { kvs: { key: Uint8Array }[] }) =>
      r.kvs.map((kv) => Buffer.from(kv.key).toString("latin1"));

    it("handles prefixes, \\0 ends, limits, count and more", () => {
      expect(keys(store.range({ key: k("a"), rangeEnd: prefixEnd(k("a")) }))).toEqual([
        "a",
        "a\0",
        "a\xff",
      ]);
      const lim = store.range({ key: k("\0"), rangeEnd: FROM_KEY, limit: 2n });
      expect([keys(lim), lim.count, lim.more]).toEqual([["a", "a\0"], 5n, true]);
      const exact = store.range({ key: k("\0"), rangeEnd: FROM_KEY, limit: 5n });
      expect([exact.kvs.length, exact.more]).toEqual([5, false]);
      const co = store.range({ key: k("a"), rangeEnd: FROM_KEY, countOnly: true });
      expect([co.kvs.length, co.count]).toEqual([0, 5n]);
      const ko = store.range({ key: k("b"), keysOnly: true });
      expect([keys(ko), ko.kvs[0]?.value.length]).toEqual([["b"], 0]);
    });

    it("sorts before limiting, with etcd's defaults", () => {
      const byValueDesc = store.range({
        key: k("\0"),
        rangeEnd: FROM_KEY,
        sortTarget: SortTarget.VALUE,
        sortOrder: SortOrder.DESCEND,
        limit: 2n,
      });
      expect([keys(byValueDesc), byValueDesc.more, byValueDesc.count]).toEqual([
        ["b", "\xff"],
        true,
        5n,
      ]);
      // target != KEY with order NONE sorts ascending
      const byMod = store.range({ key: k("\0"), rangeEnd: FROM_KEY, sortTarget: SortTarget.MOD });
      expect(keys(byMod)).toEqual(["a\0", "a\xff", "b", "\xff", "a"]);
      const keyDesc = store.range({
        key: k("\0"),
        rangeEnd: FROM_KEY,
        sortOrder: SortOrder.DESCEND,
      });
      expect(keys(keyDesc)).toEqual(["\xff", "b", "a\xff", "a\0", "a"]);
    });

    it("filters by mod and create revision after counting", () => {
      const r = store.range({
        key: k("\0"),
        rangeEnd: FROM_KEY,
        minModRevision: 4n,
        maxCreateRevision: 5n,
      });
      // a: create 2, mod 7; a\0: 3/3; a\xff: 4/4; b: 5/5; \xff: 6/6
      expect([keys(r), r.count]).toEqual([["a", "a\xff", "b"], 5n]);
    });

    it("reads old revisions through many versions of each key", async () => {
      for (let round = 0; round < 30; round++) {
        await write((w) => {
          for (const key of ["a", "a\0", "b"]) w.put({ key: k(key), value: k(`${round}`) });
          if (round % 7 === 3) w.deleteRange({ key: k("a\0") });
        });
      }
      const at = 8n + 3n * 10n; // in round 10
      const r = store.range({ key: k("\0"), rangeEnd: FROM_KEY, revision: at });
      const model = new Map<string, string>([
        ["a", "0"],
        ["a\0", "1"],
        ["a\xff", "2"],
        ["b", "5"],
        ["\xff", "4"],
      ]);
      let rev = 7;
      for (let round = 0; round < 30; round++) {
        for (const key of ["a", "a\0", "b"]) if (++rev <= at) model.set(key, `${round}`);
        if (round % 7 === 3 && ++rev <= at) model.delete("a\0");
      }
      expect(
        r.kvs.map((kv) => [Buffer.from(kv.key).toString("latin1"), kv.value.toString()]),
      ).toEqual([...model].sort(([x], [y]) => (x < y ? -1 : 1)));
    });
  });

  it("survives close and reopen with its revision, compaction, data and indexes", async () => {
    await write((w) => {
      w.put({ key: k("a"), value: k("1"), lease: 5n });
      w.put({ key: k("a"), value: k("2"), lease: 5n });
      w.put({ key: k("b"), value: k("3"), lease: 6n });
      w.deleteRange({ key: k("b") });
      w.put({ key: k("c"), value: k("4") });
    });
    await write((w) => w.compact(3n));
    const before = everything();
    const hash = await store.hashKV();
    await engine.close();
    await open();
    expect(everything()).toEqual(before);
    expect(await store.hashKV()).toEqual(hash);
    expect(store.range({ key: k("a"), revision: 3n }).kvs[0]?.value.toString()).toBe("2");
    const r = await write((w) => w.put({ key: k("d") }));
    expect(r.header.revision).toBe(before.revision + 1n);
  });

  it("maintains the lease → keys index", async () => {
    const keysOf = (l: bigint) => store.keysOfLease(l).map((b) => b.toString());
    await write((w) => {
      w.put({ key: k("x"), lease: 5n });
      w.put({ key: k("y"), lease: 5n });
      w.put({ key: k("z"), lease: 6n });
      expect(w.keysOfLease(5n).map((b) => b.toString())).toEqual(["x", "y"]);
    });
    await write((w) => {
      w.put({ key: k("x"), lease: 6n }); // moves
      w.put({ key: k("y"), ignoreLease: true, value: k("kept") }); // keeps
      w.put({ key: k("z") }); // detaches
    });
    expect([keysOf(5n), keysOf(6n)]).toEqual([["y"], ["x"]]);
    const revoke = await write((w) => w.deleteKeys(w.keysOfLease(6n)));
    expect([revoke.deleted, revoke.header.revision]).toEqual([1n, 8n]);
    expect(keysOf(6n)).toEqual([]);
    await write((w) => w.deleteRange({ key: k("y") }));
    expect(keysOf(5n)).toEqual([]);
    const none = await write((w) => w.deleteKeys([k("nothing")]));
    expect(none.header.revision).toBe(9n);
  });

  it("pages watch catch-up across chunks of a large write, and compacts them", async () => {
    const n = MAX_CHUNK_ENTRIES + 500;
    await write((w) => w.put({ key: k("first") }));
    await write((w) => {
      for (let i = 0; i < n; i++)
        w.put({ key: k(`k${String(i).padStart(5, "0")}`), value: k(`${i}`) });
      w.txn({ success: [del("k", prefixEnd(k("k")))] });
    });
    const last = store.revision;
    expect(last).toBe(BigInt(2 + n + 1));
    let from = 3n;
    let seen = 0;
    let deletes = 0;
    for (;;) {
      const page = store.changes({ fromRevision: from, limit: 700 });
      for (const e of page.events) {
        if (e.type === "PUT") expect(e.kv.modRevision).toBe(BigInt(3 + seen++));
        else deletes++;
      }
      from = page.nextRevision;
      if (page.done) break;
    }
    expect([seen, deletes]).toEqual([n, n]);
    const mid = store.changes({ fromRevision: 3n + 4100n, limit: 1 });
    expect(mid.events.map((e) => e.kv.value.toString())).toEqual(["4100"]);
    const window = store.changes({ fromRevision: 3n + 4000n, toRevision: 3n + 4199n });
    expect([window.events.length, window.nextRevision, window.done]).toEqual([
      200,
      3n + 4200n,
      true,
    ]);
    const hash = await store.hashKV();
    await write((w) => w.compact(3n + 4200n));
    while (!store.compactStep(1000)) {}
    expect(store.compactionPending).toBe(false);
    const after = store.changes({ fromRevision: 3n + 4200n, limit: 1e9 }).events;
    expect(after.filter((e) => e.type === "PUT").length).toBe(n - 4200);
    expect(after[0]?.kv.value.toString()).toBe("4200");
    expect(
      store.range({ key: k("k"), rangeEnd: prefixEnd(k("k")), revision: 3n + 4300n }).count,
    ).toBe(4301n);
    await expect(store.hashKV(4000n)).rejects.toThrow(/compacted/);
    expect(await store.hashKV(last)).not.toEqual(hash);
  });

  it("hashes equal histories equally, whatever the batching and compaction progress", async () => {
    const ops = (w: MvccWrite, i: number) => {
      w.put({ key: k(`k${i % 7}`), value: k(`${i}`) });
      if (i % 5 === 0) w.deleteRange({ key: k(`k${(i + 3) % 7}`) });
    };
    for (let b = 0; b < 10; b++)
      await write((w) => {
        for (let i = b * 10; i < b * 10 + 10; i++) ops(w, i);
      });
    await write((w) => w.compact(60n));
    const other = new TempDb();
    const e2 = await other.open();
    try {
      const s2 = MvccStore.open(e2);
      const w = s2.beginWrite();
      for (let i = 0; i < 100; i++) ops(w, i);
      w.compact(60n);
      await w.commit({ sync: false });
      const h1 = await store.hashKV();
      expect(await s2.hashKV()).toEqual(h1);
      while (!store.compactStep(3)) {}
      expect(await store.hashKV()).toEqual(h1);
      expect(await store.hashKV(90n)).toEqual(await s2.hashKV(90n));
      const w2 = s2.beginWrite();
      w2.put({ key: k("k1"), value: k("different") });
      await w2.commit({ sync: false });
      const w3 = store.beginWrite();
      w3.put({ key: k("k1"), value: k("differenT") });
      await w3.commit({ sync: false });
      expect((await s2.hashKV()).hash).not.toBe((await store.hashKV()).hash);
      await expect(store.hashKV(60n)).rejects.toThrow(/compacted/);
      await expect(store.hashKV(store.revision + 1n)).rejects.toThrow(/future/);
    } finally {
      await e2.close();
      other.remove();
    }
  });
});
