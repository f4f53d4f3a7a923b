/**
 * Storage micro-benchmark (not a test): raw RocksDB through the binding (Engine) vs
 * MvccStore, then a 1,000,000-key load for memory and disk.
 *
 *   npm run bench:storage                      (from the repo root or packages/storage)
 *   BENCH_OPS=10000 BENCH_LOAD_KEYS=1000000 BENCH_RUNS=5 npm run bench:storage
 *   node --cpu-prof --import tsx packages/storage/bench/storage-bench.ts   (profile)
 *
 * Workloads (storage baseline shape): 1 KiB values, sequential keys, BENCH_OPS ops.
 * - write: puts in apply-sized batches (BENCH_BATCH ops per RocksDB batch, no fsync)
 * - read: point reads of existing keys at the current revision (synchronous)
 * - scan: one ordered read of all keys
 * - single write: one put per batch (no fsync), and one put per batch with fsync
 * - single read: one point read
 * - batched read: point reads answered 100 per call (one MultiGet), as a server batches
 *   the reads that arrive together (MvccStore.rangeMany; raw getManySync)
 * Raw and MvccStore runs are interleaved, BENCH_RUNS each, each on a fresh database; the
 * table shows the best run and the median.
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
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
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

/** One run's figures: throughputs in ops/s, latencies in µs. */
interface Sample {
  write: number;
  read: number;
  readBatched: number;
  scan: number;
  latWrite: number;
  latWriteFsync: number;
  latRead: number;
}
type Metric = keyof Sample;
const LOWER_IS_BETTER: ReadonlySet<Metric> = new Set(["latWrite", "latWriteFsync", "latRead"]);

/** Ops per second of `fn` (which does `n` ops), best of `passes` passes. */
function rate(n: number, passes: number, fn: () => void): number {
  let best = 0;
  for (let p = 0; p < passes; p++) {
    const t = now();
    fn();
    best = Math.max(best, n / ((now() - t) / 1000));
  }
  return best;
}

const READ_BATCH = 100;

async function runRaw(): Promise<Sample> {
  const e = await freshEngine();
  const keys = Array.from({ length: OPS }, (_, i) => key(i));
  let t = now();
  const b = e.batch();
  for (let i = 0; i < OPS; i += BATCH) {
    for (let j = i; j < Math.min(OPS, i + BATCH); j++) b.put("kv", keys[j]!, value1k);
    e.writeSync(b);
  }
  const write = OPS / ((now() - t) / 1000);
  const read = rate(OPS, 3, () => {
    for (let i = 0; i < OPS; i++) if (!e.getSync("kv", keys[i]!)) throw new Error("raw miss");
  });
  const readBatched = rate(OPS, 3, () => {
    for (let i = 0; i < OPS; i += READ_BATCH) e.getManySync("kv", keys.slice(i, i + READ_BATCH));
  });
  const scan = rate(OPS, 3, () => {
    let n = 0;
    for (const _ of e.iterateSync("kv", { gte: keys[0]!, pageSize: 1024 })) n++;
    if (n !== OPS) throw new Error("raw scan missed keys");
  });
  t = now();
  for (let i = 0; i < SINGLE_OPS; i++) {
    b.put("kv", key(OPS + i), value1k);
    e.writeSync(b);
  }
  const latWrite = ((now() - t) * 1000) / SINGLE_OPS;
  t = now();
  for (let i = 0; i < FSYNC_OPS; i++) {
    b.put("kv", key(2 * OPS + i), value1k);
    await e.write(b, { sync: true });
  }
  const latWriteFsync = ((now() - t) * 1000) / FSYNC_OPS;
  t = now();
  for (let i = 0; i < SINGLE_OPS; i++) e.getSync("kv", keys[(i * 7919) % OPS]!);
  const latRead = ((now() - t) * 1000) / SINGLE_OPS;
  b.close();
  await e.close();
  return { write, read, readBatched, scan, latWrite, latWriteFsync, latRead };
}

async function runMvcc(): Promise<Sample> {
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
  const read = rate(OPS, 3, () => {
    for (let i = 0; i < OPS; i++) {
      if (store.range({ key: keys[i]! }).kvs.length !== 1) throw new Error("mvcc miss");
    }
  });
  const reqs = keys.map((k) => ({ key: k }));
  const readBatched = rate(OPS, 3, () => {
    for (let i = 0; i < OPS; i += READ_BATCH) store.rangeMany(reqs.slice(i, i + READ_BATCH));
  });
  const scan = rate(OPS, 3, () => {
    const all = store.range({ key: keys[0]!, rangeEnd: new Uint8Array([0]) });
    if (all.kvs.length !== OPS) throw new Error("mvcc scan missed keys");
  });
  t = now();
  for (let i = 0; i < SINGLE_OPS; i++) {
    const w = store.beginWrite();
    w.put({ key: key(OPS + i), value: value1k });
    await w.commit({ sync: false });
  }
  const latWrite = ((now() - t) * 1000) / SINGLE_OPS;
  t = now();
  for (let i = 0; i < FSYNC_OPS; i++) {
    const w = store.beginWrite();
    w.put({ key: key(2 * OPS + i), value: value1k });
    await w.commit({ sync: true });
  }
  const latWriteFsync = ((now() - t) * 1000) / FSYNC_OPS;
  t = now();
  for (let i = 0; i < SINGLE_OPS; i++) store.range({ key: keys[(i * 7919) % OPS]! });
  const latRead = ((now() - t) * 1000) / SINGLE_OPS;
  await e.close();
  return { write, read, readBatched, scan, latWrite, latWriteFsync, latRead };
}

function best(samples: Sample[], m: Metric): number {
  const xs = samples.map((s) => s[m]);
  return LOWER_IS_BETTER.has(m) ? Math.min(...xs) : Math.max(...xs);
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
  const load0 = os.loadavg()[0]!;
  console.log(
    `storage bench: ${fmt(OPS)} ops, 1 KiB values, sequential keys, write batches of ${fmt(BATCH)}, ` +
      `batched reads of ${READ_BATCH}; node ${process.version}, ${os.cpus().length} CPUs, ` +
      `load average ${load0.toFixed(1)}`,
  );
  console.log(
    `raw and MvccStore runs interleaved, ${RUNS} each (fresh database per run); each cell is ` +
      "the best run (median in brackets): other processes share this machine.",
  );
  await runRaw(); // warm-up (JIT, page cache)
  await runMvcc();
  const raw: Sample[] = [];
  const mvcc: Sample[] = [];
  for (let i = 0; i < RUNS; i++) {
    raw.push(await runRaw());
    mvcc.push(await runMvcc());
  }
  const cell = (samples: Sample[], m: Metric, unit: "ops" | "keys" | "us") => {
    const f = (x: number) => (unit === "us" ? fmtUs(x) : `${fmt(x)} ${unit}/s`);
    return `${f(best(samples, m))} (${f(median(samples.map((s) => s[m])))})`;
  };
  const overhead = (m: Metric) => {
    const r = best(raw, m);
    const v = best(mvcc, m);
    return `${(LOWER_IS_BETTER.has(m) ? v / r : r / v).toFixed(2)}x`;
  };
  const rows: [string, Metric, "ops" | "keys" | "us", string][] = [
    ["write throughput (batched)", "write", "ops", `>= ${fmt(TARGETS.mvccWrite)} ops/s`],
    ["read throughput (point, 1 per call)", "read", "ops", `>= ${fmt(TARGETS.mvccRead)} ops/s`],
    [
      `read throughput (point, ${READ_BATCH} per call)`,
      "readBatched",
      "ops",
      `>= ${fmt(TARGETS.mvccRead)} ops/s`,
    ],
    ["scan throughput", "scan", "keys", ""],
    ["single write latency (no fsync)", "latWrite", "us", ""],
    ["single write latency (fsync)", "latWriteFsync", "us", ""],
    ["single read latency", "latRead", "us", ""],
  ];
  console.log("");
  console.log(
    table(
      [
        "metric",
        "raw RocksDB (binding)",
        "MvccStore",
        "overhead (target <= 1.5x)",
        "MvccStore target",
      ],
      rows.map(([name, m, unit, target]) => [
        name,
        cell(raw, m, unit),
        cell(mvcc, m, unit),
        overhead(m),
        target,
      ]),
    ),
  );
  console.log(`load average now ${os.loadavg()[0]!.toFixed(1)}`);
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
