/**
 * `npm run jepsen` — fault-injection runs with linearizability checking, against real
 * etcd or Chainfire members started by the test harness.
 *
 *   npm run jepsen -- --time 300 --nemesis all --workload register
 *   npm run jepsen -- --target chainfire --nemesis kill-leader,pause-leader --seed 7
 *   npm run jepsen -- --check results/jepsen-…      # re-check a saved history
 *
 * Exit code 0 when every check passed, 1 when one failed, 2 when one was inconclusive.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { kindAvailable, type MemberKind } from "../harness/index.js";
import { checkLinearizable } from "./checker/linearizable.js";
import { checkRevisions } from "./checker/revisions.js";
import type { Op } from "./history.js";
import { nemesisNames } from "./nemesis/nemeses.js";
import { formatReport } from "./report/report.js";
import { DEFAULT_OPTIONS, type RunOptions, runJepsen } from "./run.js";

const d = DEFAULT_OPTIONS;
const HELP = `usage: npm run jepsen -- [options]

  --target etcd|chainfire|both  what to run against (default: CHAINFIRE_COMPAT_TARGETS, else etcd)
  --time SEC            seconds of workload under faults (default ${d.timeSec})
  --nemesis LIST        comma-separated: ${nemesisNames()}
                        (default ${d.nemesis}; partitions and loss need root: network namespaces)
  --workload NAME       register (default, with watchers and leases), k8s (kube-apiserver's
                        pattern: OCC creates/updates, paged lists, informers, leases,
                        compaction), bank (multi-key transfers)
  --seed N              seeds clients and nemesis (default: random, printed)
  --size N              members: 1, 3, 5 (default ${d.size})
  --clients N           concurrent clients (default ${d.clients})
  --keys N              registers (default ${d.keys})
  --rate N              target ops/s over all clients (default ${d.rate})
  --lease-ttl SEC       TTL of the lease workload's kept and unkept leases (default ${d.leaseTtlSec}; 0: none)
  --watchers N          watchers of the keys, resuming after failures (default ${d.watchers}; 0: none)
  --op-timeout MS       per-request deadline; a write past it is of unknown outcome (default ${d.opTimeoutMs})
  --election MS         --election-timeout of members; heartbeat is a tenth (default ${d.electionMs})
  --network MODE        auto | netns | loopback (default auto)
  --no-crash-restart    skip the final kill -9 of every member
  --serializable-reads  the workload reads serializably: a negative control that must FAIL
  --check-timeout MS    linearizability search budget per key (default ${d.checkTimeoutMs})
  --out DIR             results folder (default results/)
  --check DIR           only re-check DIR/history.jsonl
`;

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      target: { type: "string" },
      time: { type: "string" },
      nemesis: { type: "string" },
      workload: { type: "string" },
      seed: { type: "string" },
      size: { type: "string" },
      clients: { type: "string" },
      keys: { type: "string" },
      rate: { type: "string" },
      watchers: { type: "string" },
      "lease-ttl": { type: "string" },
      "op-timeout": { type: "string" },
      election: { type: "string" },
      network: { type: "string" },
      "no-crash-restart": { type: "boolean" },
      "serializable-reads": { type: "boolean" },
      "check-timeout": { type: "string" },
      out: { type: "string" },
      check: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const num = (v: string | undefined, fallback: number) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`not a number: ${v}`);
    return n;
  };
  if (values.check) return recheck(values.check, num(values["check-timeout"], d.checkTimeoutMs));
  const workload = values.workload ?? "register";
  if (workload !== "register" && workload !== "k8s" && workload !== "bank") {
    throw new Error(`unknown workload ${workload} (register, k8s, bank)`);
  }
  const network = values.network ?? "auto";
  if (network !== "auto" && network !== "netns" && network !== "loopback") {
    throw new Error(`--network: auto, netns or loopback, not ${network}`);
  }
  const seed =
    values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : num(values.seed, 1);
  const election = num(values.election, d.electionMs);
  let worst = 0;
  for (const kind of targets(values.target)) {
    const options: RunOptions = {
      ...d,
      kind,
      timeSec: num(values.time, d.timeSec),
      nemesis: values.nemesis ?? d.nemesis,
      workload,
      seed,
      size: num(values.size, d.size),
      clients: num(values.clients, d.clients),
      keys: num(values.keys, d.keys),
      rate: num(values.rate, d.rate),
      watchers: num(values.watchers, d.watchers),
      leaseTtlSec: num(values["lease-ttl"], d.leaseTtlSec),
      opTimeoutMs: num(values["op-timeout"], d.opTimeoutMs),
      electionMs: election,
      heartbeatMs: Math.max(10, Math.round(election / 10)),
      network,
      crashRestart: !values["no-crash-restart"],
      serializableReads: values["serializable-reads"] ?? false,
      checkTimeoutMs: num(values["check-timeout"], d.checkTimeoutMs),
      out: values.out ?? d.out,
      log: (line) => process.stderr.write(`${line}\n`),
    };
    process.stderr.write(`seed ${seed} (replay with --seed ${seed})\n`);
    const report = await runJepsen(options);
    process.stdout.write(`\n== ${kind} ==\n${formatReport(report)}\n`);
    worst = Math.max(worst, report.verdict === "pass" ? 0 : report.verdict === "fail" ? 1 : 2);
  }
  return worst === 0 ? 0 : worst === 1 ? 1 : 2;
}

function targets(flag: string | undefined): MemberKind[] {
  const value = (flag ?? process.env.CHAINFIRE_COMPAT_TARGETS ?? "etcd").trim();
  const kinds: MemberKind[] =
    value === "both" ? ["etcd", "chainfire"] : (value.split(",") as MemberKind[]);
  for (const kind of kinds) {
    if (kind !== "etcd" && kind !== "chainfire") throw new Error(`unknown target ${kind}`);
    if (!kindAvailable(kind)) throw new Error(`${kind} is not built: run npx tsc -b`);
  }
  return kinds;
}

function recheck(dir: string, timeoutMs: number): number {
  const ops = readFileSync(join(dir, "history.jsonl"), "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Op);
  const linear = checkLinearizable(ops, { timeoutMs });
  for (const k of linear.keys) {
    process.stdout.write(`${k.key}: ${k.verdict} (${k.checked} checked, ${k.ms} ms)\n`);
    if (k.explanation) process.stdout.write(`${k.explanation}\n`);
  }
  const revisions = checkRevisions(ops);
  for (const v of revisions) process.stdout.write(`revisions: ${v.rule}: ${v.message}\n`);
  process.stdout.write(`linearizable: ${linear.valid}; revision violations: ${revisions.length}\n`);
  if (linear.valid === false || revisions.length > 0) return 1;
  return linear.valid === true ? 0 : 2;
}

// The harness's timers are unref()ed; while every member is down nothing else would keep
// the event loop alive, and Node would exit in the middle of a run.
const keepAlive = setInterval(() => {}, 1000);
main(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(
        `jepsen: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exitCode = 1;
    },
  )
  .finally(() => clearInterval(keepAlive));
