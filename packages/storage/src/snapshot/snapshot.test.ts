import fs from "node:fs";
import path from "node:path";
import { emptyConfState } from "@chainfire/raft";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Engine } from "../engine.js";
import { LeaseStore } from "../lease/lease-store.js";
import { revokeLease } from "../lease/revoke.js";
import { MetaStore } from "../meta/meta-store.js";
import { MvccStore } from "../mvcc/store.js";
import { openEngine, tempDir } from "../raft-log/__tests__/support.js";
import { RaftLogStore } from "../raft-log/raft-log-store.js";
import { SnapshotChecksumError, SnapshotFormatError } from "./errors.js";
import { ETCD_SNAPSHOT_ALIGN, SHA256_SIZE, wrapForEtcdctl } from "./format.js";
import { recoverDbDir, restorePaths, restoreStateSnapshot, stageStateSnapshot } from "./restore.js";
import { createStateSnapshot, SNAPSHOT_COLUMNS } from "./state-snapshot.js";

const enc = (s: string) => Buffer.from(s);

/** The magic, then each frame, then the trailer, as separate buffers. */
function splitFrames(stream: Buffer): Buffer[] {
  const out = [stream.subarray(0, 8)];
  let off = 8;
  while (off < stream.length - SHA256_SIZE) {
    const len = stream.readUInt32BE(off + 1);
    out.push(stream.subarray(off, off + 9 + len));
    off += 9 + len;
  }
  out.push(stream.subarray(off));
  return out;
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of stream) out.push(Buffer.from(c));
  return out;
}

/** Every (cf, key, value) of the state column families, as hex strings. */
function dumpState(engine: Engine): string[] {
  const out: string[] = [];
  for (const cf of SNAPSHOT_COLUMNS) {
    for (const [k, v] of engine.iterateSync(cf))
      out.push(`${cf}:${k.toString("hex")}=${v.toString("hex")}`);
  }
  return out;
}

describe("state snapshots", () => {
  let root: string;
  let dbDir: string;
  let engine: Engine;

  beforeEach(async () => {
    root = tempDir("cf-snap-");
    dbDir = path.join(root, "db");
    engine = await openEngine(dbDir);
  });

  afterEach(async () => {
    await engine.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** A member state: MVCC writes, a lease with keys, membership, applied index. */
  async function populate(
    n: number,
  ): Promise<{ meta: MetaStore; mvcc: MvccStore; leases: LeaseStore }> {
    const meta = await MetaStore.open(engine);
    const leases = await LeaseStore.open(engine);
    const mvcc = MvccStore.open(engine, { leaseExists: (id) => leases.has(id) });
    const w = mvcc.beginWrite();
    meta.bootstrap(w.batch, {
      clusterId: 77n,
      memberId: 1n,
      members: [
        { id: 1n, name: "n1", peerURLs: ["http://a:2380"], clientURLs: [], isLearner: false },
      ],
      confState: { ...emptyConfState(), voters: [1n, 2n, 3n] },
    });
    leases.grant(w.batch, 5n, 30);
    for (let i = 0; i < n; i++) {
      w.put({
        key: enc(`key/${String(i).padStart(5, "0")}`),
        value: enc(`v${i}`.repeat(1 + (i % 7))),
        lease: i % 10 === 0 ? 5n : 0n,
      });
    }
    w.deleteRange({ key: enc("key/00003") });
    meta.setApplied(w.batch, n + 10, 3);
    await w.commit({ sync: true });
    meta.commit(w.batch);
    leases.commit(w.batch);
    return { meta, mvcc, leases };
  }

  it("round-trips a member's state; the restored member restarts at the snapshot", async () => {
    const { mvcc } = await populate(2000);
    const before = dumpState(engine);
    const snap = createStateSnapshot(engine, { chunkBytes: 16 * 1024 });
    expect(snap.header.appliedIndex).toBe(2010);
    expect(snap.header.appliedTerm).toBe(3);
    expect(snap.header.revision).toBe(mvcc.revision);
    expect(snap.header.revision).toBe(2002n); // 2000 puts + 1 delete from revision 1
    expect(snap.header.compactRevision).toBe(-1n);
    expect(snap.header.confState.voters).toEqual([1n, 2n, 3n]);
    const chunks = await collect(snap.stream);
    expect(chunks.length).toBeGreaterThan(2);
    const sha = await snap.sha256;

    const target = path.join(root, "restored");
    const header = await restoreStateSnapshot(chunks, target, {
      memberId: 9n,
      hardState: { term: 5, vote: 2n, commit: 1 },
    });
    expect(header.appliedIndex).toBe(2010);
    const e2 = await openEngine(target);
    try {
      expect(dumpState(e2)).toEqual(before);
      const meta2 = await MetaStore.open(e2);
      expect(meta2.appliedIndex).toBe(2010);
      expect(meta2.memberId).toBe(9n); // local identity, not the source's
      expect(meta2.clusterId).toBe(77n);
      const mvcc2 = MvccStore.open(e2);
      expect(mvcc2.revision).toBe(2002n);
      expect(mvcc2.get(enc("key/00003"))).toBeUndefined();
      expect(Buffer.from(mvcc2.get(enc("key/00004"))!.value).toString()).toBe("v4v4v4v4v4");
      expect(mvcc2.keysOfLease(5n)).toHaveLength(200);
      const log = RaftLogStore.open(e2, { appliedConfState: () => meta2.confState });
      expect(log.firstIndex()).toBe(2011);
      expect(log.lastIndex()).toBe(2010);
      expect(log.term(2010)).toBe(3);
      expect(log.initialState().hardState).toEqual({ term: 5, vote: 2n, commit: 2010 });
      expect(log.initialState().confState.voters).toEqual([1n, 2n, 3n]);
      expect(log.snapshot().metadata.index).toBe(2010);
    } finally {
      await e2.close();
    }
    expect(sha).toMatch(/^[0-9a-f]{64}$/);
    expect(fs.existsSync(restorePaths(target).restored)).toBe(false);
  });

  it("is a consistent cut while writes continue", async () => {
    const meta = await MetaStore.open(engine);
    const write = async (i: number) => {
      const b = engine.batch();
      b.put("kv", enc(`k${String(i).padStart(6, "0")}`), enc(`v${i}`));
      meta.setApplied(b, i, 1);
      await engine.write(b, { sync: false });
      meta.commit(b);
      b.close();
    };
    for (let i = 1; i <= 3000; i++) await write(i);
    const snap = createStateSnapshot(engine, { chunkBytes: 4096 });
    expect(snap.header.appliedIndex).toBe(3000);
    // Keep writing (and overwriting) while the stream is read, a few writes per chunk.
    let i = 3001;
    const chunks: Buffer[] = [];
    for await (const c of snap.stream) {
      chunks.push(Buffer.from(c));
      for (let k = 0; k < 5; k++) await write(i++);
      const b = engine.batch();
      b.del("kv", enc("k000001"));
      await engine.write(b, { sync: false });
      b.close();
    }
    expect(i).toBeGreaterThan(3100);
    const target = path.join(root, "cut");
    await restoreStateSnapshot(chunks, target);
    const e2 = await openEngine(target);
    try {
      const keys = [...e2.iterateSync("kv")].map(([k]) => k.toString());
      expect(keys).toHaveLength(3000);
      expect(keys[0]).toBe("k000001");
      expect(keys[2999]).toBe("k003000");
      expect((await MetaStore.open(e2)).appliedIndex).toBe(3000);
    } finally {
      await e2.close();
    }
  });

  it("detects corruption, leaves the old state intact and cleans up", async () => {
    await populate(300);
    const good = Buffer.concat(
      await collect(createStateSnapshot(engine, { chunkBytes: 2048 }).stream),
    );
    // An existing member database at the restore target, which must survive.
    const target = path.join(root, "member");
    const old = await openEngine(target);
    const b = old.batch();
    b.put("kv", enc("old"), enc("state"));
    await old.write(b, { sync: true });
    b.close();
    await old.close();

    // A flipped bit inside a value: the frame's CRC catches it.
    const flip = Buffer.from(good);
    flip[good.indexOf(enc("v150v150v150")) + 2] ^= 0x40;
    await expect(restoreStateSnapshot([flip], target)).rejects.toThrow(/checksum mismatch \(frame/);
    // Two frames swapped (each intact): only the SHA-256 over the stream catches it.
    const frames = splitFrames(good);
    const swapped = Buffer.concat([
      ...frames.slice(0, 3),
      frames[4],
      frames[3],
      ...frames.slice(5),
    ]);
    expect(swapped.length).toBe(good.length);
    await expect(restoreStateSnapshot([swapped], target)).rejects.toThrow(
      /checksum mismatch \(stream\)/,
    );
    // A corrupt frame length is refused without buffering the rest of the stream.
    const badLen = Buffer.from(good);
    badLen.writeUInt32BE(0xfffffff0, frames[0].length + frames[1].length + 1);
    await expect(restoreStateSnapshot([badLen], target)).rejects.toBeInstanceOf(
      SnapshotFormatError,
    );
    const badTrailer = Buffer.from(good);
    badTrailer[badTrailer.length - 1] ^= 1;
    await expect(restoreStateSnapshot([badTrailer], target)).rejects.toThrow(/checksum mismatch/);
    await expect(
      restoreStateSnapshot([good.subarray(0, good.length - 40)], target),
    ).rejects.toBeInstanceOf(SnapshotFormatError);
    await expect(
      restoreStateSnapshot([Buffer.from("not a snapshot at all")], target),
    ).rejects.toBeInstanceOf(SnapshotFormatError);
    await expect(
      restoreStateSnapshot([good, Buffer.from([1, 2, 3])], target),
    ).rejects.toBeInstanceOf(SnapshotFormatError);
    const p = restorePaths(target);
    expect(fs.existsSync(p.restoring) || fs.existsSync(p.restored) || fs.existsSync(p.old)).toBe(
      false,
    );
    const still = await openEngine(target);
    try {
      expect(still.getSync("kv", enc("old"))?.toString()).toBe("state");
    } finally {
      await still.close();
    }
    // The intact stream, fed in odd-sized pieces, replaces the old state.
    const pieces: Buffer[] = [];
    for (let off = 0; off < good.length; off += 777) pieces.push(good.subarray(off, off + 777));
    await restoreStateSnapshot(pieces, target);
    const now = await openEngine(target);
    try {
      expect(now.getSync("kv", enc("old"))).toBeUndefined();
      expect(dumpState(now)).toEqual(dumpState(engine));
    } finally {
      await now.close();
    }
  });

  it("wraps for etcdctl (body padded to 512 + SHA-256) and restores the wrapped form", async () => {
    await populate(50);
    const wrapped = Buffer.concat(
      await collect(wrapForEtcdctl(createStateSnapshot(engine).stream)),
    );
    expect(wrapped.length % ETCD_SNAPSHOT_ALIGN).toBe(SHA256_SIZE);
    const target = path.join(root, "from-etcdctl");
    await restoreStateSnapshot([wrapped], target);
    const bad = Buffer.from(wrapped);
    bad[bad.length - 5] ^= 1;
    await expect(restoreStateSnapshot([bad], path.join(root, "x"))).rejects.toBeInstanceOf(
      SnapshotChecksumError,
    );
  });

  it("stages without touching the live database, then installs on demand", async () => {
    await populate(10);
    const chunks = await collect(createStateSnapshot(engine).stream);
    const target = path.join(root, "live");
    const live = await openEngine(target);
    const staged = await stageStateSnapshot(chunks, target, { memberId: 4n });
    expect(fs.existsSync(staged.dir)).toBe(true);
    expect(live.getSync("meta", enc("applied"))).toBeUndefined(); // live db unchanged
    await live.close();
    await staged.install();
    const e2 = await openEngine(target);
    expect((await MetaStore.open(e2)).appliedIndex).toBe(20);
    await e2.close();
  });

  it("recovers a restore interrupted by a crash", async () => {
    const target = path.join(root, "crashy");
    const p = restorePaths(target);
    // Crash after staging, before the swap: the verified copy is installed.
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, "which"), "old");
    fs.mkdirSync(p.restored);
    fs.writeFileSync(path.join(p.restored, "which"), "new");
    fs.mkdirSync(p.restoring); // an unfinished staging dir from an earlier attempt
    expect(await recoverDbDir(target)).toBe("installed");
    expect(fs.readFileSync(path.join(target, "which"), "utf8")).toBe("new");
    expect([fs.existsSync(p.restored), fs.existsSync(p.restoring), fs.existsSync(p.old)]).toEqual([
      false,
      false,
      false,
    ]);
    // Crash between the two renames: dbDir gone, .old and .restored present.
    fs.renameSync(target, p.old);
    fs.mkdirSync(p.restored);
    fs.writeFileSync(path.join(p.restored, "which"), "newer");
    expect(await recoverDbDir(target)).toBe("installed");
    expect(fs.readFileSync(path.join(target, "which"), "utf8")).toBe("newer");
    // Only .old left and no dbDir: put it back.
    fs.renameSync(target, p.old);
    expect(await recoverDbDir(target)).toBe("rolled-back");
    expect(fs.readFileSync(path.join(target, "which"), "utf8")).toBe("newer");
    expect(await recoverDbDir(target)).toBe("none");
  });
});

describe("revokeLease", () => {
  it("deletes the lease and its attached keys in one revision of one batch", async () => {
    const dir = tempDir();
    const engine = await openEngine(dir);
    try {
      const leases = await LeaseStore.open(engine);
      const mvcc = MvccStore.open(engine, { leaseExists: (id) => leases.has(id) });
      let w = mvcc.beginWrite();
      leases.grant(w.batch, 9n, 10);
      w.put({ key: enc("a"), value: enc("1"), lease: 9n });
      w.put({ key: enc("b"), value: enc("2"), lease: 9n });
      w.put({ key: enc("c"), value: enc("3") });
      await w.commit({ sync: true });
      leases.commit(w.batch);
      expect(mvcc.revision).toBe(4n);
      w = mvcc.beginWrite();
      const r = revokeLease(w, leases, 9n);
      expect(r.deleted).toBe(2n);
      expect(r.revision).toBe(5n);
      expect(() => revokeLease(w, leases, 9n)).toThrow("etcdserver: requested lease not found");
      await w.commit({ sync: true });
      leases.commit(w.batch);
      expect(mvcc.get(enc("a"))).toBeUndefined();
      expect(mvcc.get(enc("c"))).toBeDefined();
      expect(mvcc.keysOfLease(9n)).toEqual([]);
      expect((await LeaseStore.open(engine)).has(9n)).toBe(false);
    } finally {
      await engine.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
