import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { pollUntil } from "../../../test/harness/wait.js";
import { Engine, type Entry } from "./engine.js";

const b = (s: string) => Buffer.from(s);
const str = (e: Entry[]) => e.map(([k, v]) => `${k.toString()}=${v.toString()}`);

describe("Engine", () => {
  let dir: string;
  let engine: Engine;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cf-engine-"));
    engine = await Engine.open(path.join(dir, "db"));
  });
  afterEach(async () => {
    await engine.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("reports RocksDB's running flushes and compactions, then none once they are done", async () => {
    expect(engine.backgroundJobs()).toEqual({ flushes: 0, compactions: 0 });
    // 40 MiB into kv, whose memtables hold 2 MiB each: flushes and level-0 compactions.
    const value = Buffer.alloc(64 * 1024, 7);
    for (let i = 0; i < 640; i++) {
      engine.writeSync(engine.batch().put("kv", b(`big/${String(i).padStart(6, "0")}`), value));
    }
    const poll = (what: string, cond: (j: { flushes: number; compactions: number }) => boolean) =>
      pollUntil(
        () => {
          const j = engine.backgroundJobs();
          return cond(j) ? j : undefined;
        },
        { what, timeoutMs: 20_000, intervalMs: 1 },
      );
    await poll("a running flush or compaction", (j) => j.flushes + j.compactions > 0);
    await poll("no background work", (j) => j.flushes === 0 && j.compactions === 0);
  });

  it("reads its writes synchronously and asynchronously, per column family", async () => {
    const batch = engine.batch();
    batch.put("kv", b("a"), b("1")).put("meta", b("a"), b("meta-1"));
    expect(batch.length).toBe(2);
    await engine.write(batch, { sync: true });
    expect(batch.length).toBe(0);
    expect(engine.getSync("kv", b("a"))?.toString()).toBe("1");
    expect(engine.getSync("meta", b("a"))?.toString()).toBe("meta-1");
    expect(engine.getSync("history", b("a"))).toBeUndefined();
    expect((await engine.get("kv", b("a")))?.toString()).toBe("1");
    expect(await engine.get("kv", b("zz"))).toBeUndefined();
    const many = engine.getManySync("kv", [b("zz"), b("a")]);
    expect(many.map((v) => v?.toString())).toEqual([undefined, "1"]);
    expect((await engine.getMany("kv", [b("a"), b("q")])).map((v) => v?.toString())).toEqual([
      "1",
      undefined,
    ]);
  });

  it("makes a write visible before its fsync promise resolves", async () => {
    const batch = engine.batch().put("kv", b("k"), b("v"));
    const p = engine.write(batch, { sync: true });
    expect(engine.getSync("kv", b("k"))?.toString()).toBe("v");
    await p;
  });

  it("shares one fsync among concurrent synced writes", async () => {
    const ps: Promise<void>[] = [];
    for (let i = 0; i < 50; i++) {
      ps.push(engine.write(engine.batch().put("raft", b(`k${i}`), b(`${i}`)), { sync: true }));
    }
    await Promise.all(ps);
    expect(engine.getSync("raft", b("k49"))?.toString()).toBe("49");
  });

  it("accepts keys and values with 0x00 and 0xff bytes and plain Uint8Arrays", async () => {
    const k = new Uint8Array([0, 255, 0]);
    const v = new Uint8Array([255, 0, 1]);
    await engine.write(engine.batch().put("kv", k, v), { sync: false });
    expect([...(engine.getSync("kv", k) ?? [])]).toEqual([255, 0, 1]);
    expect(engine.getSync("kv", new Uint8Array([0, 255]))).toBeUndefined();
    await engine.write(engine.batch().put("kv", new Uint8Array(0), b("empty")), { sync: false });
    expect(engine.getSync("kv", new Uint8Array(0))?.toString()).toBe("empty");
    // zero-length keys and values must not reach RocksDB as null pointers (it aborts)
    const empty = new Uint8Array(0);
    await engine.write(engine.batch().put("meta", b("v"), empty), { sync: false });
    expect(engine.getManySync("kv", [empty, k, empty]).map((x) => x?.toString("hex"))).toEqual([
      b("empty").toString("hex"),
      "ff0001",
      b("empty").toString("hex"),
    ]);
    expect(engine.getSync("meta", b("v"))?.length).toBe(0);
    expect((await engine.getMany("kv", [empty, empty])).length).toBe(2);
    const c = engine.cursor("kv", { gte: empty });
    c.seek(empty);
    expect(c.next()?.[0].length).toBe(0);
    c.close();
  });

  it("iterates in byte order both ways with bounds, limit, keys/values only", async () => {
    const batch = engine.batch();
    for (const k of ["b", "a", "d", "c", "e", "a\u0000", "\u00ff"]) batch.put("kv", b(k), b(k));
    batch.put("history", b("c"), b("other family"));
    await engine.write(batch, { sync: false });
    const all = [...engine.iterateSync("kv")].map(([k]) => k);
    expect(all.length).toBe(7);
    expect(all).toEqual([...all].sort(Buffer.compare));
    expect(all[0]?.toString()).toBe("a");
    expect(all[1]?.toString()).toBe("a\u0000");
    expect(str([...engine.iterateSync("kv", { gte: b("b"), lt: b("e") })])).toEqual([
      "b=b",
      "c=c",
      "d=d",
    ]);
    expect(str([...engine.iterateSync("kv", { gt: b("b"), lte: b("e"), reverse: true })])).toEqual([
      "e=e",
      "d=d",
      "c=c",
    ]);
    expect(str([...engine.iterateSync("kv", { gte: b("b"), limit: 2 })])).toEqual(["b=b", "c=c"]);
    const keysOnly = [...engine.iterateSync("kv", { gte: b("d"), lt: b("e"), values: false })];
    expect(keysOnly.map(([k, v]) => [k.toString(), v.length])).toEqual([["d", 0]]);
    const asyncRows: Entry[] = [];
    for await (const e of engine.iterate("kv", { gte: b("a"), lt: b("c"), pageSize: 1 })) {
      asyncRows.push(e);
    }
    expect(str(asyncRows)).toEqual(["a=a", "a\u0000=a\u0000", "b=b"]);
    const rev: Entry[] = [];
    for await (const e of engine.iterate("kv", { reverse: true, limit: 2 })) rev.push(e);
    expect(rev.map(([k]) => [...k])).toEqual([[0xc3, 0xbf], [0x65]]);
  });

  it("pages through many entries with sync and async iteration", async () => {
    const batch = engine.batch();
    for (let i = 0; i < 5000; i++) batch.put("revs", b(String(i).padStart(6, "0")), b(`${i}`));
    await engine.write(batch, { sync: false });
    let n = 0;
    for (const [k] of engine.iterateSync("revs")) {
      expect(k.toString()).toBe(String(n).padStart(6, "0"));
      n++;
    }
    expect(n).toBe(5000);
    let m = 0;
    for await (const [k] of engine.iterate("revs", { reverse: true })) {
      expect(k.toString()).toBe(String(4999 - m).padStart(6, "0"));
      m++;
    }
    expect(m).toBe(5000);
    expect(engine.countSync("revs")).toBe(5000);
    expect(engine.countSync("revs", { gte: b("000100"), lt: b("000200") })).toBe(100);
    expect(engine.countSync("revs", { gt: b("004998") })).toBe(1);
    expect(engine.countSync("kv")).toBe(0);
  });

  it("seeks a cursor forward and backward", async () => {
    const batch = engine.batch();
    for (const k of ["a1", "a3", "b1", "b5"]) batch.put("history", b(k), b(k));
    await engine.write(batch, { sync: false });
    const fwd = engine.cursor("history");
    fwd.seek(b("a2"));
    expect(fwd.next()?.[0].toString()).toBe("a3");
    expect(fwd.next()?.[0].toString()).toBe("b1");
    fwd.seek(b("b2"));
    expect(fwd.next()?.[0].toString()).toBe("b5");
    expect(fwd.next()).toBeUndefined();
    fwd.close();
    fwd.close();
    const back = engine.cursor("history", { reverse: true });
    back.seek(b("b2"));
    expect(back.next()?.[0].toString()).toBe("b1");
    expect(back.next()?.[0].toString()).toBe("a3");
    back.close();
    // a cursor sees the snapshot taken at its creation
    const snap = engine.cursor("history");
    engine.writeSync(engine.batch().put("history", b("a2"), b("new")));
    expect(str([...snap])).toEqual(["a1=a1", "a3=a3", "b1=b1", "b5=b5"]);
  });

  it("writes a batch atomically: all of it or, on a bad operation, none", async () => {
    const batch = engine.batch();
    batch.put("kv", b("x"), b("1"));
    // biome-ignore lint/suspicious/noExplicitAny: deliberately bad input
    expect(() => batch.put("kv", b("y"), undefined as any)).toThrow();
    batch.clear();
    expect(batch.length).toBe(0);
    batch.put("kv", b("x"), b("1")).del("kv", b("x")).put("kv", b("y"), b("2"));
    await engine.write(batch, { sync: true });
    expect(engine.getSync("kv", b("x"))).toBeUndefined();
    expect(engine.getSync("kv", b("y"))?.toString()).toBe("2");
  });

  it("deletes a key range", async () => {
    const batch = engine.batch();
    for (const k of ["a", "b", "c", "d"]) batch.put("raft", b(k), b(k));
    await engine.write(batch, { sync: false });
    engine.deleteRangeSync("raft", { gte: b("b"), lt: b("d") });
    expect(str([...engine.iterateSync("raft")])).toEqual(["a=a", "d=d"]);
  });

  it("keeps data across close and reopen; close is idempotent", async () => {
    const batch = engine.batch();
    batch.put("kv", b("persist"), b("yes")).put("raft", b("\x01e1"), b("entry"));
    await engine.write(batch, { sync: true });
    await engine.write(engine.batch().put("kv", b("unsynced"), b("too")), { sync: false });
    await Promise.all([engine.close(), engine.close()]);
    expect(() => engine.getSync("kv", b("persist"))).toThrow(/closed/);
    engine = await Engine.open(path.join(dir, "db"));
    expect(engine.getSync("kv", b("persist"))?.toString()).toBe("yes");
    expect(engine.getSync("kv", b("unsynced"))?.toString()).toBe("too");
    expect(engine.getSync("raft", b("\x01e1"))?.toString()).toBe("entry");
    expect(engine.approximateSize()).toBeGreaterThan(0);
  });

  it("refuses a second open of the same directory", async () => {
    await expect(Engine.open(path.join(dir, "db"))).rejects.toThrow(/cannot open/);
  });

  it("writes a consistent checkpoint that opens as a database", async () => {
    const batch = engine.batch();
    for (let i = 0; i < 3000; i++) batch.put("kv", b(`k${i}`), Buffer.alloc(100, i % 256));
    batch.put("meta", b("applied"), b("42"));
    await engine.write(batch, { sync: false });
    const cp = engine.checkpoint(path.join(dir, "cp"));
    // writes after the checkpoint started are not in it
    await engine.write(engine.batch().put("meta", b("applied"), b("43")), { sync: false });
    await cp;
    const copy = await Engine.open(path.join(dir, "cp"));
    try {
      expect(copy.getSync("meta", b("applied"))?.toString()).toBe("42");
      expect([...copy.iterateSync("kv")].length).toBe(3000);
    } finally {
      await copy.close();
    }
    await expect(engine.checkpoint(path.join(dir, "cp"))).rejects.toThrow(/not empty/);
  });

  it("fsyncs inline when asked", async () => {
    const inline = await Engine.open(path.join(dir, "inline"), { syncMode: "inline" });
    try {
      await inline.write(inline.batch().put("kv", b("a"), b("b")), { sync: true });
      await inline.syncWal();
      expect(inline.getSync("kv", b("a"))?.toString()).toBe("b");
    } finally {
      await inline.close();
    }
  });
});
