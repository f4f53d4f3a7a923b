/**
 * `--workload k8s` and `--workload bank` of `npm run jepsen`: the same shape of run as
 * the register workload (run.ts) — cluster (in network namespaces when a chosen nemesis
 * needs them), workload under the nemesis schedule, heal, liveness, kill -9 of every
 * member and restart, HashKV — with the workload's own checks. Delay proxies and fake
 * clocks are not set up here: those nemeses are skipped with the reason.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Cluster } from "../harness/index.js";
import { NetnsNetwork, netnsSupport } from "../harness/netns.js";
import { delay } from "../harness/wait.js";
import { Connections } from "./connections.js";
import { closeRun, hashKvCheck, liveness, runFailed, waitAllHealthy } from "./final-checks.js";
import { SNAPSHOT_TUNING } from "./nemesis/failpoint-nemeses.js";
import { type NemesisContext, selectNemeses } from "./nemesis/nemeses.js";
import { healAll, runSchedule } from "./nemesis/schedule.js";
import { rng } from "./random.js";
import { Recorder } from "./recorder.js";
import { type CheckResult, type RunReport, summarize, writeReport } from "./report/report.js";
import type { RunOptions } from "./run.js";
import { bankPhase } from "./run-bank.js";
import { k8sPhase } from "./run-k8s.js";

/** What a workload gets: a healthy cluster and a nemesis context; it returns its checks. */
export interface PhaseInput {
  options: RunOptions;
  cluster: Cluster;
  conns: Connections;
  recorder: Recorder;
  /** Runs the nemesis schedule for the run's time, heals, checks liveness (pushed). */
  faults: () => Promise<void>;
  /** kill -9 of every member, restart, wait until healthy. */
  crashRestart: () => Promise<void>;
  checks: CheckResult[];
  /** Written as `<name>.json` beside the report (the workload's own log). */
  artifacts: Record<string, unknown>;
}

export async function runWorkload(options: RunOptions): Promise<RunReport> {
  const log = options.log;
  const recorder = new Recorder();
  const support = netnsSupport();
  const can = {
    network: true,
    proxy: false,
    clock: false,
    chainfire: options.kind === "chainfire",
  };
  const probe = selectNemeses(options.nemesis, options.size, can);
  const useNet =
    options.network === "netns" ||
    (options.network === "auto" && probe.nemeses.some((n) => n.network) && support.ok);
  const { nemeses, skipped } = selectNemeses(options.nemesis, options.size, {
    ...can,
    network: useNet,
  });
  for (const s of skipped) {
    log(`nemesis skipped: ${s}`);
    recorder.event(`nemesis skipped: ${s}`);
  }
  log(
    `jepsen: ${options.kind} x${options.size}, workload ${options.workload}, nemeses [${nemeses.map((n) => n.name).join(", ")}], ${options.timeSec} s, seed ${options.seed}, network ${useNet ? "netns" : "loopback"}`,
  );
  let net: NetnsNetwork | undefined;
  let cluster: Cluster | undefined;
  let conns: Connections | undefined;
  const checks: CheckResult[] = [];
  const artifacts: Record<string, unknown> = {};
  const startedAt = new Date();
  try {
    if (useNet) net = await NetnsNetwork.create(options.size);
    const network = net;
    const c = (cluster = await Cluster.start({
      kind: options.kind,
      size: options.size,
      heartbeatMs: options.heartbeatMs,
      electionMs: options.electionMs,
      placement: network ? (i) => network.placement(i) : undefined,
      ...(nemeses.some((n) => n.snapshots)
        ? {
            snapshotCount: SNAPSHOT_TUNING.snapshotCount,
            env: {
              CHAINFIRE_TEST_SNAPSHOT_CATCHUP_ENTRIES: String(SNAPSHOT_TUNING.catchUpEntries),
            },
          }
        : {}),
    }));
    const cs = (conns = new Connections((i) => c.member(i).clientUrl));
    await c.waitForLeader(30_000);
    const ctx: NemesisContext = {
      cluster: c,
      net,
      proxies: undefined,
      clocks: undefined,
      random: rng(options.seed + 1),
      recorder,
      electionMs: options.electionMs,
    };
    const everyone = Array.from({ length: options.size }, (_, i) => i);
    const phase: PhaseInput = {
      options,
      cluster: c,
      conns: cs,
      recorder,
      checks,
      artifacts,
      faults: async () => {
        const untilMs = recorder.now() + options.timeSec * 1000;
        try {
          await runSchedule(ctx, nemeses, { untilMs, quietMs: [1000, 3000], log });
          const rest = untilMs - recorder.now();
          if (rest > 0) await delay(rest);
        } finally {
          await healAll(ctx);
        }
        const healedAt = recorder.now();
        recorder.event("healed");
        checks.push(await liveness(c, cs, recorder, healedAt, options.opTimeoutMs));
      },
      crashRestart: async () => {
        if (!options.crashRestart) return;
        recorder.event("kill -9 every member, restart");
        const end = recorder.fault("kill-all (final)", "kill -9 every member, then restart");
        await Promise.all(everyone.map((i) => c.kill(i, "SIGKILL")));
        await Promise.all(everyone.map((i) => c.restart(i, { waitReady: false })));
        end();
        await c.waitForLeader(30_000);
        await waitAllHealthy(c);
      },
    };
    if (options.workload === "k8s") await k8sPhase(phase);
    else if (options.workload === "bank") await bankPhase(phase);
    else throw new Error(`unknown workload ${options.workload}`);
    checks.push(await hashKvCheck(c, cs, recorder));
  } catch (error) {
    checks.push(runFailed(error, cluster, log));
  } finally {
    conns?.close();
    await closeRun(cluster, net, log);
  }
  const report = summarize({
    options: { ...options, log: undefined },
    network: useNet ? "netns" : "loopback",
    nemeses: nemeses.map((n) => n.name),
    startedAt,
    recorder,
    checks,
    finalFrom: 0,
  });
  if (options.out) {
    report.dir = writeReport(options.out, report, recorder);
    for (const [name, value] of Object.entries(artifacts)) {
      writeFileSync(join(report.dir, `${name}.json`), `${JSON.stringify(value)}\n`);
    }
    log(`report: ${join(report.dir, "report.html")}`);
  }
  return report;
}
