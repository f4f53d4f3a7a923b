/**
 * MvccWrite.deleteRangeSteps (a large DeleteRange applied across event-loop turns) has the
 * effects and result of deleteRange, inside a write with other operations before and
 * after it; and a write begun while another is open is detached (read-only, abort only).
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Engine } from "../engine.js";
import { FROM_KEY, prefixEnd } from "../keys.js";
import { bytes as k, describe as plain, Rng, TempDb } from "./__tests__/helpers.js";
import { MvccStore } from "./store.js";
import { CompareResult, CompareTarget } from "./types.js";
import type { MvccWrite } from "./write.js";

const SEED = 20261122;
const opened: { db: TempDb; engine: Engine }[] = [];

async function openStore(): Promise<MvccStore> {
  const db = new TempDb();
  const engine = await db.open();
  opened.push({ db, engine });
  return MvccStore.open(engine, { leaseExists: (id) => id === 7n });
}

afterEach(async () => {
  for (const { db, engine } of opened.splice(0)) {
    await engine.close();
    db.remove();
  }
});

/** The same seeded history in `store`: keys p/000..p/299 and others, overwritten, leased. */
async function fill(store: MvccStore, rng: Rng): Promise<void> {
  for (let batch = 0; batch < 6; batch++) {
    const w = store.beginWrite();
    for (let i = 0; i < 100; i++) {
      const n = rng.int(300);
      const key = rng.chance(0.8) ? `p/${String(n).padStart(3, "0")}` : `q/${n}`;
      w.put({ key: k(key), value: k(`v${batch}.${i}`), lease: rng.chance(0.1) ? 7n : 0n });
    }
    await w.commit({ sync: false });
  }
}

/** Everything observable: revision, keys, the replayable history, lease 7's keys. */
function everything(store: MvccStore) {
  return plain({
    revision: store.revision,
    all: store.range({ key: k("\0"), rangeEnd: FROM_KEY }),
    history: store.changes({ fromRevision: 0n, limit: 1e9 }).events,
    lease: store.keysOfLease(7n).map((b) => b.toString()),
  });
}

/** A write with a put before and a put + range after the delete (same batch). */
async function scenario(
  store: MvccStore,
  del: (w: MvccWrite) => unknown,
): Promise<{ results: unknown[]; events: unknown }> {
  const w = store.beginWrite();
  const results: unknown[] = [];
  results.push(w.put({ key: k("p/150"), value: k("fresh") })); // in range, this batch
  results.push(w.put({ key: k("p/150x"), value: k("fresh2"), lease: 7n }));
  results.push(del(w));
  results.push(w.put({ key: k("p/007"), value: k("after") }));
  results.push(w.range({ key: k("p/"), rangeEnd: prefixEnd(k("p/")) }));
  results.push(w.range({ key: k("p/150"), revision: w.revision - 2n }));
  const out = await w.commit({ sync: false });
  return { results: plain(results) as unknown[], events: plain(out.events) };
}

describe("deleteRangeSteps", () => {
  it(`equals deleteRange, yielding every stepKeys keys (seed ${SEED})`, async () => {
    const a = await openStore();
    const b = await openStore();
    await fill(a, new Rng(SEED));
    await fill(b, new Rng(SEED));
    expect(everything(b)).toEqual(everything(a));
    const req = { key: k("p/"), rangeEnd: prefixEnd(k("p/")), prevKv: true };
    const ra = await scenario(a, (w) => w.deleteRange(req));
    let yields = 0;
    const rb = await scenario(b, (w) => {
      const steps = w.deleteRangeSteps(req, 7);
      for (;;) {
        const r = steps.next();
        if (r.done) return r.value;
        yields++;
      }
    });
    const deleted = Number((ra.results[2] as { deleted: string }).deleted.slice(0, -1));
    expect(deleted).toBeGreaterThan(200);
    // Reading the targets, then deleting them: a yield every 7 keys of each.
    expect(yields).toBe(Math.floor(deleted / 7) + Math.ceil(deleted / 7) - 1);
    expect(rb).toEqual(ra);
    expect(everything(b)).toEqual(everything(a));
    expect((await b.hashKV()).hash).toBe((await a.hashKV()).hash);
  });

  it("a single key, an empty range and a range with nothing in it", async () => {
    const s = await openStore();
    await fill(s, new Rng(SEED));
    const w = s.beginWrite();
    const run = (req: Parameters<MvccWrite["deleteRange"]>[0]) => {
      const steps = w.deleteRangeSteps(req, 1);
      for (;;) {
        const r = steps.next();
        if (r.done) return r.value;
      }
    };
    const before = s.revision;
    expect(run({ key: k("x/"), rangeEnd: prefixEnd(k("x/")) }).deleted).toBe(0n);
    expect(run({ key: k("p/2"), rangeEnd: k("p/1") }).deleted).toBe(0n);
    const one = s.range({ key: k("q/"), rangeEnd: prefixEnd(k("q/")), limit: 1n }).kvs[0]!;
    const r = run({ key: one.key, prevKv: true });
    expect(r.deleted).toBe(1n);
    expect(r.prevKvs[0]?.value).toEqual(one.value);
    expect(r.header.revision).toBe(before + 1n);
    await w.commit({ sync: false });
    expect(s.revision).toBe(before + 1n);
    expect(s.get(one.key)).toBeUndefined();
  });
});

describe("txnSteps", () => {
  it(`equals txn with DeleteRanges (nested, both branches), yielding (seed ${SEED})`, async () => {
    const a = await openStore();
    const b = await openStore();
    await fill(a, new Rng(SEED));
    await fill(b, new Rng(SEED));
    const delOp = (from: string, to: string, prevKv = false) => ({
      request: {
        $case: "requestDeleteRange" as const,
        value: { key: k(from), rangeEnd: k(to), prevKv },
      },
    });
    const putOp = (key: string) => ({
      request: { $case: "requestPut" as const, value: { key: k(key), value: k("t") } },
    });
    const txns = [
      {
        compare: [],
        success: [
          putOp("r/1"),
          delOp("p/0", "p/2", true),
          {
            request: {
              $case: "requestTxn" as const,
              value: { compare: [], success: [delOp("p/2", "p/3"), putOp("r/2")], failure: [] },
            },
          },
          {
            request: { $case: "requestRange" as const, value: { key: k("p/"), rangeEnd: k("p0") } },
          },
        ],
        failure: [],
      },
      {
        compare: [
          {
            key: k("nothing"),
            target: CompareTarget.VERSION,
            result: CompareResult.GREATER,
            targetUnion: { $case: "version" as const, value: 0n },
          },
        ],
        success: [],
        failure: [delOp("q/", "q0"), putOp("r/3")],
      },
    ];
    let yields = 0;
    for (const t of txns) {
      const wa = a.beginWrite();
      const wb = b.beginWrite();
      const ra = wa.txn(t);
      const steps = wb.txnSteps(t, {}, 5);
      let rb: unknown;
      for (;;) {
        const r = steps.next();
        if (r.done) {
          rb = r.value;
          break;
        }
        yields++;
      }
      expect(plain(rb)).toEqual(plain(ra));
      expect(ra.succeeded).toBe(t.compare.length === 0); // the second takes its failure branch
      const [ea, eb] = [await wa.commit({ sync: false }), await wb.commit({ sync: false })];
      expect(plain(eb.events)).toEqual(plain(ea.events));
    }
    expect(yields).toBeGreaterThan(40);
    expect(everything(b)).toEqual(everything(a));
    expect((await b.hashKV()).hash).toBe((await a.hashKV()).hash);
  });
});

describe("a write begun while another is open", () => {
  it("reads the committed state, serves a read-only txn, and cannot be committed", async () => {
    const s = await openStore();
    const w0 = s.beginWrite();
    w0.put({ key: k("a"), value: k("1") });
    await w0.commit({ sync: false });
    const open = s.beginWrite();
    open.put({ key: k("a"), value: k("2") });
    const detached = s.beginWrite();
    const t = detached.txn({
      compare: [],
      success: [{ request: { $case: "requestRange", value: { key: k("a") } } }],
      failure: [],
    });
    const first = t.responses[0]?.response;
    expect(first?.$case === "responseRange" && first.value.kvs[0]?.value.toString()).toBe("1");
    expect(() => detached.finish()).toThrow(/already open/);
    const other = s.beginWrite();
    other.abort();
    await open.commit({ sync: false });
    expect(s.get(k("a"))?.value.toString()).toBe("2");
    expect(s.revision).toBe(3n);
  });
});
