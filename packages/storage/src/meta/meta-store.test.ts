import fs from "node:fs";
import { emptyConfState } from "@chainfire/raft";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Engine } from "../engine.js";
import { openEngine, tempDir } from "../raft-log/__tests__/support.js";
import { RaftLogStore } from "../raft-log/raft-log-store.js";
import { encodeU32, FORMAT_KEY, type Member } from "./codec.js";
import { MetaBugError, MetaFormatError, MetaStore } from "./meta-store.js";

const m1: Member = {
  id: 0x8e9e05c52164694dn,
  name: "node01",
  peerURLs: ["http://10.0.0.1:2380"],
  clientURLs: ["http://10.0.0.1:2379"],
  isLearner: false,
};
const m2: Member = {
  id: 2n,
  name: "node02",
  peerURLs: ["http://10.0.0.2:2380"],
  clientURLs: [],
  isLearner: true,
};

describe("MetaStore", () => {
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

  async function reopen(): Promise<MetaStore> {
    await engine.close();
    engine = await openEngine(dir);
    return MetaStore.open(engine);
  }

  async function write(meta: MetaStore, f: (b: ReturnType<Engine["batch"]>) => void) {
    const b = engine.batch();
    f(b);
    await engine.write(b, { sync: true });
    meta.commit(b);
    b.close();
  }

  it("bootstraps a new member and reads it back after a restart", async () => {
    let meta = await MetaStore.open(engine);
    expect(meta.isNew).toBe(true);
    expect(meta.appliedIndex).toBe(0);
    const cs = { ...emptyConfState(), voters: [m1.id], learners: [m2.id] };
    await write(meta, (b) =>
      meta.bootstrap(b, {
        clusterId: 0xcdf818194e3a8c32n,
        memberId: m1.id,
        members: [m1, m2],
        confState: cs,
      }),
    );
    expect(() =>
      meta.bootstrap(engine.batch(), { clusterId: 1n, memberId: 1n, members: [], confState: cs }),
    ).toThrow(MetaBugError);
    meta = await reopen();
    expect(meta.isNew).toBe(false);
    expect(meta.formatVersion).toBe(1);
    expect(meta.clusterId).toBe(0xcdf818194e3a8c32n);
    expect(meta.memberId).toBe(m1.id);
    expect(meta.members()).toEqual([m2, m1]); // by id ascending
    expect(meta.member(m1.id)).toEqual(m1);
    expect(meta.confState).toEqual(cs);
  });

  it("advances the applied index only at commit; shouldApply sees staged batches", async () => {
    const meta = await MetaStore.open(engine);
    const b = engine.batch();
    meta.setApplied(b, 5, 2);
    expect(meta.appliedIndex).toBe(0);
    expect(meta.stagedAppliedIndex).toBe(5);
    expect(meta.shouldApply(5)).toBe(false);
    expect(meta.shouldApply(6)).toBe(true);
    expect(() => meta.setApplied(b, 4, 2)).toThrow(MetaBugError);
    await engine.write(b, { sync: true });
    meta.commit(b);
    expect(meta.appliedIndex).toBe(5);
    expect(meta.appliedTerm).toBe(2);
    const b2 = engine.batch();
    meta.setApplied(b2, 9, 3);
    meta.abort(b2);
    expect(meta.stagedAppliedIndex).toBe(5);
    meta.commit(b2);
    expect(meta.appliedIndex).toBe(5);
    b.close();
    b2.close();
    const again = await reopen();
    expect([again.appliedIndex, again.appliedTerm]).toEqual([5, 2]);
  });

  it("adds, updates and removes members; abort undoes staged changes", async () => {
    let meta = await MetaStore.open(engine);
    await write(meta, (b) => {
      meta.putMember(b, m1);
      meta.putMember(b, m2);
    });
    const b = engine.batch();
    meta.putMember(b, { ...m2, isLearner: false });
    meta.removeMember(b, m1.id);
    meta.setConfState(b, { ...emptyConfState(), voters: [m2.id] });
    expect(meta.member(m2.id)?.isLearner).toBe(false);
    expect(meta.member(m1.id)).toBeUndefined();
    expect(meta.isRemoved(m1.id)).toBe(true);
    meta.abort(b);
    b.close();
    expect(meta.members()).toEqual([m2, m1]);
    expect(meta.isRemoved(m1.id)).toBe(false);
    expect(meta.confState).toEqual(emptyConfState());
    await write(meta, (b2) => meta.removeMember(b2, m1.id));
    meta = await reopen();
    expect(meta.members()).toEqual([m2]);
    expect(meta.isRemoved(m1.id)).toBe(true);
  });

  it("refuses a data dir written in another format version", async () => {
    const b = engine.batch();
    b.put("meta", FORMAT_KEY, encodeU32(99));
    await engine.write(b, { sync: true });
    b.close();
    await expect(MetaStore.open(engine)).rejects.toThrow(MetaFormatError);
  });

  it("feeds the applied ConfState to the raft log store's initialState", async () => {
    const meta = await MetaStore.open(engine);
    const cs = { ...emptyConfState(), voters: [1n, 2n], votersOutgoing: [1n], autoLeave: true };
    await write(meta, (b) => meta.setConfState(b, cs));
    const log = RaftLogStore.open(engine, { appliedConfState: () => meta.confState });
    expect(log.initialState().confState).toEqual(cs);
  });
});
