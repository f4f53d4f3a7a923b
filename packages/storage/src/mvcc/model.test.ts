/**
 * Model-based test: random seeded sequences of writes (in randomly sized batches through
 * MvccWrite, some aborted), reads between and inside batches, compactions (logical and
 * physical, interleaved), watch catch-up and reopens, run against MvccStore and against
 * the naive Model; every result, header, error, event and revision must match.
 *
 * Reproduce a failure with MVCC_SEED=<seed> (and MVCC_STEPS=<n> for longer runs).
 */
import { afterEach, expect, it, describe as suite } from "vitest";
import type { Engine } from "../engine.js";
import { FROM_KEY, prefixEnd } from "../keys.js";
import { bytes, describe, outcome, Rng, TempDb } from "./__tests__/helpers.js";
import { Model } from "./__tests__/model.js";
import { MvccStore } from "./store.js";
import type { Compare, PutRequest, RangeRequest, RequestOp, TxnRequest } from "./types.js";

const KEYS = [
  "a",
  "a\0",
  "a\0b",
  "ab",
  "b",
  "\0",
  "\0\0",
  "\xff",
  "\xff\xff",
  "a\xff",
  "b\0c",
  "c",
].map(bytes);
const VALUES = ["", "x", "y", "\0", "zz", "\xff"].map(bytes);
const LEASES = [1n, 2n, 7n];
const ALL_LEASES = [0n, 0n, 0n, ...LEASES, 99n];

class Gen {
  constructor(
    readonly rng: Rng,
    readonly model: Model,
  ) {}

  key(): Uint8Array {
    return this.rng.chance(0.01) ? new Uint8Array(0) : this.rng.pick(KEYS);
  }

  rangeEnd(key: Uint8Array): Uint8Array | undefined {
    switch (this.rng.int(7)) {
      case 0:
      case 1:
        return undefined;
      case 2:
        return new Uint8Array(0);
      case 3:
        return FROM_KEY;
      case 4:
        return prefixEnd(key.subarray(0, Math.max(0, key.length - this.rng.int(2))));
      default:
        return this.rng.pick(KEYS); // may be inverted
    }
  }

  revision(): bigint {
    const m = this.model;
    switch (this.rng.int(6)) {
      case 0:
      case 1:
        return 0n;
      case 2:
        return -1n;
      default:
        return BigInt(Math.max(-1, m.compactRev - 1) + this.rng.int(m.rev - m.compactRev + 4));
    }
  }

  range(): RangeRequest {
    const r = this.rng;
    const key = this.key();
    const req: RangeRequest = { key, rangeEnd: this.rangeEnd(key) };
    if (r.chance(0.4)) req.limit = BigInt(r.int(4));
    if (r.chance(0.5)) req.revision = this.revision();
    if (r.chance(0.3)) req.sortOrder = r.chance(0.02) ? 3 : r.int(3);
    if (r.chance(0.3)) req.sortTarget = r.int(5);
    if (r.chance(0.2)) req.keysOnly = true;
    if (r.chance(0.1)) req.countOnly = true;
    if (r.chance(0.1)) req.minModRevision = BigInt(r.int(this.model.rev + 1));
    if (r.chance(0.1)) req.maxModRevision = BigInt(r.int(this.model.rev + 1));
    if (r.chance(0.1)) req.minCreateRevision = BigInt(r.int(this.model.rev + 1));
    if (r.chance(0.1)) req.maxCreateRevision = BigInt(r.int(this.model.rev + 1));
    if (r.chance(0.1)) req.serializable = true;
    return req;
  }

  put(): PutRequest {
    const r = this.rng;
    const req: PutRequest = { key: this.key(), value: r.pick(VALUES) };
    if (r.chance(0.3)) req.lease = r.pick(ALL_LEASES);
    if (r.chance(0.3)) req.prevKv = true;
    if (r.chance(0.1)) {
      req.ignoreValue = true;
      if (r.chance(0.7)) delete req.value;
    }
    if (r.chance(0.1)) {
      req.ignoreLease = true;
      if (r.chance(0.7)) delete req.lease;
    }
    return req;
  }

  compare(): Compare {
    const r = this.rng;
    const key = this.key().length ? this.rng.pick(KEYS) : this.rng.pick(KEYS);
    const target = r.int(5);
    const c: Compare = { key, target, result: r.chance(0.02) ? 7 : r.int(4) };
    const rev = () => BigInt(r.int(this.model.rev + 2));
    switch (target) {
      case 0:
        c.targetUnion = { $case: "version", value: BigInt(r.int(4)) };
        break;
      case 1:
        c.targetUnion = { $case: "createRevision", value: rev() };
        break;
      case 2:
        c.targetUnion = { $case: "modRevision", value: rev() };
        break;
      case 3:
        c.targetUnion = { $case: "value", value: r.pick(VALUES) };
        break;
      default:
        c.targetUnion = { $case: "lease", value: r.pick(ALL_LEASES) };
    }
    if (r.chance(0.05)) c.targetUnion = undefined;
    if (r.chance(0.25)) c.rangeEnd = this.rangeEnd(key);
    return c;
  }

  op(depth: number): RequestOp {
    const r = this.rng;
    const n = r.int(depth < 2 ? 10 : 9);
    if (n < 3) return { request: { $case: "requestPut", value: this.put() } };
    if (n < 5) {
      const key = this.key();
      return {
        request: {
          $case: "requestDeleteRange",
          value: { key, rangeEnd: this.rangeEnd(key), prevKv: r.chance(0.5) },
        },
      };
    }
    if (n < 8) return { request: { $case: "requestRange", value: this.range() } };
    if (n === 8 && r.chance(0.1)) return { request: undefined };
    return { request: { $case: "requestTxn", value: this.txn(depth + 1) } };
  }

  txn(depth = 0): TxnRequest {
    const r = this.rng;
    const ops = (n: number) => Array.from({ length: n }, () => this.op(depth));
    const t: TxnRequest = {
      compare: Array.from({ length: r.int(3) }, () => this.compare()),
      success: ops(r.int(4)),
      failure: ops(r.int(3)),
    };
    if (depth === 0 && r.chance(0.01)) t.success = ops(129);
    return t;
  }
}

async function runSeed(seed: number, steps: number): Promise<void> {
  const db = new TempDb();
  let engine: Engine = await db.open();
  const leaseExists = (id: bigint) => LEASES.includes(id);
  let store = MvccStore.open(engine, { leaseExists });
  const model = new Model(LEASES);
  const rng = new Rng(seed);
  const gen = new Gen(rng, model);
  const ctx = (what: string) => `seed ${seed}: ${what}`;
  try {
    for (let step = 0; step < steps; step++) {
      // --- one batch of writes ---
      const w = store.beginWrite();
      const saved = model.clone();
      const modelEvents: unknown[] = [];
      const n = 1 + rng.int(rng.chance(0.2) ? 30 : 6);
      if (rng.chance(0.5)) w.prefetch(KEYS.filter(() => rng.chance(0.5)));
      for (let i = 0; i < n; i++) {
        if (rng.chance(0.05)) w.prefetch([rng.pick(KEYS)]);
        const k = rng.int(100);
        let got: unknown;
        let want: unknown;
        if (k < 35) {
          const req = gen.put();
          got = outcome(() => w.put(req));
          want = outcome(() => {
            const { result, events } = model.put(req);
            modelEvents.push(...events);
            return result;
          });
        } else if (k < 50) {
          const key = gen.key();
          const req = { key, rangeEnd: gen.rangeEnd(key), prevKv: rng.chance(0.5) };
          got = outcome(() => w.deleteRange(req));
          want = outcome(() => {
            const { result, events } = model.deleteRange(req);
            modelEvents.push(...events);
            return result;
          });
        } else if (k < 78) {
          const req = gen.txn();
          got = outcome(() => w.txn(req));
          want = outcome(() => {
            const { result, events } = model.txn(req);
            modelEvents.push(...events);
            return result;
          });
        } else if (k < 82) {
          const rev = BigInt(model.compactRev - 1 + rng.int(model.rev - model.compactRev + 3));
          got = outcome(() => w.compact(rev));
          want = outcome(() => model.compact(rev));
        } else if (k < 86) {
          const keys = Array.from({ length: rng.int(4) }, () => rng.pick(KEYS));
          if (rng.chance(0.5)) keys.push(...model.keysOfLease(rng.pick(LEASES)).map(bytes));
          got = outcome(() => w.deleteKeys(keys));
          want = outcome(() => {
            const { result, events } = model.deleteKeys(keys);
            modelEvents.push(...events);
            return result;
          });
        } else if (k < 90) {
          const lease = rng.pick(LEASES);
          got = w.keysOfLease(lease).map((b) => b.toString("latin1"));
          want = model.keysOfLease(lease);
        } else {
          const req = gen.range();
          got = outcome(() => w.range(req));
          want = outcome(() => model.range(req));
        }
        expect(got, ctx(`step ${step} op ${i}`)).toEqual(want);
        expect(w.revision, ctx("write revision")).toBe(BigInt(model.rev));
      }
      if (rng.chance(0.1)) {
        w.abort();
        model.restore(saved);
      } else {
        const { events, revision } = await w.commit({ sync: rng.chance(0.2) });
        expect(revision).toBe(BigInt(model.rev));
        expect(describe(events), ctx(`events of step ${step}`)).toEqual(describe(modelEvents));
      }
      expect(store.revision, ctx("revision")).toBe(BigInt(model.rev));
      expect(store.compactRevision, ctx("compact revision")).toBe(BigInt(model.compactRev));

      // --- reads between batches ---
      for (let i = 0; i < 3; i++) {
        const req = gen.range();
        expect(
          outcome(() => store.range(req)),
          ctx(`range after step ${step}`),
        ).toEqual(outcome(() => model.range(req)));
      }
      if (rng.chance(0.3)) {
        const reqs = Array.from({ length: 1 + rng.int(5) }, () =>
          rng.chance(0.5) ? { key: rng.pick(KEYS), keysOnly: rng.chance(0.2) } : gen.range(),
        );
        const got = store
          .rangeMany(reqs)
          .map((r) =>
            r instanceof Error
              ? { err: (r as { errorName: string }).errorName }
              : { ok: describe(r) },
          );
        expect(got, ctx(`rangeMany after step ${step}`)).toEqual(
          reqs.map((r) => outcome(() => model.range(r))),
        );
        const keys = reqs.map((r) => r.key);
        expect(describe(store.getMany(keys))).toEqual(
          describe(keys.map((k) => (k.length ? model.range({ key: k }).kvs[0] : undefined))),
        );
      }
      if (rng.chance(0.3)) {
        const lease = rng.pick(LEASES);
        expect(store.keysOfLease(lease).map((b) => b.toString("latin1"))).toEqual(
          model.keysOfLease(lease),
        );
      }
      if (rng.chance(0.3)) {
        const from = BigInt(
          Math.max(0, model.compactRev - 1) + rng.int(model.rev - model.compactRev + 3),
        );
        const got = outcome(() => {
          const events: unknown[] = [];
          let next = from;
          for (;;) {
            const page = store.changes({ fromRevision: next, limit: 1 + rng.int(5) });
            events.push(...page.events);
            next = page.nextRevision;
            if (page.done) return events;
          }
        });
        const want = outcome(() => model.changes(Number(from < 1n ? 1n : from)));
        expect(got, ctx(`changes from ${from} after step ${step}`)).toEqual(want);
      }
      if (rng.chance(0.3)) store.compactStep(1 + rng.int(6));
      if (rng.chance(0.05)) {
        await engine.close();
        engine = await db.open();
        store = MvccStore.open(engine, { leaseExists });
        expect(store.revision, ctx("revision after reopen")).toBe(BigInt(model.rev));
        expect(store.compactRevision).toBe(BigInt(model.compactRev));
      }
    }
    // Physical compaction must not change what is readable or the hash.
    const before = await store.hashKV();
    const reads = [0n, BigInt(Math.max(model.compactRev, 1)), BigInt(model.rev)].map((revision) =>
      outcome(() => store.range({ key: bytes("\0"), rangeEnd: FROM_KEY, revision })),
    );
    while (!store.compactStep(3)) {}
    expect(await store.hashKV()).toEqual(before);
    expect(
      [0n, BigInt(Math.max(model.compactRev, 1)), BigInt(model.rev)].map((revision) =>
        outcome(() => store.range({ key: bytes("\0"), rangeEnd: FROM_KEY, revision })),
      ),
    ).toEqual(reads);
  } finally {
    await engine.close();
    db.remove();
  }
}

suite("MvccStore against the model", () => {
  const fixed = process.env.MVCC_SEED ? [Number(process.env.MVCC_SEED)] : undefined;
  const steps = Number(process.env.MVCC_STEPS ?? 50);
  const base = Date.now() % 1_000_000;
  const seeds = fixed ?? Array.from({ length: 8 }, (_, i) => (i < 4 ? i + 1 : base + i));
  afterEach(() => {});
  it.each(seeds)("seed %i", async (seed) => {
    await runSeed(seed, steps);
  });
});
