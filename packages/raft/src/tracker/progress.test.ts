import { describe, expect, it } from "vitest";
import { Inflights } from "./inflights.js";
import { Progress } from "./progress.js";

function pr(state: "probe" | "replicate" | "snapshot", match: number, next: number): Progress {
  const p = new Progress(next, new Inflights(256, 0), false);
  p.match = match;
  p.state = state;
  return p;
}

describe("Progress", () => {
  it("becomeProbe from replicate restarts at match+1, from snapshot after the snapshot", () => {
    const p = pr("replicate", 1, 5);
    p.becomeProbe();
    expect([p.state, p.match, p.next]).toEqual(["probe", 1, 2]);
    const s = pr("snapshot", 1, 5);
    s.pendingSnapshot = 10;
    s.becomeProbe();
    expect([s.state, s.next]).toEqual(["probe", 11]);
    const s2 = pr("snapshot", 1, 5);
    s2.pendingSnapshot = 0;
    s2.becomeProbe();
    expect(s2.next).toBe(2);
  });

  it("becomeReplicate and becomeSnapshot", () => {
    const p = pr("probe", 1, 5);
    p.becomeReplicate();
    expect([p.state, p.next]).toEqual(["replicate", 2]);
    p.becomeSnapshot(10);
    expect([p.state, p.pendingSnapshot, p.next]).toEqual(["snapshot", 10, 11]);
    expect(p.isPaused()).toBe(true);
  });

  it.each([
    { update: 1, wantMatch: 3, wantNext: 5, ok: false }, // stale
    { update: 3, wantMatch: 3, wantNext: 5, ok: false }, // same
    { update: 4, wantMatch: 4, wantNext: 5, ok: true },
    { update: 5, wantMatch: 5, wantNext: 6, ok: true },
    { update: 9, wantMatch: 9, wantNext: 10, ok: true },
  ])("maybeUpdate($update)", ({ update, wantMatch, wantNext, ok }) => {
    const p = pr("probe", 3, 5);
    p.msgAppFlowPaused = true;
    expect(p.maybeUpdate(update)).toBe(ok);
    expect(p.match).toBe(wantMatch);
    expect(p.next).toBe(wantNext);
    if (ok) expect(p.msgAppFlowPaused).toBe(false);
  });

  it.each([
    // replicate: a rejection at or below match is stale
    { state: "replicate" as const, m: 5, n: 10, rejected: 5, hint: 5, ok: false, next: 10 },
    { state: "replicate" as const, m: 5, n: 10, rejected: 4, hint: 4, ok: false, next: 10 },
    { state: "replicate" as const, m: 5, n: 10, rejected: 9, hint: 9, ok: true, next: 6 },
    // probe: only the current probe (next-1) counts
    { state: "probe" as const, m: 0, n: 0, rejected: 0, hint: 0, ok: false, next: 0 },
    { state: "probe" as const, m: 0, n: 10, rejected: 5, hint: 5, ok: false, next: 10 },
    { state: "probe" as const, m: 0, n: 10, rejected: 9, hint: 9, ok: true, next: 9 },
    { state: "probe" as const, m: 0, n: 2, rejected: 1, hint: 1, ok: true, next: 1 },
    { state: "probe" as const, m: 0, n: 1, rejected: 0, hint: 0, ok: true, next: 1 },
    { state: "probe" as const, m: 0, n: 10, rejected: 9, hint: 2, ok: true, next: 3 },
    { state: "probe" as const, m: 0, n: 10, rejected: 9, hint: 0, ok: true, next: 1 },
  ])("maybeDecrTo $state m=$m n=$n rejected=$rejected hint=$hint", (tc) => {
    const p = pr(tc.state, tc.m, tc.n);
    expect(p.maybeDecrTo(tc.rejected, tc.hint)).toBe(tc.ok);
    expect(p.match).toBe(tc.m);
    expect(p.next).toBe(tc.next);
  });

  it("probe pauses after one MsgApp with entries; replicate pauses when inflights fill", () => {
    const p = pr("probe", 0, 1);
    p.sentEntries(0, 0);
    expect(p.isPaused()).toBe(false);
    p.sentEntries(3, 30);
    expect(p.isPaused()).toBe(true);
    expect(p.next).toBe(1); // probe does not move next optimistically

    const r = new Progress(1, new Inflights(2, 0), false);
    r.becomeReplicate();
    r.sentEntries(3, 30);
    expect([r.next, r.isPaused()]).toEqual([4, false]);
    r.sentEntries(2, 20);
    expect([r.next, r.isPaused()]).toEqual([6, true]);
    r.inflights.freeLE(3);
    r.maybeUpdate(3);
    expect(r.isPaused()).toBe(false);
  });

  it("canBumpCommit only when the follower has entries it could commit", () => {
    const p = pr("replicate", 5, 8);
    p.sentCommitTo(3);
    expect(p.canBumpCommit(3)).toBe(false);
    expect(p.canBumpCommit(6)).toBe(true);
    p.sentCommitTo(7);
    expect(p.canBumpCommit(9)).toBe(false);
  });

  it("describes itself", () => {
    const p = pr("replicate", 5, 8);
    p.recentActive = true;
    p.inflights.add(7, 1);
    expect(p.describe()).toBe("replicate match=5 next=8 inflight=1");
  });
});
