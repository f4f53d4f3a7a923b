/**
 * Storage micro-benchmark (not a test): raw RocksDB through the binding (Engine) vs
 * MvccStore, then a 1,000,000-key load for memory and disk.
 *
 *   npm run bench:storage                      (from the repo root or packages/storage)
 *   BENCH_OPS=10000 BENCH_LOAD_KEYS=1000000 BENCH_RUNS=3 npm run bench:storage
 *   node --cpu-prof --import tsx packages/storage/bench/storage-bench.ts   (profile)
 *
 * Workloads (storage baseline shape): 1 KiB values, sequential keys, BENCH_OPS ops.
 * - write: puts in apply-sized batches (BENCH_BATCH ops per RocksDB batch, no fsync)
 * - read: point reads of existing keys at the current revision (synchronous)
 * - scan: one ordered read of all keys
 * - single write: one put per batch (no fsync), and one put per batch with fsync
 * - single read: one point read
 * Each figure is the median of BENCH_RUNS runs, each on a fresh database.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Engine } from "../src/engine.js";
import { MvccStore } from "../src/mvcc/store.js";

const OPS = Number(process.env.BENCH_OPS ?? 10_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 1_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const LOAD_KEYS = Number(process.env.BENCH_LOAD_KEYS ?? 1_000_000);
const LOAD_BATCH = Number(process.env.BENCH_LOAD_BATCH ?? 1_000);
const SINGLE_OPS = Math.min(OPS, 2_000);
const FSYNC_OPS = 300;

const TARGETS = {
  mvccWrite: 150_000,
  mvccRead: 450_000,
  overhead: 1.5,
  rssMiB: 200,
};

const root = fs.mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), "cf-bench-"));
let dbSeq = 0;
const engineOptions = {
  ...(process.env.BENCH_CACHE_MB ? { cacheBytes: Number(process.env.BENCH_CACHE_MB) << 20 } : {}),
  ...(process.env.BENCH_MEMTABLE_MB
    ? { memtableBytes: Number(process.env.BENCH_MEMTABLE_MB) << 20 }
    : {}),
};
async function freshEngine(): Promise<Engine> {
  return Engine.open(path.join(root, `db${dbSeq++}`), engineOptions);
}

function key(i: number, width = 16): Buffer {
  return Buffer.from(`key-${String(i).padStart(width - 4, "0")}`);
}
const value1k = Buffer.alloc(1024, 0x61);
for (let i = 0; i < value1k.length; i++) value1k[i] = 97 + ((i * 7) % 26);

function now(): number {
  return performance.now();
}
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

interface Row {
  throughput: { write: number; read: number; scan: number };
  latencyUs: { write: number; writeFsync: number; read: number };
}

async function benchRaw(): Promise<Row> {
  const e = await freshEngine();
  const keys = Array.from({ length: OPS }, (_, i) => key(i));
  // write
  let t = now();
  for (let i = 0; i < OPS; i += BATCH) {
    const b = e.batch();
    for (let j = i; j < Math.min(OPS, i + BATCH); j++) b.put("kv", keys[j]!, value1k);
    e.writeSync(b);
    b.close();
  }
  const write = OPS / ((now() - t) / 1000);
  // read
  t = now();
  let found = 0;
  for (let i = 0; i < OPS; i++) if (e.getSync("kv", keys[i]!)) found++;
  const read = OPS / ((now() - t) / 1000);
  if (found !== OPS) throw new Error("raw read missed keys");
  // scan
  t = now();
  let n = 0;
  for (const _ of e.iterateSync("kv", { gte: keys[0]!, pageSize: 1024 })) n++;
  const scan = n / ((now() - t) / 1000);
  // single write / read latency
  t = now();
  for (let i = 0; i < SINGLE_OPS; i++) {
    const b = e.batch();
    b.put("kv", key(OPS + i), value1k);
    e.writeSync(b);
    b.close();
  }
  const lw = ((now() - t) * 1000) / SINGLE_OPS;
  t = now();
  for (let i = 0; i < FSYNC_OPS; i++) {
    await e.write(e.batch().put("kv", key(2 * OPS + i), value1k), { sync: true });
  }
  const lwf = ((now() - t) * 1000) / FSYNC_OPS;
  t = now();
  for (let i = 0; i < SINGLE_OPS; i++) e.getSync("kv", keys[(i * 7919) % OPS]!);
  const lr = ((now() - t) * 1000) / SINGLE_OPS;
  await e.close();
  return { throughput: { write, read, scan }, latencyUs: { write: lw, writeFsync: lwf, read: lr } };
}

async function benchMvcc(): Promise<Row> {
  const e = await freshEngine();
  const store = MvccStore.open(e);
  const keys = Array.from({ length: OPS }, (_, i) => key(i));
  let t = now();
  for (let i = 0; i < OPS; i += BATCH) {
    const w = store.beginWrite();
    const end = Math.min(OPS, i + BATCH);
    // The apply loop knows the batch's keys up front: one MultiGet for their versions.
    w.prefetch(keys.slice(i, end));
    for (let j = i; j < end; j++) w.put({ key: keys[j]!, value: value1k });
    await w.commit({ sync: false });
  }
  const write = OPS / ((now() - t) / 1000);
  t = now();
  let found = 0;
  for (let i = 0; i < OPS; i++) if (store.range({ key: keys[i]! }).kvs.length === 1) found++;
  const read = OPS / ((now() - t) / 1000);
  if (found !== OPS) throw new Error("mvcc read missed keys");
  t = now();
  const all = store.range({ key: keys[0]!, rangeEnd: new Uint8Array([0]) });
  const scan = all.kvs.length / ((now() - t) / 1000);
  if (all.kvs.length !== OPS) throw new Error("mvcc scan missed keys");
  t = now();
  for (let i = 0; i < SINGLE_OPS; i++) {
    const w = store.beginWrite();
    w.put({ key: key(OPS + i), value: value1k });
    await w.commit({ sync: false });
  }
  const lw = ((now() - t) * 1000) / SINGLE_OPS;
  t = now();
  for (let i = 0; i < FSYNC_OPS; i++) {
    const w = store.beginWrite();
    w.put({ key: key(2 * OPS + i), value: value1k });
    await w.commit({ sync: true });
  }
  const lwf = ((now() - t) * 1000) / FSYNC_OPS;
  t = now();
  for (let i = 0; i < SINGLE_OPS; i++) store.range({ key: keys[(i * 7919) % OPS]! });
  const lr = ((now() - t) * 1000) / SINGLE_OPS;
  await e.close();
  return { throughput: { write, read, scan }, latencyUs: { write: lw, writeFsync: lwf, read: lr } };
}

async function medianOf(f: () => Promise<Row>): Promise<Row> {
  const rows: Row[] = [];
  for (let i = 0; i < RUNS; i++) rows.push(await f());
  const m = (g: (r: Row) => number) => median(rows.map(g));
  return {
    throughput: {
      write: m((r) => r.throughput.write),
      read: m((r) => r.throughput.read),
      scan: m((r) => r.throughput.scan),
    },
    latencyUs: {
      write: m((r) => r.latencyUs.write),
      writeFsync: m((r) => r.latencyUs.writeFsync),
      read: m((r) => r.latencyUs.read),
    },
  };
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const fmtUs = (n: number) => `${n.toFixed(1)} µs`;
const mib = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MiB`;

function table(headers: string[], rows: string[][]): string {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(w[i]!)).join(" | ")} |`;
  return [line(headers), `|${w.map((x) => "-".repeat(x + 2)).join("|")}|`, ...rows.map(line)].join(
    "\n",
  );
}

async function load(): Promise<void> {
  const e = await freshEngine();
  const store = MvccStore.open(e);
  const baseRss = process.memoryUsage().rss;
  const value = Buffer.alloc(256);
  for (let i = 0; i < value.length; i++) value[i] = 65 + ((i * 13) % 57);
  const t0 = now();
  let last = t0;
  const report = LOAD_KEYS >= 10 ? Math.floor(LOAD_KEYS / 10) : LOAD_KEYS;
  let peakRss = 0;
  for (let i = 0; i < LOAD_KEYS; i += LOAD_BATCH) {
    const w = store.beginWrite();
    const batchKeys: Buffer[] = [];
    for (let j = i; j < Math.min(LOAD_KEYS, i + LOAD_BATCH); j++) batchKeys.push(key(j, 64));
    w.prefetch(batchKeys);
    for (const k of batchKeys) w.put({ key: k, value });
    await w.commit({ sync: false });
    const done = Math.min(LOAD_KEYS, i + LOAD_BATCH);
    if (done % report === 0 || done === LOAD_KEYS) {
      const t = now();
      const rss = process.memoryUsage().rss;
      peakRss = Math.max(peakRss, rss);
      console.log(
        `  loaded ${fmt(done).padStart(9)} keys  ${fmt((report / (t - last)) * 1000).padStart(9)} puts/s  rss ${mib(rss).padStart(8)}  disk ${mib(e.approximateSize()).padStart(8)}`,
      );
      last = t;
    }
  }
  const loadSecs = (now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 2000));
  (globalThis as { gc?: () => void }).gc?.();
  const rss = process.memoryUsage().rss;
  const heap = process.memoryUsage().heapUsed;
  // reads over the loaded store
  let t = now();
  const N = 100_000;
  for (let i = 0; i < N; i++) store.range({ key: key((i * 7919) % LOAD_KEYS, 64) });
  const readRate = N / ((now() - t) / 1000);
  t = now();
  const page = store.range({ key: key(0, 64), rangeEnd: new Uint8Array([0]), limit: 1000n });
  const pageMs = now() - t;
  const rssAfterReads = process.memoryUsage().rss;
  const disk = e.approximateSize();
  await e.close();
  console.log("");
  console.log(
    table(
      ["1,000,000-key load (64 B keys, 256 B values)", "result", "target"],
      [
        ["keys", fmt(LOAD_KEYS), ""],
        ["RSS before load (process + open engine)", mib(baseRss), ""],
        [
          "load rate (batches of " + fmt(LOAD_BATCH) + ")",
          `${fmt(LOAD_KEYS / loadSecs)} puts/s`,
          "",
        ],
        ["RSS after load (settled)", mib(rss), `<= ${TARGETS.rssMiB} MiB`],
        ["RSS peak during load", mib(peakRss), ""],
        ["RSS after 100k random point reads", mib(rssAfterReads), `<= ${TARGETS.rssMiB} MiB`],
        ["JS heap used", mib(heap), ""],
        ["on-disk size", mib(disk), "(etcd: 459 MiB)"],
        ["random point reads (range of one key)", `${fmt(readRate)} ops/s`, ""],
        [
          `first page of a full range (limit 1000, count ${page.count})`,
          `${pageMs.toFixed(0)} ms`,
          "",
        ],
      ],
    ),
  );
}

async function main(): Promise<void> {
  if (process.env.BENCH_PHASE === "load") {
    await load();
    return;
  }
  console.log(
    `storage bench: ${fmt(OPS)} ops, 1 KiB values, sequential keys, batches of ${fmt(BATCH)}, median of ${RUNS} runs; node ${process.version}, ${os.cpus().length} CPUs`,
  );
  await benchRaw(); // warm-up
  await benchMvcc();
  const raw = await medianOf(benchRaw);
  const mvcc = await medianOf(benchMvcc);
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  console.log("");
  console.log(
    table(
      ["metric", "raw RocksDB (binding)", "MvccStore", "overhead", "MvccStore target"],
      [
        [
          "write throughput (batched)",
          `${fmt(raw.throughput.write)} ops/s`,
          `${fmt(mvcc.throughput.write)} ops/s`,
          ratio(raw.throughput.write, mvcc.throughput.write),
          `>= ${fmt(TARGETS.mvccWrite)} ops/s, <= ${TARGETS.overhead}x`,
        ],
        [
          "read throughput (point, current rev)",
          `${fmt(raw.throughput.read)} ops/s`,
          `${fmt(mvcc.throughput.read)} ops/s`,
          ratio(raw.throughput.read, mvcc.throughput.read),
          `>= ${fmt(TARGETS.mvccRead)} ops/s, <= ${TARGETS.overhead}x`,
        ],
        [
          "scan throughput",
          `${fmt(raw.throughput.scan)} keys/s`,
          `${fmt(mvcc.throughput.scan)} keys/s`,
          ratio(raw.throughput.scan, mvcc.throughput.scan),
          `<= ${TARGETS.overhead}x`,
        ],
        [
          "single write latency (no fsync)",
          fmtUs(raw.latencyUs.write),
          fmtUs(mvcc.latencyUs.write),
          ratio(mvcc.latencyUs.write, raw.latencyUs.write),
          "",
        ],
        [
          "single write latency (fsync)",
          fmtUs(raw.latencyUs.writeFsync),
          fmtUs(mvcc.latencyUs.writeFsync),
          ratio(mvcc.latencyUs.writeFsync, raw.latencyUs.writeFsync),
          "",
        ],
        [
          "single read latency",
          fmtUs(raw.latencyUs.read),
          fmtUs(mvcc.latencyUs.read),
          ratio(mvcc.latencyUs.read, raw.latencyUs.read),
          "",
        ],
      ],
    ),
  );
  console.log("");
  if (LOAD_KEYS > 0) {
    // A fresh process, so memory left over from the runs above does not count, running
    // plain JavaScript (this file bundled by esbuild) as the server does: the TypeScript
    // loader alone would add ~35 MiB of RSS.
    console.log(`loading ${fmt(LOAD_KEYS)} keys through MvccStore (fresh plain-node process) ...`);
    // Under node_modules: resolves the native binding, and no linter looks there.
    const here = path.dirname(fileURLToPath(import.meta.url));
    const out = path.join(here, "..", "node_modules", ".cache", "storage-bench", "bench.mjs");
    const { buildSync } = await import("esbuild");
    buildSync({
      entryPoints: [fileURLToPath(import.meta.url)],
      outfile: out,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      external: ["@nxtedition/rocksdb", "esbuild"],
      logLevel: "warning",
    });
    // glibc malloc settings recommended for a member (see engine.ts): without them glibc
    // keeps RocksDB's freed memtable memory and RSS stays at its high-water mark.
    const mallocEnv = { MALLOC_MMAP_THRESHOLD_: "131072", MALLOC_ARENA_MAX: "2" };
    console.log(
      `  (child env: ${Object.entries(mallocEnv)
        .map(([k, v]) => `${k}=${v}`)
        .join(" ")})`,
    );
    const r = spawnSync(process.execPath, ["--expose-gc", out], {
      stdio: "inherit",
      env: { ...mallocEnv, ...process.env, BENCH_PHASE: "load", BENCH_DIR: root },
    });
    if (r.status !== 0) throw new Error(`load phase failed (${r.status ?? r.signal})`);
  }
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => fs.rmSync(root, { recursive: true, force: true }));
