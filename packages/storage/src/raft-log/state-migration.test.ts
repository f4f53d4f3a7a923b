import fs from "node:fs";
import path from "node:path";
import { EntryType, emptyConfState } from "@chainfire/raft";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Engine } from "../engine.js";
import { MetaStore } from "../meta/meta-store.js";
import { openEngine, tempDir } from "./__tests__/support.js";
import { ENTRY_TAG, RAFT_STATE_CF } from "./codec.js";
import { RaftLogIoError } from "./errors.js";
import { RaftLogStore } from "./raft-log-store.js";
import { moveRaftStateKeys } from "./state-migration.js";

const hex = (rows: Iterable<[Buffer, Buffer]>) =>
  [...rows].map(([k, v]) => `${k.toString("hex")}=${v.toString("hex")}`);

describe("raft state records in their own column family", () => {
  let dir: string;
  let engine: Engine;

  beforeEach(async () => {
    dir = path.join(tempDir(), "db");
    engine = await openEngine(dir);
  });

  afterEach(async () => {
    await engine.close();
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  /** A log with entries 1..40 (compacted through 10, snapshot at 20) and a member id. */
  async function buildLog(): Promise<void> {
    const log = RaftLogStore.open(engine);
    const meta = await MetaStore.open(engine);
    const b = engine.batch();
    const entries = Array.from({ length: 40 }, (_, i) => ({
      index: i + 1,
      term: i < 25 ? 2 : 3,
      type: EntryType.Normal,
      data: Buffer.from(`entry ${i + 1}`),
    }));
    log.save(b, { entries, hardState: { term: 3, vote: 7n, commit: 30 } });
    meta.setMemberId(b, 0xabcdefn);
    engine.writeSync(b, true);
    log.commit(b);
    meta.commit(b);
    b.close();
    log.compact(10);
    log.createSnapshot(20, { ...emptyConfState(), voters: [7n, 8n, 9n] });
    log.close();
  }

  /** Puts the state records back where the layout before session 8 kept them, and reopens. */
  async function toOldLayout(): Promise<void> {
    const b = engine.batch();
    for (const [k, v] of engine.iterateSync(RAFT_STATE_CF)) {
      b.put("raft", k, v);
      b.del(RAFT_STATE_CF, k);
    }
    engine.writeSync(b, true);
    b.close();
    expect([...engine.iterateSync(RAFT_STATE_CF)]).toEqual([]);
    expect([...engine.iterateSync("raft")].length).toBe(35);
    await engine.close();
    engine = await openEngine(dir);
  }

  /** What a log store and the meta store read back. */
  async function readBack() {
    const log = RaftLogStore.open(engine);
    const meta = await MetaStore.open(engine);
    const out = {
      hardState: log.hardState,
      first: log.firstIndex(),
      last: log.lastIndex(),
      snapshot: log.snapshot().metadata,
      terms: [10, 25, 26, 40].map((i) => log.term(i)),
      entries: log
        .entries(11, 41, Number.MAX_SAFE_INTEGER)
        .map((e) => Buffer.from(e.data).toString()),
      memberId: meta.memberId,
    };
    log.close();
    return out;
  }

  it("writes entries alone to raft, and the state records to raftstate", async () => {
    await buildLog();
    const rawKeys = [...engine.iterateSync("raft")].map(([k]) => k[0]);
    expect(rawKeys.length).toBe(30);
    expect(rawKeys.every((tag) => tag === ENTRY_TAG)).toBe(true);
    expect([...engine.iterateSync(RAFT_STATE_CF)].length).toBe(5); // h, b, s, t, memberId
  });

  it("moves the records of the old layout at open, once, and reads the same log", async () => {
    await buildLog();
    const expected = await readBack();
    const state = hex(engine.iterateSync(RAFT_STATE_CF));
    await toOldLayout();
    const back = await readBack(); // the stores' open moves them
    expect(hex(engine.iterateSync(RAFT_STATE_CF))).toEqual(state);
    expect([...engine.iterateSync("raft")].every(([k]) => k[0] === ENTRY_TAG)).toBe(true);
    expect(back).toEqual(expected);
    expect(expected).toMatchObject({
      hardState: { term: 3, vote: 7n, commit: 30 },
      first: 11,
      last: 40,
      snapshot: { index: 20, term: 2 },
      terms: [2, 2, 3, 3],
      memberId: 0xabcdefn,
    });
    expect(moveRaftStateKeys(engine)).toBe(0);
  });

  it("moves them when the meta store opens first, as a member does", async () => {
    await buildLog();
    await toOldLayout();
    const meta = await MetaStore.open(engine);
    expect(meta.memberId).toBe(0xabcdefn);
    expect([...engine.iterateSync(RAFT_STATE_CF)].length).toBe(5);
    expect(RaftLogStore.open(engine).hardState).toEqual({ term: 3, vote: 7n, commit: 30 });
  });

  it("reports a failed read as the log's I/O error, not a bare one", async () => {
    await engine.close();
    expect(() => moveRaftStateKeys(engine)).toThrow(RaftLogIoError);
  });
});
