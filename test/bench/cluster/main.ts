/**
 * `npm run bench:cluster` — an etcd v3 load generator over grpc-js that drives real
 * etcd and/or Chainfire clusters started by the test harness, or any endpoints.
 *
 *   npm run bench:cluster                              # etcd, three members on loopback
 *   npm run bench:cluster -- --vs-etcd                 # etcd, then chainfire; ratio table
 *   npm run bench:cluster -- --vs-etcd --rounds 3      # alternating, 3 times; medians
 *   npm run bench:cluster -- --target chainfire --workloads put-100,range-l-100
 *   npm run bench:cluster -- --endpoints http://127.0.0.1:2379 --duration 5
 *
 * A benchmark, not a test: it prints numbers and asserts nothing. The Node load generator
 * costs several times the CPU per request of etcd's Go tool and shares the machine's
 * cores with the members, so compare systems only within one run of this tool.
 */
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  CHAINFIRE_MAIN,
  Cluster,
  EtcdGrpcClient,
  kindAvailable,
  type MemberKind,
  REPO_ROOT,
} from "../../harness/index.js";
import { KeySequence, type LoadOptions, prepareRange, runLoad } from "./load.js";
import { type BenchReport, formatReport, medianRun, saveReport, type TargetRun } from "./report.js";
import { selectWorkloads, WORKLOADS, type Workload } from "./workloads.js";

const HELP = `usage: npm run bench:cluster -- [options]

  --target etcd|chainfire|both   clusters to start with the harness (default etcd)
  --vs-etcd                      same as --target both, plus the chainfire/etcd ratio table
  --endpoints URL,URL,...        drive an existing cluster instead (writes 8-byte keys from 0:
                                 use a scratch cluster)
  --workloads a,b,...            default: all of ${WORKLOADS.map((w) => w.name).join(", ")}
  --duration SEC                 measured seconds per workload (default 10)
  --total N                      measured requests per workload, instead of --duration
  --warmup SEC                   unmeasured seconds before each workload (default 2)
  --cluster-warmup SEC           unmeasured put-100 load on each started cluster before its
                                 first workload (default 10; 0 = none): a fresh Node member
                                 runs its first few thousand requests before V8 has compiled
                                 the hot paths, and a put-1 run alone never gets there in 2 s
  --rounds N                     run every target N times, alternating (etcd, chainfire,
                                 etcd, ...; a fresh cluster each time), and report for each
                                 workload the round with the median ops/s (default 1): the
                                 host's noise drifts over minutes, and one sequential pass
                                 can favour whichever system ran in the quieter part
  --size N                       members per started cluster (default 3)
  --key-size B / --value-size B  default 8 / 256
  --out DIR                      where JSON and HTML go (default results/)
  --cpu-prof DIR                 start Chainfire members with node --cpu-prof; each writes a
                                 .cpuprofile to DIR when stopped (SIGTERM) after the run;
                                 summarize with test/bench/cluster/profile-summary.ts
  --node-args "FLAGS"            extra node flags for Chainfire members, space-separated
                                 (A/B of V8 settings, e.g. "--max-semi-space-size=64")
`;

interface Options {
  targets: string[];
  endpoints?: string[];
  workloads: Workload[];
  load: Omit<LoadOptions, "onProgress">;
  size: number;
  out: string;
  cpuProfDir?: string;
  /** Extra node flags for Chainfire members (--node-args). */
  nodeArgs: string[];
  clusterWarmupSec: number;
  rounds: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      target: { type: "string" },
      "vs-etcd": { type: "boolean" },
      endpoints: { type: "string" },
      workloads: { type: "string" },
      duration: { type: "string" },
      total: { type: "string" },
      warmup: { type: "string" },
      "cluster-warmup": { type: "string" },
      rounds: { type: "string" },
      size: { type: "string" },
      "key-size": { type: "string" },
      "value-size": { type: "string" },
      out: { type: "string" },
      "cpu-prof": { type: "string" },
      "node-args": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const num = (v: string | undefined, fallback: number) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`not a number: ${v}`);
    return n;
  };
  let targets: string[];
  if (values.endpoints) targets = ["external"];
  else if (values["vs-etcd"] || values.target === "both") targets = ["etcd", "chainfire"];
  else if (values.target === "etcd" || values.target === "chainfire") targets = [values.target];
  else if (values.target === undefined) targets = ["etcd"];
  else throw new Error(`--target must be etcd, chainfire or both, not ${values.target}`);
  for (const target of targets) {
    if (target === "chainfire" && !kindAvailable("chainfire")) {
      throw new Error(`--target chainfire needs ${CHAINFIRE_MAIN}: run npx tsc -b first`);
    }
  }
  return {
    targets,
    endpoints: values.endpoints?.split(",").map((e) => e.trim()),
    workloads: selectWorkloads(values.workloads),
    load: {
      durationSec: num(values.duration, 10),
      total: values.total === undefined ? undefined : num(values.total, 0),
      warmupSec: num(values.warmup, 2),
      keySize: num(values["key-size"], 8),
      valueSize: num(values["value-size"], 256),
    },
    size: num(values.size, 3),
    out: values.out ?? join(REPO_ROOT, "results"),
    cpuProfDir: values["cpu-prof"] === undefined ? undefined : resolve(values["cpu-prof"]),
    nodeArgs: (values["node-args"] ?? "").split(" ").filter((a) => a !== ""),
    clusterWarmupSec: num(values["cluster-warmup"], 10),
    rounds: Math.max(1, Math.floor(num(values.rounds, 1))),
  };
}

/** Index of the endpoint whose member is the leader (Maintenance.Status on each). */
async function findLeader(endpoints: string[]): Promise<{ leader: string; version: string }> {
  const clients = endpoints.map((e) => new EtcdGrpcClient(e, { timeoutMs: 2000 }));
  try {
    const statuses = await Promise.all(clients.map((c) => c.status().catch(() => undefined)));
    const index = statuses.findIndex(
      (s) => s && s.leader !== 0n && s.leader === s.header?.memberId,
    );
    if (index < 0) throw new Error(`no member of ${endpoints.join(", ")} reports itself leader`);
    return { leader: endpoints[index], version: statuses[index]?.version ?? "" };
  } finally {
    for (const c of clients) c.close();
  }
}

const progressIsTty = process.stderr.isTTY;
function progress(line: string, final = false): void {
  if (progressIsTty) process.stderr.write(`\r\x1b[2K${line}${final ? "\n" : ""}`);
  else process.stderr.write(`${line}\n`);
}

let current: Cluster | undefined;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping the cluster\n`);
    void (current?.close() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

async function benchTarget(target: string, options: Options): Promise<TargetRun> {
  let endpoints = options.endpoints ?? [];
  if (target !== "external") {
    progress(`[${target}] starting ${options.size} members...`, true);
    const profile = target === "chainfire" && options.cpuProfDir !== undefined;
    current = await Cluster.start({
      kind: target as MemberKind,
      size: options.size,
      nodeArgs: [
        ...options.nodeArgs,
        ...(profile ? ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfDir}`] : []),
      ],
    });
    endpoints = current.endpoints;
  }
  const cluster = current;
  const run: TargetRun = {
    target,
    endpoints,
    members: cluster?.names ?? endpoints,
    runs: [],
  };
  try {
    const keys = new KeySequence(options.load.keySize);
    if (cluster && options.clusterWarmupSec > 0)
      await warmCluster(target, endpoints, keys, options);
    let rangePrepared = false;
    for (const workload of options.workloads) {
      const { leader, version } = await findLeader(endpoints);
      run.version = version;
      if (workload.operation !== "put" && !rangePrepared) {
        await prepareRange(leader, options.load.valueSize);
        rangePrepared = true;
      }
      const cpuBefore = cluster?.members.map((m) => m.cpuSeconds());
      let lastLine = "";
      const result = await runLoad(workload, { all: endpoints, leader }, keys, {
        ...options.load,
        onProgress: (p) => {
          lastLine =
            `[${target} ${workload.name}] ${p.phase} ${p.elapsedSec.toFixed(0)}s ` +
            `${p.opsPerSec.toLocaleString("en-US")} ops/s` +
            (p.errors ? `, ${p.errors} errors` : "");
          if (progressIsTty || Math.round(p.elapsedSec) % 5 === 0) progress(lastLine);
        },
      });
      const cpuAfter = cluster?.members.map((m) => m.cpuSeconds());
      run.runs.push({
        ...result,
        description: workload.description,
        clients: workload.clients,
        connections: workload.connections,
        placement: workload.placement,
        memberCpuSec: cpuAfter?.map((after, i) => {
          const before = cpuBefore?.[i];
          return after === undefined || before === undefined ? undefined : after - before;
        }),
        rssAfterMb: cluster?.rss().map((b) => (b === undefined ? undefined : b / 2 ** 20)),
      });
      progress(
        `[${target} ${workload.name}] ${Math.round(result.opsPerSec).toLocaleString("en-US")} ops/s, ` +
          `p99 ${result.latencyMs.p99} ms${result.errors ? `, ${result.errors} errors` : ""}`,
        true,
      );
    }
    run.rssAfterMb = cluster?.rss().map((b) => (b === undefined ? undefined : b / 2 ** 20));
  } finally {
    // A profile is written only at a clean exit.
    if (cluster && target === "chainfire" && options.cpuProfDir !== undefined) {
      for (let i = 0; i < cluster.members.length; i++) {
        await cluster.kill(i, "SIGTERM").catch(() => undefined);
      }
      progress(`[${target}] CPU profiles in ${options.cpuProfDir}`, true);
    }
    await cluster?.close();
    current = undefined;
  }
  return run;
}

/**
 * Unmeasured put-100 load on a freshly started cluster, the same for every target. V8
 * compiles a function only after it has run often enough, so a Node member's first few
 * thousand requests are slower (in one run of 6,000 sequential puts, each thousand took
 * 9.1, 4.0, 3.2, 2.4 and 2.3 s); etcd's Go code needs no such start. Steady state is what
 * the comparison is about (shared/notes/performance.md takes later runs, too).
 */
async function warmCluster(
  target: string,
  endpoints: string[],
  keys: KeySequence,
  options: Options,
): Promise<void> {
  const { leader } = await findLeader(endpoints);
  const warm = selectWorkloads("put-100")[0];
  const result = await runLoad(warm, { all: endpoints, leader }, keys, {
    ...options.load,
    total: undefined,
    warmupSec: 0,
    durationSec: options.clusterWarmupSec,
    onProgress: (p) => {
      if (progressIsTty || Math.round(p.elapsedSec) % 5 === 0) {
        progress(
          `[${target}] warming up the cluster (put-100) ${p.elapsedSec.toFixed(0)}s ` +
            `${p.opsPerSec.toLocaleString("en-US")} ops/s`,
        );
      }
    },
  });
  progress(`[${target}] warmed up: ${result.ops.toLocaleString("en-US")} puts`, true);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const report: BenchReport = {
    startedAt: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      node: process.version,
      loadGenerator: "test/bench/cluster (Node, @grpc/grpc-js, one process)",
    },
    options: {
      targets: options.targets,
      endpoints: options.endpoints,
      workloads: options.workloads.map((w) => w.name),
      ...options.load,
      size: options.size,
      clusterWarmupSec: options.clusterWarmupSec,
      rounds: options.rounds,
    },
    targets: [],
  };
  const rounds = new Map<string, TargetRun[]>(options.targets.map((t) => [t, []]));
  for (let round = 1; round <= options.rounds; round++) {
    for (const target of options.targets) {
      if (options.rounds > 1) progress(`round ${round}/${options.rounds}: ${target}`, true);
      rounds.get(target)!.push(await benchTarget(target, options));
    }
  }
  for (const target of options.targets) report.targets.push(medianRun(rounds.get(target)!));
  process.stdout.write(formatReport(report));
  const files = saveReport(report, options.out);
  process.stdout.write(`\nwrote ${files.json}\nwrote ${files.html}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `bench:cluster failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  },
);
