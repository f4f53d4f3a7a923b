import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Engine, EngineStateError } from "./engine.js";
import { encodeRevision } from "./keys.js";
import { encodeChunk } from "./mvcc/revlog.js";
import { hashState } from "./mvcc/state-hash.js";

const b = (s: string) => Buffer.from(s);

describe("Engine.reopen (Defragment)", () => {
  let dir: string;
  let engine: Engine;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cf-reopen-"));
    engine = await Engine.open(path.join(dir, "db"));
  });
  afterEach(async () => {
    await engine.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("keeps data and existing write batches valid, and reclaims deleted data's WAL", async () => {
    const value = Buffer.alloc(64 * 1024, 7);
    for (let i = 0; i < 32; i++) engine.writeSync(engine.batch().put("kv", b(`k${i}`), value));
    engine.writeSync(engine.batch().put("kv", b("keep"), b("yes")));
    const grown = engine.approximateSize();
    expect(grown).toBeGreaterThan(32 * 64 * 1024);
    const del = engine.batch();
    for (let i = 0; i < 32; i++) del.del("kv", b(`k${i}`));
    engine.writeSync(del);
    const held = engine.batch(); // created before the reopen, used after it
    const hashBefore = await hashState(engine);
    await engine.reopen();
    expect(engine.getSync("kv", b("keep"))?.toString()).toBe("yes");
    expect(engine.getSync("kv", b("k0"))).toBeUndefined();
    expect(await hashState(engine)).toBe(hashBefore);
    held.put("meta", b("after"), b("1"));
    await engine.write(held, { sync: true });
    expect(engine.getSync("meta", b("after"))?.toString()).toBe("1");
    // RocksDB deletes the obsolete WAL file in the background after the open.
    const deadline = Date.now() + 30_000;
    while (engine.approximateSize() > grown / 4 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(engine.approximateSize()).toBeLessThan(grown / 4);
  });

  it("refuses while an iterator is open, and calls during a reopen throw", async () => {
    engine.writeSync(engine.batch().put("kv", b("a"), b("1")).put("kv", b("b"), b("2")));
    const it = engine.iterate("kv", { pageSize: 1 });
    await it.next();
    await expect(engine.reopen()).rejects.toBeInstanceOf(EngineStateError);
    await it.return(undefined);
    expect(engine.idle).toBe(true);
    const p = engine.reopen();
    expect(() => engine.getSync("kv", b("a"))).toThrow(EngineStateError);
    await p;
    expect(engine.getSync("kv", b("a"))?.toString()).toBe("1");
  });
});

describe("hashState", () => {
  it("hashes the replicated families only, equal for equal state", async () => {
    const dirs = [0, 1].map(() => fs.mkdtempSync(path.join(os.tmpdir(), "cf-hash-")));
    const engines = await Promise.all(dirs.map((d) => Engine.open(path.join(d, "db"))));
    try {
      for (const e of engines) e.writeSync(e.batch().put("kv", b("a"), b("1")));
      // Member-local: the raft log, meta and compaction progress do not count.
      engines[0]!.writeSync(
        engines[0]!.batch().put("raft", b("x"), b("y")).put("meta", b("m"), b("n")),
      );
      engines[1]!.writeSync(engines[1]!.batch().put("kvmeta", b("compact-cursor"), b("z")));
      const [h0, h1] = await Promise.all(engines.map((e) => hashState(e)));
      expect(h0).toBe(h1);
      // The revision log is hashed change by change: chunk boundaries do not matter.
      const changes = [
        { revision: 2, sub: 0, type: "PUT" as const, key: b("a") },
        { revision: 3, sub: 0, type: "DELETE" as const, key: b("a") },
      ];
      engines[0]!.writeSync(
        engines[0]!.batch().put("revs", encodeRevision(2, 0), encodeChunk(changes, 0, 2)),
      );
      engines[1]!.writeSync(
        engines[1]!
          .batch()
          .put("revs", encodeRevision(2, 0), encodeChunk(changes, 0, 1))
          .put("revs", encodeRevision(3, 0), encodeChunk(changes, 1, 2)),
      );
      const h2 = await hashState(engines[0]!);
      expect(h2).not.toBe(h0);
      expect(await hashState(engines[1]!)).toBe(h2);
      engines[1]!.writeSync(engines[1]!.batch().put("lease", b("l"), b("1")));
      expect(await hashState(engines[1]!)).not.toBe(h2);
    } finally {
      for (const e of engines) await e.close();
      for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    }
  });
});
