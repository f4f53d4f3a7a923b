import { describe, expect, it } from "vitest";
import { ent } from "./__tests__/util.js";
import { Unstable } from "./log-unstable.js";
import type { Entry, Snapshot } from "./types.js";

const idx = (ents: Entry[]) => ents.map((e) => `${e.term}/${e.index}`);
const snap = (index: number, term: number): Snapshot => ({
  metadata: {
    index,
    term,
    confState: { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
  },
  data: new Uint8Array(0),
});

describe("Unstable", () => {
  it("knows first/last/term from entries and snapshot", () => {
    const u = new Unstable(5);
    expect([u.maybeFirstIndex(), u.maybeLastIndex(), u.maybeTerm(5)]).toEqual([-1, -1, -1]);
    u.truncateAndAppend([ent(1, 5), ent(1, 6)]);
    expect([u.maybeLastIndex(), u.maybeTerm(6), u.maybeTerm(7), u.maybeTerm(4)]).toEqual([
      6, 1, -1, -1,
    ]);
    u.restore(snap(10, 2));
    expect([u.maybeFirstIndex(), u.maybeLastIndex(), u.maybeTerm(10), u.maybeTerm(9)]).toEqual([
      11, 10, 2, -1,
    ]);
  });

  it.each([
    {
      name: "append at tail",
      add: [ent(1, 7), ent(1, 8)],
      want: ["1/5", "1/6", "1/7", "1/8"],
      off: 5,
    },
    { name: "replace all", add: [ent(2, 5), ent(2, 6)], want: ["2/5", "2/6"], off: 5 },
    { name: "replace before offset", add: [ent(2, 4), ent(2, 5)], want: ["2/4", "2/5"], off: 4 },
    { name: "truncate middle", add: [ent(2, 6), ent(2, 7)], want: ["1/5", "2/6", "2/7"], off: 5 },
  ])("truncateAndAppend: $name", ({ add, want, off }) => {
    const u = new Unstable(5);
    u.truncateAndAppend([ent(1, 5), ent(1, 6)]);
    u.truncateAndAppend(add);
    expect(u.offset).toBe(off);
    expect(idx(u.slice(u.offset, u.offset + u.length))).toEqual(want);
  });

  it("rejects a gap", () => {
    const u = new Unstable(5);
    expect(() => u.truncateAndAppend([ent(1, 7)])).toThrow(/gap/);
  });

  it("stableTo drops a matching prefix, compacting the backing array", () => {
    const u = new Unstable(1);
    const ents = Array.from({ length: 5000 }, (_, i) => ent(1, i + 1));
    u.truncateAndAppend(ents);
    u.acceptInProgress();
    u.stableTo(3000, 1);
    expect([u.offset, u.length, u.offsetInProgress]).toEqual([3001, 2000, 5001]);
    expect(u.entryAt(3001).index).toBe(3001);
    u.stableTo(3000, 1); // already stable: ignored
    u.stableTo(4000, 2); // wrong term: ignored
    expect(u.offset).toBe(3001);
    u.stableTo(5000, 1);
    expect([u.offset, u.length]).toEqual([5001, 0]);
  });

  it("tracks what was handed out in a Ready", () => {
    const u = new Unstable(1);
    u.truncateAndAppend([ent(1, 1), ent(1, 2)]);
    expect(u.hasNextEntries()).toBe(true);
    u.acceptInProgress();
    expect([u.hasNextEntries(), u.nextEntries().length]).toEqual([false, 0]);
    u.truncateAndAppend([ent(1, 3)]);
    expect(idx(u.nextEntries())).toEqual(["1/3"]);
    u.truncateAndAppend([ent(2, 2)]);
    expect(idx(u.nextEntries())).toEqual(["2/2"]);
    u.restore(snap(7, 3));
    expect(u.nextSnapshot()?.metadata.index).toBe(7);
    u.acceptInProgress();
    expect(u.nextSnapshot()).toBeUndefined();
    u.stableSnapTo(7);
    expect(u.snapshot).toBeUndefined();
  });
});
