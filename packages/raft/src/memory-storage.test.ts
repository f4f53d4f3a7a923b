import { describe, expect, it } from "vitest";
import { ent } from "./__tests__/util.js";
import { MemoryStorage } from "./memory-storage.js";
import { CompactedError, SnapshotOutOfDateError, UnavailableError } from "./storage.js";
import type { Entry } from "./types.js";

const idx = (ents: Entry[]) => ents.map((e) => `${e.term}/${e.index}`);
const cs = {
  voters: [1n, 2n],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
};

function storage35(): MemoryStorage {
  // Entries 3..5 after a snapshot at 3 (term 3).
  const s = new MemoryStorage();
  s.append([ent(1, 1), ent(2, 2), ent(3, 3), ent(4, 4), ent(5, 5)]);
  s.createSnapshot(3, cs, new Uint8Array(0));
  s.compact(3);
  return s;
}

describe("MemoryStorage", () => {
  it("reports bounds and terms", () => {
    const s = storage35();
    expect([s.firstIndex(), s.lastIndex(), s.term(3), s.term(5)]).toEqual([4, 5, 3, 5]);
    expect(() => s.term(2)).toThrow(CompactedError);
    expect(() => s.term(6)).toThrow(UnavailableError);
  });

  it("returns entries limited by bytes (at least one)", () => {
    const s = new MemoryStorage();
    s.append([1, 2, 3, 4].map((i) => ({ ...ent(1, i), data: new Uint8Array(10) })));
    expect(idx(s.entries(1, 5, Number.MAX_SAFE_INTEGER))).toEqual(["1/1", "1/2", "1/3", "1/4"]);
    expect(idx(s.entries(1, 5, 0))).toEqual(["1/1"]);
    expect(idx(s.entries(1, 5, 25))).toEqual(["1/1", "1/2"]);
    expect(idx(s.entries(2, 4, 20))).toEqual(["1/2", "1/3"]);
    expect(() => s.entries(0, 2, 100)).toThrow(CompactedError);
    expect(() => s.entries(2, 6, 100)).toThrow(UnavailableError);
  });

  it.each([
    { add: [ent(3, 3), ent(4, 4), ent(5, 5)], want: ["3/3", "4/4", "5/5"] },
    { add: [ent(3, 3), ent(6, 4), ent(6, 5)], want: ["3/3", "6/4", "6/5"] },
    { add: [ent(3, 3), ent(4, 4), ent(5, 5), ent(5, 6)], want: ["3/3", "4/4", "5/5", "5/6"] },
    // truncate incoming entries below the snapshot, then conflict
    { add: [ent(2, 2), ent(3, 3), ent(5, 4)], want: ["3/3", "5/4"] },
    { add: [ent(6, 4)], want: ["3/3", "6/4"] },
    { add: [ent(6, 5)], want: ["3/3", "4/4", "6/5"] },
    { add: [ent(1, 1)], want: ["3/3", "4/4", "5/5"] }, // entirely compacted: ignored
  ])("append %#", ({ add, want }) => {
    const s = storage35();
    s.append(add);
    const all = [
      { ...ent(s.term(3), 3) },
      ...s.entries(4, s.lastIndex() + 1, Number.MAX_SAFE_INTEGER),
    ];
    expect(idx(all)).toEqual(want);
  });

  it("refuses a gap", () => {
    const s = storage35();
    expect(() => s.append([ent(5, 7)])).toThrow(/missing log entry/);
  });

  it("creates, compacts and applies snapshots", () => {
    const s = storage35();
    expect(() => s.createSnapshot(3, cs, new Uint8Array(0))).toThrow(SnapshotOutOfDateError);
    const snap = s.createSnapshot(4, undefined, Uint8Array.of(7));
    expect(snap.metadata).toEqual({ index: 4, term: 4, confState: cs });
    expect(() => s.compact(3)).toThrow(CompactedError);
    expect(() => s.compact(6)).toThrow(/out of bound/);
    s.compact(5);
    expect([s.firstIndex(), s.lastIndex()]).toEqual([6, 5]);

    const t = new MemoryStorage();
    t.applySnapshot(snap);
    expect([t.firstIndex(), t.lastIndex(), t.term(4)]).toEqual([5, 4, 4]);
    expect(t.initialState().confState).toEqual(cs);
    expect(() => t.applySnapshot(snap)).toThrow(SnapshotOutOfDateError);
  });

  it("keeps the hard state and conf state", () => {
    const s = new MemoryStorage({ voters: [1n] });
    expect(s.initialState().confState.voters).toEqual([1n]);
    s.setHardState({ term: 2, vote: 1n, commit: 0 });
    s.setConfState({ ...cs, learners: [3n] });
    expect(s.initialState()).toEqual({
      hardState: { term: 2, vote: 1n, commit: 0 },
      confState: { ...cs, learners: [3n] },
    });
  });

  it("compacts many entries in amortized O(1)", () => {
    const s = new MemoryStorage();
    const n = 20000;
    s.append(Array.from({ length: n }, (_, i) => ent(1, i + 1)));
    for (let i = 100; i <= n; i += 100) s.compact(i);
    expect([s.firstIndex(), s.lastIndex(), s.term(n)]).toEqual([n + 1, n, 1]);
  });
});
