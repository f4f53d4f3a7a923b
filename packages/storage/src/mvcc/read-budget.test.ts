import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Engine } from "../engine.js";
import { isStorageError } from "../errors.js";
import { FROM_KEY } from "../keys.js";
import { bytes, TempDb } from "./__tests__/helpers.js";
import { KV_OVERHEAD_BYTES, type ReadBudget } from "./read.js";
import { MvccStore } from "./store.js";
import type { RequestOp } from "./types.js";

const k = bytes;
const get = (key: string, rangeEnd?: Uint8Array): RequestOp => ({
  request: { $case: "requestRange", value: { key: k(key), rangeEnd } },
});

/** The error `fn` throws (or undefined). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe("ReadBudget: the response size limit of reads", () => {
  let db: TempDb;
  let engine: Engine;
  let store: MvccStore;
  // Ten keys "k0".."k9" with 100-byte values: each KeyValue costs 2 + 100 + overhead.
  const cost = 2 + 100 + KV_OVERHEAD_BYTES;

  beforeEach(async () => {
    db = new TempDb();
    engine = await db.open();
    store = MvccStore.open(engine, { leaseExists: () => false });
    const w = store.beginWrite();
    for (let i = 0; i < 10; i++) w.put({ key: k(`k${i}`), value: Buffer.alloc(100, 120) });
    await w.commit({ sync: false });
  });
  afterEach(async () => {
    await engine.close();
    db.remove();
  });

  it("a range within the budget is answered and charged", () => {
    const budget: ReadBudget = { remaining: 10 * cost };
    const r = store.range({ key: k("k"), rangeEnd: k("l") }, budget);
    expect(r.kvs.length).toBe(10);
    expect(budget.remaining).toBe(0);
  });

  it("one byte less fails with ErrResponseTooLarge (RESOURCE_EXHAUSTED)", () => {
    const e = thrown(() =>
      store.range({ key: k("k"), rangeEnd: k("l") }, { remaining: 10 * cost - 1 }),
    );
    expect(isStorageError(e, "ErrResponseTooLarge")).toBe(true);
    expect((e as { code: number }).code).toBe(8);
  });

  it("limit, count_only and keys_only cost only what is returned", () => {
    const b = { remaining: 3 * cost };
    expect(store.range({ key: k("k"), rangeEnd: k("l"), limit: 2n }, b).more).toBe(true);
    expect(store.range({ key: FROM_KEY, rangeEnd: FROM_KEY, countOnly: true }, b).count).toBe(10n);
    const keysOnly = { remaining: 10 * (2 + KV_OVERHEAD_BYTES) };
    expect(
      store.range({ key: k("k"), rangeEnd: k("l"), keysOnly: true }, keysOnly).kvs.length,
    ).toBe(10);
  });

  it("sorting and history reads are bounded too", () => {
    const sorted = { key: k("k"), rangeEnd: k("l"), sortOrder: 2, sortTarget: 3, limit: 1n };
    expect(
      isStorageError(
        thrown(() => store.range(sorted, { remaining: cost })),
        "ErrResponseTooLarge",
      ),
    ).toBe(true);
    const old = { key: k("k"), rangeEnd: k("l"), revision: store.revision };
    expect(store.range(old, { remaining: 10 * cost }).kvs.length).toBe(10);
  });

  it("the ranges of one read-only txn share the budget; without one, reads are unbounded", () => {
    const w = store.beginWrite();
    try {
      const txn = { compare: [], success: [get("k", k("l")), get("k", k("l"))], failure: [] };
      expect(
        isStorageError(
          thrown(() => w.txn(txn, { budget: { remaining: 15 * cost } })),
          "ErrResponseTooLarge",
        ),
      ).toBe(true);
      expect(w.txn(txn, { budget: { remaining: 20 * cost } }).responses.length).toBe(2);
      expect(w.txn(txn).responses.length).toBe(2);
    } finally {
      w.abort();
    }
    expect(store.range({ key: k("k"), rangeEnd: k("l") }).kvs.length).toBe(10);
  });
});
