/**
 * `npm run bench:large` — put latency as the database grows. Starts a cluster with the
 * test harness, fills it with large values (distinct keys, Txns of several puts) until
 * the leader's data dir reaches each size of `--sizes`, and at each size runs the same
 * put workload as bench:cluster (default put-100: 100 clients, 10 connections, 8-byte
 * keys, 256-byte values) and records its throughput and p50/p90/p99.
 *
 *   npm run bench:large                              # 1 GB then 4 GB, three members
 *   npm run bench:large -- --sizes 1,20              # the issue's comparison (long: see
 *                                                      docs/performance.md; 3x20 GB disk)
 *   npm run bench:large -- --sizes 0.25,1 --target etcd
 *
 * A benchmark, not a test: it prints numbers and asserts nothing.
 */
import { mkdirSync, readdirSync, statfsSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { etcdserverpb } from "@chainfire/api";
import { Cluster, EtcdGrpcClient, type MemberKind, REPO_ROOT } from "../../harness/index.js";
import { KeySequence, type LoadResult, runLoad } from "../cluster/load.js";
import { selectWorkloads } from "../cluster/workloads.js";
import { progress, retrying } from "../common/progress.js";

const HELP = `usage: npm run bench:large -- [options]

  --target chainfire|etcd    what to start (default chainfire)
  --size N                   members (default 3)
  --sizes GB,GB,...          data dir sizes of the leader to measure at (default 1,4)
  --fill-value-size B        value size while filling (default 65536)
  --fill-batch N             puts per fill Txn (default 16: about 1 MiB per Txn)
  --workload NAME            bench:cluster workload measured at each size (default put-100)
  --duration SEC             measured seconds per size (default 20)
  --warmup SEC               unmeasured seconds of the workload before each measurement
                             (default 10: warms the JIT, so the first size is not the
                             slower one only because the members' code is still cold)
  --snapshot-count N         members' --snapshot-count (default 1000). With the default
                             100,000 and ~1 MiB fill Txns the raft log alone would keep
                             up to 100 GB per member before its first compaction
  --settle-max SEC           Chainfire: after measuring right after a fill, wait until
                             RocksDB on every member has caught up (no flush or compaction
                             running, no write stall: chainfire_storage_* metrics) and
                             measure again (default 1800 s at most; 0 = do not)
  --out DIR                  where the JSON goes (default results/)
`;

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    target: { type: "string", default: "chainfire" },
    size: { type: "string", default: "3" },
    sizes: { type: "string", default: "1,4" },
    "fill-value-size": { type: "string", default: "65536" },
    "fill-batch": { type: "string", default: "16" },
    workload: { type: "string", default: "put-100" },
    duration: { type: "string", default: "20" },
    warmup: { type: "string", default: "10" },
    "snapshot-count": { type: "string", default: "1000" },
    "settle-max": { type: "string", default: "1800" },
    out: { type: "string", default: join(REPO_ROOT, "results") },
    help: { type: "boolean", short: "h" },
  },
  strict: true,
});
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const positive = (name: string, v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
  return n;
};
const target = values.target as MemberKind;
if (target !== "chainfire" && target !== "etcd") throw new Error("--target: chainfire or etcd");
const sizesGb = values.sizes.split(",").map((s) => positive("sizes", s));
const members = positive("size", values.size);
const fillValueSize = positive("fill-value-size", values["fill-value-size"]);
const fillBatch = positive("fill-batch", values["fill-batch"]);
const durationSec = positive("duration", values.duration);
const warmupSec = Number(values.warmup);
if (!Number.isFinite(warmupSec) || warmupSec < 0) throw new Error("--warmup must be ≥ 0");
const snapshotCount = positive("snapshot-count", values["snapshot-count"]);
const settleMaxSec = Number(values["settle-max"]);
if (!Number.isFinite(settleMaxSec) || settleMaxSec < 0) throw new Error("--settle-max must be ≥ 0");
const [workload] = selectWorkloads(values.workload);
const GB = 1e9;

/** Bytes of every file under `dir` (a member's data dir). */
function dirBytes(dir: string): number {
  let total = 0;
  let entries: import("node:fs").Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += dirBytes(p);
    else if (e.isFile()) {
      try {
        total += statSync(p).size;
      } catch {
        // removed meanwhile (compaction)
      }
    }
  }
  return total;
}

/** Fills through `endpoint` until `dataDir` holds `bytes`. Keys "fill/<n>" never repeat. */
async function fill(endpoint: string, dataDir: string, bytes: number, next: { n: number }) {
  const conns = Array.from(
    { length: 4 },
    () => new EtcdGrpcClient(endpoint, { ownConnection: true }),
  );
  // Incompressible (RocksDB compresses deeper levels with ZSTD): seeded pseudo-random bytes.
  const value = Buffer.alloc(fillValueSize);
  let x = 0x9e3779b9;
  for (let i = 0; i < value.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    value[i] = x & 0xff;
  }
  const started = performance.now();
  let written = 0;
  let size = dirBytes(dataDir);
  let lastCheck = 0;
  const worker = async (w: number) => {
    while (size < bytes) {
      const success: etcdserverpb.RequestOp[] = [];
      for (let i = 0; i < fillBatch; i++) {
        const key = Buffer.from(`fill/${String(next.n++).padStart(12, "0")}`);
        success.push(
          etcdserverpb.RequestOp.fromPartial({
            request: { $case: "requestPut", value: { key, value } },
          }),
        );
      }
      // A store that falls behind its compactions answers "request timed out" while it
      // works through them: back off (up to 30 s a try) instead of giving up.
      await retrying(
        () =>
          conns[w % conns.length].txn(
            etcdserverpb.TxnRequest.fromPartial({ compare: [], success, failure: [] }),
            120_000,
          ),
        { attempts: 12, backoffMs: 1000 },
      );
      written += fillBatch * fillValueSize;
      const now = performance.now();
      if (now - lastCheck > 2000) {
        lastCheck = now;
        size = dirBytes(dataDir);
        const mbps = written / 1e6 / ((now - started) / 1000);
        progress(
          `filling: leader data dir ${(size / GB).toFixed(2)}/${(bytes / GB).toFixed(2)} GB ` +
            `(${mbps.toFixed(1)} MB/s of values)`,
        );
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
  } finally {
    for (const c of conns) c.close();
  }
  progress(`filled: leader data dir ${(dirBytes(dataDir) / GB).toFixed(2)} GB`, true);
}

/** One member's chainfire_storage_* gauges, or undefined if it did not answer. */
async function storageWork(metricsUrl: string) {
  try {
    const r = await fetch(`${metricsUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
    const text = await r.text();
    const gauge = (name: string) => {
      const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
      return m ? Number(m[1]) : undefined;
    };
    const flushes = gauge("chainfire_storage_flushes_running");
    const compactions = gauge("chainfire_storage_compactions_running");
    const stall = gauge("chainfire_storage_write_stall");
    if (flushes === undefined || compactions === undefined || stall === undefined) return;
    return { flushes, compactions, stall };
  } catch {
    return undefined;
  }
}

/**
 * Waits until every member's RocksDB has caught up with the fill: no flush or compaction
 * running and no write stall, on three polls in a row a second apart. Returns the seconds
 * waited, or undefined if `settleMaxSec` passed first.
 */
async function settle(c: Cluster): Promise<number | undefined> {
  const started = performance.now();
  let quiet = 0;
  let lastProgress = 0;
  for (;;) {
    const work = await Promise.all(c.members.map((m) => storageWork(m.metricsUrl)));
    const idle = work.every((w) => w && w.flushes === 0 && w.compactions === 0 && w.stall === 0);
    quiet = idle ? quiet + 1 : 0;
    const waited = (performance.now() - started) / 1000;
    if (quiet >= 3) {
      progress(`settled after ${waited.toFixed(0)} s`, true);
      return waited;
    }
    if (waited >= settleMaxSec) {
      progress(`not settled after ${waited.toFixed(0)} s; measuring anyway`, true);
      return undefined;
    }
    if (waited - lastProgress >= 5) {
      lastProgress = waited;
      const show = work
        .map((w) => (w ? `${w.flushes}f/${w.compactions}c/stall ${w.stall}` : "?"))
        .join(", ");
      progress(`settling: ${waited.toFixed(0)} s, running flushes/compactions per member: ${show}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

let cluster: Cluster | undefined;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping the cluster\n`);
    void (cluster?.close() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

async function main(): Promise<void> {
  const startedAt = new Date().toISOString();
  // Every member holds the whole database (plus its raft log until compaction): refuse
  // to start a fill that would run the disk full hours into it.
  const fs = statfsSync(tmpdir());
  const freeGb = (fs.bavail * fs.bsize) / GB;
  const needGb = Math.max(...sizesGb) * members * 1.1;
  if (freeGb < needGb) {
    throw new Error(
      `${members} members at ${Math.max(...sizesGb)} GB need about ${needGb.toFixed(0)} GB ` +
        `of disk under ${tmpdir()}; ${freeGb.toFixed(0)} GB are free`,
    );
  }
  progress(`starting ${members} ${target} members...`, true);
  // Room past the largest size (etcd and Chainfire both default to a 2 GiB quota).
  const quota = Math.ceil((Math.max(...sizesGb) * 2 + 2) * GB);
  cluster = await Cluster.start({
    kind: target,
    size: members,
    extraArgs: [`--quota-backend-bytes=${quota}`, `--snapshot-count=${snapshotCount}`],
  });
  interface Measured {
    dataDirGb: number;
    result: LoadResult;
  }
  const results: (Measured & {
    targetGb: number;
    /** Measured again once RocksDB caught up (Chainfire, --settle-max > 0). */
    settled?: Measured & { waitedSec: number | undefined };
  })[] = [];
  try {
    const leader = await cluster.waitForLeader(30_000);
    const leaderMember = cluster.member(leader);
    const keys = new KeySequence(8);
    const next = { n: 0 };
    for (const gb of sizesGb) {
      await fill(leaderMember.clientUrl, leaderMember.config.dataDir, gb * GB, next);
      const now = await cluster.waitForLeader(60_000);
      if (now !== leader) throw new Error("the leader changed while filling; results would mix");
      const measure = async (label: string): Promise<Measured> => {
        const result = await runLoad(
          workload,
          { all: cluster!.endpoints, leader: leaderMember.clientUrl },
          keys,
          {
            durationSec,
            warmupSec,
            keySize: 8,
            valueSize: 256,
            onProgress: (p) =>
              progress(
                `[${gb} GB${label} ${workload.name}] ${p.phase} ${p.elapsedSec.toFixed(0)}s ${p.opsPerSec} ops/s`,
              ),
          },
        );
        progress(
          `[${gb} GB${label}] ${Math.round(result.opsPerSec)} ops/s, p50 ${result.latencyMs.p50} ` +
            `p99 ${result.latencyMs.p99} ms${result.errors ? `, ${result.errors} errors` : ""}`,
          true,
        );
        return { dataDirGb: dirBytes(leaderMember.config.dataDir) / GB, result };
      };
      const first = await measure("");
      let settled: (Measured & { waitedSec: number | undefined }) | undefined;
      if (target === "chainfire" && settleMaxSec > 0) {
        const waitedSec = await settle(cluster);
        settled = { ...(await measure(", settled")), waitedSec };
      }
      results.push({ targetGb: gb, ...first, ...(settled ? { settled } : {}) });
    }
  } finally {
    await cluster.close();
    cluster = undefined;
  }
  const table = (title: string, rows: Measured[]) => {
    const base = rows[0]?.result.latencyMs.p99 ?? Number.NaN;
    return [
      "",
      title,
      "data dir GB     ops/s   p50 ms   p90 ms   p99 ms   p99 / first",
      ...rows.map((r) =>
        [
          r.dataDirGb.toFixed(2).padStart(11),
          String(Math.round(r.result.opsPerSec)).padStart(9),
          r.result.latencyMs.p50.toFixed(1).padStart(8),
          r.result.latencyMs.p90.toFixed(1).padStart(8),
          r.result.latencyMs.p99.toFixed(1).padStart(8),
          (r.result.latencyMs.p99 / base).toFixed(2).padStart(13),
        ].join(" "),
      ),
    ];
  };
  const lines = table(
    `${target}, ${members} members, ${workload.description}, ${durationSec} s per size, right after each fill`,
    results,
  );
  const settledRows = results.flatMap((r) => (r.settled ? [r.settled] : []));
  if (settledRows.length > 0) {
    lines.push(
      ...table("the same, once RocksDB had caught up (no flush, compaction or stall)", settledRows),
      `  waited: ${settledRows.map((r) => (r.waitedSec === undefined ? `> ${settleMaxSec}` : r.waitedSec.toFixed(0))).join(", ")} s`,
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  mkdirSync(values.out, { recursive: true });
  const file = join(values.out, `bench-large-${startedAt.replace(/[:.]/g, "-")}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ startedAt, target, members, sizesGb, fillValueSize, snapshotCount, workload, durationSec, warmupSec, settleMaxSec, results }, null, 2)}\n`,
  );
  process.stdout.write(`\nwrote ${file}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `bench:large failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
