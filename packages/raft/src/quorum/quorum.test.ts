import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { JointConfig } from "./joint.js";
import { MajorityConfig } from "./majority.js";
import { MapAckIndexer, VoteResult } from "./quorum.js";

const cfg = (...ids: number[]) => new MajorityConfig(ids.map(BigInt));
const acks = (m: Record<number, number | undefined>) =>
  new MapAckIndexer(new Map(Object.entries(m).map(([k, v]) => [BigInt(k), v ?? 0])));
const votes = (m: Record<number, boolean | undefined>) =>
  new Map(Object.entries(m).map(([k, v]) => [BigInt(k), v === true]));

describe("MajorityConfig.committedIndex", () => {
  it.each([
    { ids: [], acks: {}, want: Number.POSITIVE_INFINITY },
    { ids: [1], acks: {}, want: 0 },
    { ids: [1], acks: { 1: 12 }, want: 12 },
    { ids: [1, 2], acks: { 1: 12 }, want: 0 },
    { ids: [1, 2], acks: { 1: 12, 2: 5 }, want: 5 },
    { ids: [1, 2, 3], acks: { 1: 12, 2: 5 }, want: 5 },
    { ids: [1, 2, 3], acks: { 1: 12, 2: 5, 3: 4 }, want: 5 },
    { ids: [1, 2, 3], acks: { 1: 12 }, want: 0 },
    { ids: [1, 2, 3, 4], acks: { 1: 9, 2: 8, 3: 7, 4: 6 }, want: 7 },
    { ids: [1, 2, 3, 4, 5], acks: { 1: 9, 2: 8, 3: 7, 4: 6, 5: 5 }, want: 7 },
    { ids: [1, 2, 3, 4, 5], acks: { 1: 9, 2: 9, 99: 100 }, want: 0 },
    {
      ids: [1, 2, 3, 4, 5, 6, 7, 8],
      acks: { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 8: 8 },
      want: 4,
    },
  ])("ids=$ids acks=$acks -> $want", ({ ids, acks: a, want }) => {
    expect(cfg(...ids).committedIndex(acks(a))).toBe(want);
  });

  /** The naive reference: the largest index that more than half the voters reached. */
  function naiveCommitted(ids: number[], a: Map<number, number>): number {
    if (ids.length === 0) return Number.POSITIVE_INFINITY;
    const candidates = [0, ...ids.map((id) => a.get(id) ?? 0)];
    let best = 0;
    for (const c of candidates) {
      const n = ids.filter((id) => (a.get(id) ?? 0) >= c).length;
      if (n > ids.length / 2 && c > best) best = c;
    }
    return best;
  }

  it("matches a naive reference (property)", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 12 }), { maxLength: 9 }),
        fc.dictionary(fc.integer({ min: 1, max: 14 }).map(String), fc.nat({ max: 20 })),
        (ids, raw) => {
          const a = new Map(Object.entries(raw).map(([k, v]) => [Number(k), v]));
          const l = new MapAckIndexer(new Map([...a].map(([k, v]) => [BigInt(k), v])));
          expect(cfg(...ids).committedIndex(l)).toBe(naiveCommitted(ids, a));
        },
      ),
      { seed: 42, numRuns: 2000 },
    );
  });
});

describe("MajorityConfig.voteResult", () => {
  it.each([
    { ids: [], v: {}, want: VoteResult.VoteWon },
    { ids: [1], v: {}, want: VoteResult.VotePending },
    { ids: [1], v: { 1: true }, want: VoteResult.VoteWon },
    { ids: [1], v: { 1: false }, want: VoteResult.VoteLost },
    { ids: [1, 2], v: { 1: true }, want: VoteResult.VotePending },
    { ids: [1, 2], v: { 1: true, 2: false }, want: VoteResult.VoteLost },
    { ids: [1, 2, 3], v: { 1: true, 2: true }, want: VoteResult.VoteWon },
    { ids: [1, 2, 3], v: { 1: true, 2: false }, want: VoteResult.VotePending },
    { ids: [1, 2, 3], v: { 1: false, 2: false }, want: VoteResult.VoteLost },
    { ids: [1, 2, 3], v: { 4: true, 5: true }, want: VoteResult.VotePending },
    { ids: [1, 2, 3, 4], v: { 1: true, 2: true }, want: VoteResult.VotePending },
    { ids: [1, 2, 3, 4], v: { 1: true, 2: true, 3: true }, want: VoteResult.VoteWon },
    { ids: [1, 2, 3, 4], v: { 1: false, 2: false }, want: VoteResult.VoteLost },
  ])("ids=$ids votes=$v -> $want", ({ ids, v, want }) => {
    expect(cfg(...ids).voteResult(votes(v))).toBe(want);
  });
});

describe("JointConfig", () => {
  it("behaves like the incoming config when not joint", () => {
    const j = new JointConfig(cfg(1, 2, 3));
    expect(j.isJoint()).toBe(false);
    expect(j.committedIndex(acks({ 1: 5, 2: 3, 3: 1 }))).toBe(3);
    expect(j.voteResult(votes({ 1: true, 2: true }))).toBe(VoteResult.VoteWon);
    expect(j.describe()).toBe("(1 2 3)");
  });

  it("commits the minimum of both halves", () => {
    const j = new JointConfig(cfg(1, 2, 3), cfg(3, 4, 5));
    // incoming: 1,2,3 acked 10,10,1 -> 10; outgoing: 3,4,5 acked 1,2,9 -> 2.
    expect(j.committedIndex(acks({ 1: 10, 2: 10, 3: 1, 4: 2, 5: 9 }))).toBe(2);
    expect(j.ids()).toEqual([1n, 2n, 3n, 4n, 5n]);
    expect(j.describe()).toBe("(1 2 3)&&(3 4 5)");
  });

  it.each([
    { v: { 1: true, 2: true }, want: VoteResult.VotePending },
    { v: { 1: true, 2: true, 4: true }, want: VoteResult.VotePending },
    { v: { 1: true, 3: true, 4: true }, want: VoteResult.VoteWon },
    { v: { 1: false, 2: false, 4: true, 5: true }, want: VoteResult.VoteLost },
    { v: { 1: true, 2: true, 4: false, 5: false }, want: VoteResult.VoteLost },
    { v: { 3: true, 1: true }, want: VoteResult.VotePending },
  ])("needs both halves to win: $v -> $want", ({ v, want }) => {
    const j = new JointConfig(cfg(1, 2, 3), cfg(3, 4, 5));
    expect(j.voteResult(votes(v))).toBe(want);
  });
});
