import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ErrClusterIdMismatch, EtcdError } from "@chainfire/api";
import { describe, expect, it } from "vitest";
import {
  LEARNER_READY_FRACTION,
  learnerReady,
  type ReplicationProgress,
} from "./member-membership.js";
import {
  isMemberRemovedError,
  memberRemovedError,
  readRemovalMarker,
  writeRemovalMarker,
} from "./member-removal.js";

const pr = (match: number, state: ReplicationProgress["state"] = "replicate") => ({ match, state });

describe("learnerReady (etcd 3.4: learner match >= 0.9 x leader match)", () => {
  const leader = 1n;
  const learner = 4n;
  it("refuses a learner that has replicated nothing, accepts one at 90%", () => {
    expect(LEARNER_READY_FRACTION).toBe(0.9);
    const at = (m: number, l = 1000) =>
      new Map([
        [leader, pr(l)],
        [learner, pr(m)],
      ]);
    expect(learnerReady(at(0), leader, learner, false).ok).toBe(false);
    expect(learnerReady(at(899), leader, learner, false).ok).toBe(false);
    expect(learnerReady(at(900), leader, learner, false)).toEqual({
      ok: true,
      match: 900,
      leaderMatch: 1000,
    });
    expect(learnerReady(at(1000), leader, learner, false).ok).toBe(true);
    // 0.9 x 7 = 6.3: 6 is not enough (etcd compares as floats).
    expect(learnerReady(at(6, 7), leader, learner, false).ok).toBe(false);
    expect(learnerReady(at(7, 7), leader, learner, false).ok).toBe(true);
  });

  it("strict (--auto-promote) also wants normal replication and a tracked learner", () => {
    const m = (state: ReplicationProgress["state"]) =>
      new Map([
        [leader, pr(1000)],
        [learner, pr(1000, state)],
      ]);
    expect(learnerReady(m("replicate"), leader, learner, true).ok).toBe(true);
    expect(learnerReady(m("probe"), leader, learner, true).ok).toBe(false);
    expect(learnerReady(m("snapshot"), leader, learner, true).ok).toBe(false);
    expect(learnerReady(m("probe"), leader, learner, false).ok).toBe(true);
    const untracked = new Map([[leader, pr(1000)]]);
    expect(learnerReady(untracked, leader, learner, false).ok).toBe(true);
    expect(learnerReady(untracked, leader, learner, true).ok).toBe(false);
  });
});

describe("member removal", () => {
  it("recognizes the peer protocol's refusal and nothing else", () => {
    expect(isMemberRemovedError(memberRemovedError())).toBe(true);
    // As grpc-js hands it to a client: code + details.
    const wire = {
      code: 9,
      details: memberRemovedError().message,
      message: "9 FAILED_PRECONDITION: ...",
    };
    expect(isMemberRemovedError(wire)).toBe(true);
    expect(isMemberRemovedError(new EtcdError(ErrClusterIdMismatch))).toBe(false);
    expect(isMemberRemovedError({ code: 14, details: memberRemovedError().message })).toBe(false);
    expect(isMemberRemovedError(null)).toBe(false);
    expect(isMemberRemovedError(new Error("boom"))).toBe(false);
  });

  it("the marker round-trips; a missing one is undefined", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "chainfire-removal-"));
    try {
      expect(readRemovalMarker(dir)).toBeUndefined();
      const rec = { memberId: "a", clusterId: "b", at: "2026-01-01T00:00:00Z", how: "test" };
      writeRemovalMarker(dir, rec);
      expect(readRemovalMarker(dir)).toEqual(rec);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
