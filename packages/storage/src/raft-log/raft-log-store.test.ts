import fs from "node:fs";
import {
  CompactedError,
  type Entry,
  EntryType,
  emptyConfState,
  type HardState,
  SnapshotOutOfDateError,
  UnavailableError,
} from "@chainfire/raft";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Engine } from "../engine.js";
import { type LogModel, ModelStorage, RaftMemoryModel } from "./__tests__/model-storage.js";
import { openEngine, prng, randInt, tempDir } from "./__tests__/support.js";
import { RaftLogBugError, RaftLogCorruptError } from "./errors.js";
import { RaftLogStore } from "./raft-log-store.js";

const NO_LIMIT = Number.MAX_SAFE_INTEGER;

function ent(index: number, term: number, data = `e${index}`): Entry {
  return { index, term, type: EntryType.Normal, data: Buffer.from(data) };
}

function ents(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(ent(i, term));
  return out;
}

function describeEntries(es: Entry[]): string[] {
  return es.map((e) => `${e.index}/${e.term}/${e.type}/${Buffer.from(e.data).toString("hex")}`);
}

describe("RaftLogStore", () => {
  let dir: string;
  let engine: Engine;

  beforeEach(async () => {
    dir = tempDir();
    engine = await openEngine(dir);
  });

  afterEach(async () => {
    await engine.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function reopen(store: RaftLogStore, opts = {}): Promise<RaftLogStore> {
    store.close();
    await engine.close();
    engine = await openEngine(dir);
    return RaftLogStore.open(engine, opts);
  }

  async function persist(store: RaftLogStore, s: Parameters<RaftLogStore["save"]>[1], sync = true) {
    const b = engine.batch();
    store.save(b, s);
    await engine.write(b, { sync });
    store.commit(b);
    b.close();
  }

  it("starts as an empty log at index 0", () => {
    const s = RaftLogStore.open(engine);
    expect(s.firstIndex()).toBe(1);
    expect(s.lastIndex()).toBe(0);
    expect(s.term(0)).toBe(0);
    expect(s.entries(1, 1, NO_LIMIT)).toEqual([]);
    expect(() => s.term(1)).toThrow(UnavailableError);
    expect(() => s.entries(0, 1, NO_LIMIT)).toThrow(CompactedError);
    expect(s.initialState().hardState).toEqual({ term: 0, vote: 0n, commit: 0 });
    expect(s.snapshot().metadata.index).toBe(0);
  });

  it("hides saved state until the batch is committed, and abort forgets it", async () => {
    const s = RaftLogStore.open(engine);
    const b = engine.batch();
    s.save(b, { entries: ents(1, 3, 1), hardState: { term: 1, vote: 2n, commit: 1 } });
    expect(s.lastIndex()).toBe(0);
    s.abort(b);
    b.clear();
    // After abort the staged position is back at 0: appending at 1 again is allowed.
    s.save(b, { entries: ents(1, 2, 1) });
    expect(s.lastIndex()).toBe(0);
    await engine.write(b, { sync: true });
    s.commit(b);
    expect(s.lastIndex()).toBe(2);
    expect(describeEntries(s.entries(1, 3, NO_LIMIT))).toEqual(describeEntries(ents(1, 2, 1)));
    b.close();
  });

  it("replaces a conflicting suffix and deletes what is past the new last index", async () => {
    let s = RaftLogStore.open(engine);
    await persist(s, { entries: ents(1, 10, 1), hardState: { term: 1, vote: 1n, commit: 3 } });
    await persist(s, { entries: [ent(5, 2, "new5"), ent(6, 2, "new6")] });
    expect(s.lastIndex()).toBe(6);
    expect(s.term(4)).toBe(1);
    expect(s.term(5)).toBe(2);
    expect(() => s.term(7)).toThrow(UnavailableError);
    expect(() => s.entries(5, 8, NO_LIMIT)).toThrow(UnavailableError);
    expect(Buffer.from(s.entries(6, 7, NO_LIMIT)[0].data).toString()).toBe("new6");
    s = await reopen(s);
    expect(s.lastIndex()).toBe(6);
    expect(Buffer.from(s.entries(5, 6, NO_LIMIT)[0].data).toString()).toBe("new5");
    expect(s.term(6)).toBe(2);
  });

  it("rejects a gap and non-contiguous entries", () => {
    const s = RaftLogStore.open(engine);
    const b = engine.batch();
    expect(() => s.save(b, { entries: ents(2, 3, 1) })).toThrow(RaftLogBugError);
    expect(() => s.save(b, { entries: [ent(1, 1), ent(3, 1)] })).toThrow(RaftLogBugError);
    expect(() => s.save(b, { entries: [ent(1, 2), ent(2, 1)] })).toThrow(RaftLogBugError);
    b.close();
  });

  it("compacts a prefix, keeps the boundary term, and reports CompactedError", async () => {
    let s = RaftLogStore.open(engine);
    await persist(s, { entries: [...ents(1, 5, 1), ...ents(6, 10, 2)] });
    await persist(s, { hardState: { term: 2, vote: 1n, commit: 8 } });
    expect(() => s.compact(9)).toThrow(RaftLogBugError); // past commit
    s.compact(7);
    expect(s.firstIndex()).toBe(8);
    expect(s.term(7)).toBe(2);
    expect(() => s.term(6)).toThrow(CompactedError);
    expect(() => s.entries(7, 9, NO_LIMIT)).toThrow(CompactedError);
    expect(() => s.compact(7)).toThrow(CompactedError);
    expect(() => s.compact(3)).toThrow(CompactedError);
    expect(describeEntries(s.entries(8, 11, NO_LIMIT))).toEqual(describeEntries(ents(8, 10, 2)));
    s = await reopen(s);
    expect(s.firstIndex()).toBe(8);
    expect(s.term(7)).toBe(2);
    expect(s.lastIndex()).toBe(10);
    // Appending over the compacted prefix skips what is compacted.
    await persist(s, { entries: ents(6, 12, 3) });
    expect(s.firstIndex()).toBe(8);
    expect(s.term(7)).toBe(2);
    expect(s.term(8)).toBe(3);
    expect(s.lastIndex()).toBe(12);
  });

  it("returns at least one entry whatever maxBytes, and stops before passing it", async () => {
    const s = RaftLogStore.open(engine, { cacheBytes: 0 }); // everything from RocksDB
    const big: Entry[] = [];
    for (let i = 1; i <= 6; i++) big.push(ent(i, 1, "x".repeat(100)));
    await persist(s, { entries: big });
    expect(s.entries(1, 7, 0)).toHaveLength(1);
    expect(s.entries(1, 7, 99)).toHaveLength(1);
    expect(s.entries(1, 7, 200)).toHaveLength(2);
    expect(s.entries(1, 7, 299)).toHaveLength(2);
    expect(s.entries(3, 7, 300)).toHaveLength(3);
    expect(s.entries(1, 7, NO_LIMIT)).toHaveLength(6);
    const cached = await reopen(s, { cacheBytes: 1 << 20 });
    expect(cached.cacheStats.entries).toBe(6);
    expect(cached.entries(1, 7, 0)).toHaveLength(1);
    expect(cached.entries(1, 7, 250)).toHaveLength(2);
    cached.close();
  });

  it("applies a snapshot: the log restarts after it, older snapshots are refused", async () => {
    let s = RaftLogStore.open(engine);
    await persist(s, { entries: ents(1, 5, 1), hardState: { term: 1, vote: 0n, commit: 2 } });
    const cs = { ...emptyConfState(), voters: [1n, 2n, 3n] };
    const snap = { metadata: { index: 20, term: 4, confState: cs }, data: Buffer.from("snap") };
    await persist(s, { snapshot: snap, hardState: { term: 4, vote: 0n, commit: 20 } });
    expect(s.firstIndex()).toBe(21);
    expect(s.lastIndex()).toBe(20);
    expect(s.term(20)).toBe(4);
    expect(s.snapshot().metadata).toEqual(snap.metadata);
    expect(s.initialState().confState).toEqual(cs);
    const b = engine.batch();
    expect(() => s.save(b, { snapshot: snap })).toThrow(SnapshotOutOfDateError);
    b.close();
    await persist(s, { entries: ents(21, 22, 4) });
    s = await reopen(s);
    expect(s.firstIndex()).toBe(21);
    expect(s.lastIndex()).toBe(22);
    expect(Buffer.from(s.snapshot().data).toString()).toBe("snap");
    expect(s.initialState().hardState).toEqual({ term: 4, vote: 0n, commit: 20 });
  });

  it("opens without scanning the log; verify() and reads detect a missing entry", async () => {
    let s = RaftLogStore.open(engine);
    await persist(s, { entries: [...ents(1, 50, 1), ...ents(51, 100, 3)] });
    await persist(s, { entries: ents(90, 120, 4), hardState: { term: 4, vote: 0n, commit: 60 } });
    s.compact(20);
    s = await reopen(s, { prefillBytes: 0 });
    expect(s.cacheStats.entries).toBe(0);
    expect([
      s.firstIndex(),
      s.lastIndex(),
      s.term(20),
      s.term(89),
      s.term(90),
      s.term(120),
    ]).toEqual([21, 120, 1, 3, 4, 4]);
    s.verify();
    const b = engine.batch();
    b.del("raft", Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 70]));
    await engine.write(b, { sync: true });
    b.close();
    expect(() => s.verify()).toThrow(RaftLogCorruptError);
    expect(() => s.entries(60, 80, NO_LIMIT)).toThrow(RaftLogCorruptError);
    s.close();
    await engine.close();
    engine = await openEngine(dir);
    expect(() => RaftLogStore.open(engine, { verify: true })).toThrow(RaftLogCorruptError);
  });

  it("defers a compaction asked for while a save is pending", async () => {
    const s = RaftLogStore.open(engine);
    await persist(s, { entries: ents(1, 10, 1), hardState: { term: 1, vote: 0n, commit: 8 } });
    const b = engine.batch();
    s.save(b, { entries: ents(11, 12, 2) });
    s.compact(5);
    expect(s.firstIndex()).toBe(1);
    await engine.write(b, { sync: true });
    s.commit(b);
    b.close();
    expect(s.firstIndex()).toBe(6);
    expect(s.term(5)).toBe(1);
    expect(s.term(12)).toBe(2);
  });

  it("takes the ConfState from the applied-state provider when given", () => {
    const cs = { ...emptyConfState(), voters: [7n], learners: [8n] };
    const s = RaftLogStore.open(engine, { appliedConfState: () => cs });
    expect(s.initialState().confState).toEqual(cs);
  });

  for (const [label, cacheBytes, reference] of [
    ["a tiny cache, naive model", 700, "naive"],
    ["a large cache, naive model", 64 << 20, "naive"],
    ["a tiny cache, raft's MemoryStorage", 700, "raft"],
    ["a large cache, raft's MemoryStorage", 64 << 20, "raft"],
  ] as const) {
    it(`behaves like the reference over random operations (${label})`, {
      timeout: 90_000,
    }, async () => {
      for (let seed = 1; seed <= 3; seed++) {
        await runModel(
          seed,
          cacheBytes,
          reference === "raft" ? new RaftMemoryModel() : new ModelStorage(),
        );
      }
    });
  }

  async function runModel(seed: number, cacheBytes: number, model: LogModel): Promise<void> {
    const rand = prng(seed * 7919 + cacheBytes);
    const ctx = `seed ${seed} cache ${cacheBytes}`;
    await engine.close();
    fs.rmSync(dir, { recursive: true, force: true });
    engine = await openEngine(dir);
    let store = RaftLogStore.open(engine, { cacheBytes });
    let hs: HardState = { term: 0, vote: 0n, commit: 0 };
    for (let step = 0; step < 300; step++) {
      const op = rand();
      const last = model.lastIndex();
      const first = model.firstIndex();
      if (op < 0.5) {
        // Append (maybe over a conflicting suffix above the commit index).
        const at = randInt(rand, Math.max(first, hs.commit + 1), last + 1);
        const baseTerm = Math.max(model.term(at - 1), 1);
        const term = baseTerm + (rand() < 0.2 ? randInt(rand, 1, 3) : 0);
        const n = randInt(rand, 1, 8);
        const es: Entry[] = [];
        for (let i = 0; i < n; i++) {
          const size = rand() < 0.1 ? randInt(rand, 200, 600) : randInt(rand, 0, 40);
          es.push({
            index: at + i,
            term,
            type: rand() < 0.1 ? EntryType.ConfChange : EntryType.Normal,
            data: Buffer.from(Array.from({ length: size }, () => randInt(rand, 0, 255))),
          });
        }
        const newLast = at + n - 1;
        const commit = Math.max(hs.commit, randInt(rand, hs.commit, newLast));
        hs = { term: Math.max(hs.term, term), vote: BigInt(randInt(rand, 0, 3)), commit };
        await persist(store, { entries: es, hardState: hs }, false);
        model.append(es);
        model.hardState = hs;
      } else if (op < 0.65) {
        if (hs.commit >= first) {
          const i = randInt(rand, first, hs.commit);
          store.compact(i);
          model.compact(i);
        } else {
          expect(() => store.compact(first - 1), ctx).toThrow(CompactedError);
        }
      } else if (op < 0.75) {
        const lo = Math.max(model.snap.metadata.index + 1, first - 1);
        if (lo <= last) {
          const i = randInt(rand, lo, last);
          const cs = { ...emptyConfState(), voters: [BigInt(i)] };
          store.createSnapshot(i, cs, Buffer.from(`s${i}`));
          model.createSnapshot(i, cs, Buffer.from(`s${i}`));
        }
      } else if (op < 0.8) {
        const index = Math.max(last, model.snap.metadata.index) + randInt(rand, 1, 30);
        const term = Math.max(model.term(last), 1) + randInt(rand, 0, 2);
        const snap = {
          metadata: { index, term, confState: { ...emptyConfState(), voters: [1n] } },
          data: Buffer.from(`r${index}`),
        };
        hs = { term: Math.max(hs.term, term), vote: hs.vote, commit: index };
        await persist(store, { snapshot: snap, hardState: hs }, false);
        model.applySnapshot(snap);
        model.hardState = hs;
      } else if (op < 0.85) {
        // A save that fails to write: abort must leave everything as it was.
        const b = engine.batch();
        store.save(b, { entries: [ent(last + 1, Math.max(model.term(last), 1))] });
        store.abort(b);
        b.close();
      } else if (op < 0.88) {
        store = await reopen(store, { cacheBytes });
        store.verify();
      } else {
        // Reads only.
      }
      check(store, model, rand, `${ctx} step ${step}`);
    }
    store = await reopen(store, { cacheBytes });
    check(store, model, rand, `${ctx} final reopen`);
    store.close();
  }

  function check(store: RaftLogStore, model: LogModel, rand: () => number, ctx: string) {
    const first = model.firstIndex();
    const last = model.lastIndex();
    expect(store.firstIndex(), ctx).toBe(first);
    expect(store.lastIndex(), ctx).toBe(last);
    expect(store.initialState().hardState, ctx).toEqual(model.hardState);
    expect(store.snapshot().metadata, ctx).toEqual(model.snap.metadata);
    expect(Buffer.from(store.snapshot().data).equals(Buffer.from(model.snap.data)), ctx).toBe(true);
    const got: number[] = [];
    const want: number[] = [];
    for (let i = first - 1; i <= last; i++) {
      got.push(store.term(i));
      want.push(model.term(i));
    }
    expect(got, `${ctx} terms`).toEqual(want);
    if (first >= 2) expect(() => store.term(first - 2), ctx).toThrow(CompactedError);
    expect(() => store.term(last + 1), ctx).toThrow(UnavailableError);
    expect(() => store.entries(first - 1, last + 1, NO_LIMIT), ctx).toThrow(CompactedError);
    expect(() => store.entries(first, last + 2, NO_LIMIT), ctx).toThrow(UnavailableError);
    for (let k = 0; k < 4; k++) {
      const lo = randInt(rand, first, last + 1);
      const hi = randInt(rand, lo, last + 1);
      const max = [0, 50, 300, 1000, NO_LIMIT][randInt(rand, 0, 4)];
      expect(
        describeEntries(store.entries(lo, hi, max)),
        `${ctx} entries(${lo},${hi},${max})`,
      ).toEqual(describeEntries(model.entries(lo, hi, max)));
    }
  }
});
