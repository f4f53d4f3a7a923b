/**
 * `npm run bench:memory` — loads N keys (default 1,000,000 of 64 bytes with 256-byte
 * values) into a three-member cluster started by the test harness, then reports each
 * member's settled resident memory, kills and restarts every member in turn and reports
 * the time from process start to serving (first successful linearizable read on that
 * member) and its RSS right after and a while after.
 *
 *   npm run bench:memory
 *   npm run bench:memory -- --keys 200000 --target etcd
 *   npm run bench:memory -- --no-malloc-tuning      # without MALLOC_ARENA_MAX & co.
 *
 * A benchmark, not a test: it prints numbers and asserts nothing.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { etcdserverpb } from "@chainfire/api";
import {
  CHAINFIRE_MALLOC_ENV,
  Cluster,
  EtcdGrpcClient,
  type MemberKind,
  pollUntil,
  REPO_ROOT,
} from "../../harness/index.js";
import { delay } from "../../harness/wait.js";
import { progress, retrying } from "../common/progress.js";

const HELP = `usage: npm run bench:memory -- [options]

  --target chainfire|etcd   what to start (default chainfire)
  --keys N                  keys to load (default 1000000)
  --key-size B              default 64
  --value-size B            default 256
  --batch N                 puts per Txn while loading (default 100)
  --inflight N              Txns in flight while loading (default 16)
  --settle SEC              longest wait for RSS to settle (default 120)
  --steady SEC              RSS counts as settled once steady within 2% this long
                            (default 15; V8 gives back heap pages some 10 s after
                            a member goes idle)
  --no-malloc-tuning        start Chainfire without ${Object.keys(CHAINFIRE_MALLOC_ENV).join(", ")}
  --out DIR                 where the JSON goes (default results/)
`;

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    target: { type: "string", default: "chainfire" },
    keys: { type: "string", default: "1000000" },
    "key-size": { type: "string", default: "64" },
    "value-size": { type: "string", default: "256" },
    batch: { type: "string", default: "100" },
    inflight: { type: "string", default: "16" },
    settle: { type: "string", default: "120" },
    steady: { type: "string", default: "15" },
    "no-malloc-tuning": { type: "boolean", default: false },
    out: { type: "string", default: join(REPO_ROOT, "results") },
    help: { type: "boolean", short: "h" },
  },
  strict: true,
});
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const int = (name: string, v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
  return n;
};
const target = values.target as MemberKind;
if (target !== "chainfire" && target !== "etcd") throw new Error("--target: chainfire or etcd");
const options = {
  target,
  keys: int("keys", values.keys),
  keySize: int("key-size", values["key-size"]),
  valueSize: int("value-size", values["value-size"]),
  batch: int("batch", values.batch),
  inflight: int("inflight", values.inflight),
  settleSec: int("settle", values.settle),
  steadySec: int("steady", values.steady),
  mallocTuning: !values["no-malloc-tuning"],
};

const MB = 2 ** 20;

/** Key i: its decimal index, zero-padded to the key size. */
function keyOf(i: number): Buffer {
  return Buffer.from(String(i).padStart(options.keySize, "0").slice(-options.keySize));
}

async function load(cluster: Cluster, leader: number): Promise<number> {
  const conns = Array.from(
    { length: 4 },
    () => new EtcdGrpcClient(cluster.member(leader).clientUrl, { ownConnection: true }),
  );
  const value = Buffer.alloc(options.valueSize, 0x61);
  let next = 0;
  let done = 0;
  const started = performance.now();
  let lastPrint = 0;
  const worker = async (w: number) => {
    while (next < options.keys) {
      const from = next;
      const to = Math.min(options.keys, from + options.batch);
      next = to;
      const success: etcdserverpb.RequestOp[] = [];
      for (let i = from; i < to; i++) {
        success.push(
          etcdserverpb.RequestOp.fromPartial({
            request: { $case: "requestPut", value: { key: keyOf(i), value } },
          }),
        );
      }
      await retrying(() =>
        conns[w % conns.length].txn(
          etcdserverpb.TxnRequest.fromPartial({ compare: [], success, failure: [] }),
          60_000,
        ),
      );
      done += to - from;
      const now = performance.now();
      if (now - lastPrint > 1000 || done === options.keys) {
        lastPrint = now;
        const rate = done / ((now - started) / 1000);
        progress(
          `loading ${done.toLocaleString("en-US")}/${options.keys.toLocaleString("en-US")} keys ` +
            `(${Math.round(rate).toLocaleString("en-US")} keys/s, RSS MB ${rssMb(cluster)})`,
          done === options.keys,
        );
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.inflight }, (_, w) => worker(w)));
  } finally {
    for (const c of conns) c.close();
  }
  return (performance.now() - started) / 1000;
}

function rssMb(cluster: Cluster): string {
  return cluster
    .rss()
    .map((b) => (b === undefined ? "-" : Math.round(b / MB)))
    .join("/");
}

/**
 * Samples RSS every second until no member moves by more than 2% over `--steady` seconds
 * (or the cap).
 */
async function settledRss(cluster: Cluster, indexes: number[]): Promise<number[]> {
  const history: number[][] = [];
  const deadline = performance.now() + options.settleSec * 1000;
  for (;;) {
    const sample = indexes.map((i) => cluster.member(i).rssBytes() ?? 0);
    history.push(sample);
    progress(`settling: RSS MB ${sample.map((b) => Math.round(b / MB)).join("/")}`);
    const window = history.slice(-(options.steadySec + 1));
    const steady =
      window.length === options.steadySec + 1 &&
      indexes.every((_, j) => {
        const col = window.map((s) => s[j]);
        return Math.max(...col) - Math.min(...col) <= 0.02 * Math.max(...col);
      });
    if (steady || performance.now() > deadline) {
      progress(`settled: RSS MB ${sample.map((b) => Math.round(b / MB)).join("/")}`, true);
      return sample.map((b) => b / MB);
    }
    await delay(1000);
  }
}

/** V8 heap and external (Buffer) memory of member i from its /metrics, MB. */
async function heapMb(cluster: Cluster, i: number): Promise<{ heap: number; external: number }> {
  const text = await fetch(`${cluster.member(i).metricsUrl}/metrics`)
    .then((r) => r.text())
    .catch(() => "");
  const metric = (name: string) => {
    const m = new RegExp(`^${name} ([0-9.e+]+)`, "m").exec(text);
    return m ? Number(m[1]) / MB : Number.NaN;
  };
  return {
    heap: metric("nodejs_heap_size_total_bytes"),
    external: metric("nodejs_external_memory_bytes"),
  };
}

interface RestartResult {
  member: string;
  /** Milliseconds from spawning the process to its first successful linearizable read. */
  startToServingMs: number;
  rssAtServingMb: number;
  rssSettledMb: number;
}

async function restartMember(cluster: Cluster, i: number, probeKey: Buffer) {
  await cluster.kill(i, "SIGKILL");
  const spawned = performance.now();
  await cluster.restart(i, { waitReady: false });
  const member = cluster.member(i);
  const client = new EtcdGrpcClient(member.clientUrl, {
    ownConnection: true,
    channelOptions: {
      "grpc.initial_reconnect_backoff_ms": 10,
      "grpc.min_reconnect_backoff_ms": 10,
      "grpc.max_reconnect_backoff_ms": 50,
    },
  });
  try {
    await pollUntil(
      async () => {
        if (member.state === "exited") throw new Error(`${member.name} exited while starting`);
        try {
          const r = await client.range({ key: probeKey }, 500);
          return r.count === 1n ? true : undefined;
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 120_000, intervalMs: 10, what: `${member.name} serving a linearizable read` },
    );
  } finally {
    client.close();
  }
  const startToServingMs = performance.now() - spawned;
  const rssAtServingMb = (member.rssBytes() ?? 0) / MB;
  const [rssSettledMb] = await settledRss(cluster, [i]);
  return {
    member: member.name,
    startToServingMs,
    rssAtServingMb,
    rssSettledMb,
  } satisfies RestartResult;
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
  progress(`starting 3 ${target} members...`, true);
  const env =
    options.mallocTuning || target !== "chainfire"
      ? undefined
      : Object.fromEntries(Object.keys(CHAINFIRE_MALLOC_ENV).map((k) => [k, undefined]));
  cluster = await Cluster.start({ kind: target, size: 3, env });
  try {
    const idleRssMb = cluster.rss().map((b) => (b ?? 0) / MB);
    const leader = await cluster.waitForLeader(30_000);
    const loadSec = await load(cluster, leader);
    const all = [0, 1, 2];
    const loadedRssMb = cluster.rss().map((b) => (b ?? 0) / MB);
    const settledMb = await settledRss(cluster, all);
    const heaps = await Promise.all(all.map((i) => heapMb(cluster as Cluster, i)));
    const restarts: RestartResult[] = [];
    // Followers first, the leader last (its restart includes an election).
    const order = [...all.filter((i) => i !== leader), leader];
    for (const i of order) {
      progress(`restarting ${cluster.member(i).name}...`, true);
      const r = await restartMember(cluster, i, keyOf(options.keys - 1));
      restarts.push(r);
      progress(
        `${r.member}: serving ${Math.round(r.startToServingMs)} ms after start, RSS ` +
          `${Math.round(r.rssAtServingMb)} MB then, ${Math.round(r.rssSettledMb)} MB settled`,
        true,
      );
      await cluster.waitForLeader(60_000);
    }
    const report = {
      startedAt,
      options,
      leader: cluster.member(leader).name,
      loadSec,
      idleRssMb,
      loadedRssMb,
      settledMb,
      settledHeapMb: heaps,
      restarts,
    };
    const r0 = (n: number) => String(Math.round(n));
    const names = cluster.names;
    const lines = [
      "",
      `${target}, ${options.keys.toLocaleString("en-US")} keys of ${options.keySize} B, values ` +
        `${options.valueSize} B, malloc tuning ${target === "chainfire" && !options.mallocTuning ? "off" : "on"}; ` +
        `loaded in ${loadSec.toFixed(0)} s (leader ${names[leader]})`,
      "member  idle MB  after load MB  settled MB  start->serving ms  RSS at serving MB  RSS settled after restart MB",
      ...all.map((i) => {
        const r = restarts.find((x) => x.member === names[i]);
        return [
          names[i].padEnd(6),
          r0(idleRssMb[i]).padStart(7),
          r0(loadedRssMb[i]).padStart(13),
          r0(settledMb[i]).padStart(10),
          (r ? r0(r.startToServingMs) : "-").padStart(17),
          (r ? r0(r.rssAtServingMb) : "-").padStart(17),
          (r ? r0(r.rssSettledMb) : "-").padStart(28),
        ].join("  ");
      }),
    ];
    lines.push(
      `V8 heap / external MB after load: ${heaps.map((h) => `${r0(h.heap)}/${r0(h.external)}`).join("  ")}`,
    );
    process.stdout.write(`${lines.join("\n")}\n`);
    mkdirSync(values.out, { recursive: true });
    const file = join(values.out, `bench-memory-${startedAt.replace(/[:.]/g, "-")}.json`);
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`\nwrote ${file}\n`);
  } finally {
    await cluster.close();
    cluster = undefined;
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `bench:memory failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
