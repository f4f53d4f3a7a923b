import { describe, expect, it } from "vitest";
import { ent } from "./__tests__/util.js";
import { MemoryStorage } from "./memory-storage.js";
import { RaftLog } from "./raft-log.js";
import { CompactedError, UnavailableError } from "./storage.js";
import type { Entry } from "./types.js";
import { NO_LIMIT } from "./util.js";

/** A log whose storage holds `stable` (after a snapshot at `snapIndex`/`snapTerm`). */
function newLog(
  stable: Entry[],
  unstable: Entry[] = [],
  snap?: { index: number; term: number },
): RaftLog {
  const s = new MemoryStorage();
  if (snap !== undefined) {
    s.applySnapshot({
      metadata: { index: snap.index, term: snap.term, confState: s.initialState().confState },
      data: new Uint8Array(0),
    });
  }
  s.append(stable);
  const log = new RaftLog(s);
  if (unstable.length > 0) log.append(unstable);
  return log;
}

const terms = (ents: Entry[]) => ents.map((e) => `${e.term}/${e.index}`);

describe("RaftLog.findConflict", () => {
  const prev = [ent(1, 1), ent(2, 2), ent(3, 3)];
  it.each([
    { ents: [], want: 0 },
    // no conflict, all present
    { ents: [ent(1, 1), ent(2, 2), ent(3, 3)], want: 0 },
    { ents: [ent(2, 2), ent(3, 3)], want: 0 },
    { ents: [ent(3, 3)], want: 0 },
    // no conflict, new entries
    { ents: [ent(1, 1), ent(2, 2), ent(3, 3), ent(4, 4), ent(4, 5)], want: 4 },
    { ents: [ent(3, 3), ent(4, 4), ent(4, 5)], want: 4 },
    { ents: [ent(4, 4), ent(4, 5)], want: 4 },
    // conflicts
    { ents: [ent(4, 1), ent(4, 2)], want: 1 },
    { ents: [ent(1, 2), ent(4, 3), ent(4, 4)], want: 2 },
    { ents: [ent(1, 3), ent(2, 4), ent(4, 5), ent(4, 6)], want: 3 },
  ])("%#", ({ ents, want }) => {
    expect(newLog(prev).findConflict(ents)).toBe(want);
  });
});

describe("RaftLog.findConflictByTerm", () => {
  // Terms by index: 1:2 2:2 3:5 4:5 5:5 6:6 (index 0 is the dummy with term 0)
  const ents = [ent(2, 1), ent(2, 2), ent(5, 3), ent(5, 4), ent(5, 5), ent(6, 6)];
  it.each([
    { index: 6, term: 6, want: [6, 6] },
    { index: 6, term: 5, want: [5, 5] },
    { index: 6, term: 4, want: [2, 2] },
    { index: 4, term: 3, want: [2, 2] },
    { index: 6, term: 1, want: [0, 0] },
    { index: 1, term: 2, want: [1, 2] },
  ])("index=$index term=$term -> $want", ({ index, term, want }) => {
    expect(newLog(ents).findConflictByTerm(index, term)).toEqual(want);
  });

  it("stops at the compacted prefix", () => {
    const log = newLog([ent(5, 11), ent(6, 12)], [], { index: 10, term: 3 });
    expect(log.findConflictByTerm(12, 4)).toEqual([10, 3]);
    expect(log.findConflictByTerm(12, 2)).toEqual([9, 0]);
  });
});

describe("RaftLog.maybeAppend", () => {
  const base = () => {
    const log = newLog([ent(1, 1), ent(2, 2), ent(3, 3)]);
    log.commitTo(1);
    return log;
  };
  it.each([
    // not match: term mismatch / index out of bound
    { prevT: 2, prevI: 3, commit: 3, ents: [ent(4, 4)], want: -1, wantCommit: 1 },
    { prevT: 3, prevI: 4, commit: 3, ents: [ent(4, 5)], want: -1, wantCommit: 1 },
    // match with the last existing entry
    { prevT: 3, prevI: 3, commit: 3, ents: [], want: 3, wantCommit: 3 },
    { prevT: 3, prevI: 3, commit: 4, ents: [], want: 3, wantCommit: 3 }, // commit up to last
    { prevT: 3, prevI: 3, commit: 2, ents: [], want: 3, wantCommit: 2 },
    { prevT: 3, prevI: 3, commit: 0, ents: [], want: 3, wantCommit: 1 }, // never decreases
    { prevT: 3, prevI: 3, commit: 4, ents: [ent(4, 4)], want: 4, wantCommit: 4 },
    { prevT: 3, prevI: 3, commit: 5, ents: [ent(4, 4), ent(4, 5)], want: 5, wantCommit: 5 },
    // match with an entry in the middle; conflict truncates
    { prevT: 2, prevI: 2, commit: 3, ents: [ent(4, 3)], want: 3, wantCommit: 3 },
    {
      prevT: 1,
      prevI: 1,
      commit: 4,
      ents: [ent(4, 2), ent(4, 3), ent(4, 4)],
      want: 4,
      wantCommit: 4,
    },
    // already present: no truncation, commit capped by the last new index
    { prevT: 1, prevI: 1, commit: 3, ents: [ent(2, 2)], want: 2, wantCommit: 2 },
  ])("%#", ({ prevT, prevI, commit, ents, want, wantCommit }) => {
    const log = base();
    expect(log.maybeAppend(prevI, prevT, commit, ents)).toBe(want);
    expect(log.committed).toBe(wantCommit);
    if (want >= 0 && ents.length > 0) {
      const got = log.slice(prevI + 1, prevI + 1 + ents.length, NO_LIMIT);
      expect(terms(got)).toEqual(terms(ents));
    }
  });

  it("refuses to overwrite a committed entry", () => {
    const log = base();
    log.commitTo(3);
    expect(() => log.maybeAppend(1, 1, 3, [ent(4, 2)])).toThrow(/conflicts with committed/);
  });
});

describe("RaftLog terms and bounds", () => {
  it("looks terms up across snapshot, storage and unstable", () => {
    const log = newLog([ent(3, 6), ent(4, 7)], [ent(4, 8), ent(5, 9)], { index: 5, term: 3 });
    expect(log.firstIndex()).toBe(6);
    expect(log.lastIndex()).toBe(9);
    expect(log.term(5)).toBe(3);
    expect(log.term(7)).toBe(4);
    expect(log.term(9)).toBe(5);
    expect(() => log.term(4)).toThrow(CompactedError);
    expect(() => log.term(10)).toThrow(UnavailableError);
    expect(log.termOrNeg(4)).toBe(-1);
    expect(log.zeroTermOnOutOfBounds(10)).toBe(0);
    expect(log.lastTerm()).toBe(5);
    expect(log.matchTerm(8, 4)).toBe(true);
    expect(log.matchTerm(8, 5)).toBe(false);
    expect(() => log.slice(4, 6, NO_LIMIT)).toThrow(CompactedError);
    expect(() => log.slice(6, 11, NO_LIMIT)).toThrow(/out of bound/);
  });

  it("is up to date by last term, then length (thesis §3.6.1)", () => {
    const log = newLog([ent(1, 1), ent(2, 2), ent(3, 3)]);
    expect(log.isUpToDate(2, 4)).toBe(true); // later term wins even if shorter
    expect(log.isUpToDate(4, 2)).toBe(false); // earlier term loses even if longer
    expect(log.isUpToDate(3, 3)).toBe(true);
    expect(log.isUpToDate(4, 3)).toBe(true);
    expect(log.isUpToDate(2, 3)).toBe(false);
  });
});

describe("RaftLog.slice", () => {
  // 100-byte payloads: sizes are easy to reason about.
  const big = (t: number, i: number): Entry => ({ ...ent(t, i), data: new Uint8Array(100) });
  const log = newLog([big(1, 1), big(1, 2), big(1, 3)], [big(1, 4), big(1, 5)]);

  it.each([
    { lo: 1, hi: 6, max: NO_LIMIT, want: 5 },
    { lo: 1, hi: 6, max: 0, want: 1 }, // at least one entry
    { lo: 1, hi: 6, max: 250, want: 2 },
    { lo: 2, hi: 6, max: 300, want: 3 }, // storage part ends exactly at the limit
    { lo: 2, hi: 6, max: 350, want: 3 },
    { lo: 3, hi: 6, max: 250, want: 2 }, // crosses into unstable
    { lo: 4, hi: 6, max: 150, want: 1 },
    { lo: 3, hi: 3, max: NO_LIMIT, want: 0 },
  ])("[$lo,$hi) max=$max -> $want entries", ({ lo, hi, max, want }) => {
    const got = log.slice(lo, hi, max);
    expect(got.length).toBe(want);
    expect(got.map((e) => e.index)).toEqual(got.map((_, i) => lo + i));
  });
});

describe("RaftLog commit and apply", () => {
  it("maybeCommit only commits entries of the given term", () => {
    const log = newLog([ent(1, 1), ent(2, 2), ent(3, 3)]);
    expect(log.maybeCommit(2, 3)).toBe(false);
    expect(log.maybeCommit(3, 3)).toBe(true);
    expect(log.committed).toBe(3);
    expect(log.maybeCommit(2, 2)).toBe(false); // never moves back
    expect(() => log.commitTo(4)).toThrow(/out of range/);
  });

  it("hands committed entries out once, limited by maxApplyingEntsSize", () => {
    const s = new MemoryStorage();
    s.append([1, 2, 3, 4, 5].map((i) => ({ ...ent(1, i), data: new Uint8Array(10) })));
    const log = new RaftLog(s, 25);
    log.commitTo(5);
    expect(log.hasNextCommittedEnts()).toBe(true);
    let ents = log.nextCommittedEnts();
    expect(ents.map((e) => e.index)).toEqual([1, 2]);
    log.acceptApplying(2, 20);
    // The Ready was cut short: wait for the application to catch up.
    expect(log.hasNextCommittedEnts()).toBe(false);
    log.appliedTo(2, 20);
    ents = log.nextCommittedEnts();
    expect(ents.map((e) => e.index)).toEqual([3, 4]);
    log.acceptApplying(4, 20);
    log.appliedTo(4, 20);
    expect(log.nextCommittedEnts().map((e) => e.index)).toEqual([5]);
    expect(() => log.appliedTo(6, 0)).toThrow(/out of range/);
  });

  it("reports unapplied conf changes", () => {
    const s = new MemoryStorage();
    s.append([ent(1, 1), { ...ent(1, 2), type: 1 }, ent(1, 3)]);
    const log = new RaftLog(s);
    log.commitTo(3);
    expect(log.hasUnappliedConfChanges()).toBe(true);
    log.appliedTo(2, 0);
    expect(log.hasUnappliedConfChanges()).toBe(false);
  });
});

describe("RaftLog unstable handling", () => {
  it("hands out unstable entries once and stabilizes them", () => {
    const log = newLog([ent(1, 1)], [ent(1, 2), ent(2, 3)]);
    expect(log.stableLastIndex()).toBe(1);
    expect(terms(log.nextUnstableEnts())).toEqual(["1/2", "2/3"]);
    log.acceptUnstable();
    expect(log.hasNextUnstableEnts()).toBe(false);
    log.append([ent(2, 4)]);
    expect(terms(log.nextUnstableEnts())).toEqual(["2/4"]);
    log.stableTo(3, 2);
    expect(log.stableLastIndex()).toBe(3);
    // A stale stableTo (wrong term) is ignored.
    log.stableTo(4, 1);
    expect(log.stableLastIndex()).toBe(3);
  });

  it("truncating into entries in progress re-offers them", () => {
    const log = newLog([ent(1, 1)], [ent(1, 2), ent(1, 3)]);
    log.acceptUnstable();
    log.append([ent(2, 3)]);
    expect(terms(log.nextUnstableEnts())).toEqual(["2/3"]);
    // The in-progress write of 1/3 completes: it no longer matches, nothing changes.
    log.stableTo(3, 1);
    expect(log.unstable.offset).toBe(2);
  });

  it("restores a snapshot", () => {
    const log = newLog([ent(1, 1), ent(1, 2)]);
    const cs = {
      voters: [1n],
      learners: [],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    };
    log.restore({ metadata: { index: 10, term: 4, confState: cs }, data: new Uint8Array(0) });
    expect([log.firstIndex(), log.lastIndex(), log.committed, log.lastTerm()]).toEqual([
      11, 10, 10, 4,
    ]);
    expect(log.hasNextOrInProgressSnapshot()).toBe(true);
    expect(log.nextUnstableSnapshot()?.metadata.index).toBe(10);
    expect(log.hasNextCommittedEnts()).toBe(false);
    log.stableSnapTo(10);
    expect(log.hasNextOrInProgressSnapshot()).toBe(false);
  });
});
