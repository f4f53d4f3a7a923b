/**
 * One Jepsen-style run: start a cluster (members in network namespaces when the chosen
 * nemeses need them, behind delay proxies or under fake clocks when those are chosen),
 * run the register workload with watchers and the lease workload while the nemesis
 * injects faults, heal, check liveness, write a sentinel every watcher must see, read
 * everything back, kill every member and restart them, read again, replay the watch
 * history on every member, check the leases and HashKV, then check the history and write
 * a report.
 *
 * Every process started and every namespace created is ended in `finally`, also when a
 * step throws; the harness's exit hooks are the safety net behind that.
 */
import { join } from "node:path";
import type { MemberPlacement } from "../harness/cluster.js";
import { Cluster, type MemberKind, REPO_ROOT } from "../harness/index.js";
import { NetnsNetwork, netnsSupport } from "../harness/netns.js";
import { allocatePorts } from "../harness/ports.js";
import { DelayProxy } from "../harness/proxy.js";
import { delay, describeError, pollUntil } from "../harness/wait.js";
import { checkDurability } from "./checker/durability.js";
import { checkLinearizable } from "./checker/linearizable.js";
import { checkRevisions } from "./checker/revisions.js";
import { checkWatch } from "./checker/watch.js";
import { faketimeLibrary, MemberClocks } from "./clock.js";
import { Connections } from "./connections.js";
import {
  closeRun,
  hashKvCheck,
  LIVENESS_BOUND_MS,
  leaseCheck,
  liveness,
  runFailed,
  sentinel,
  waitAllHealthy,
} from "./final-checks.js";
import { SNAPSHOT_TUNING } from "./nemesis/failpoint-nemeses.js";
import type { NemesisContext } from "./nemesis/nemeses.js";
import { selectNemeses } from "./nemesis/nemeses.js";
import { healAll, runSchedule } from "./nemesis/schedule.js";
import { rng } from "./random.js";
import { Recorder } from "./recorder.js";
import { type CheckResult, type RunReport, summarize, writeReport } from "./report/report.js";
import { runWorkload } from "./run-workloads.js";
import { type LeaseLog, runLeases } from "./workloads/leases.js";
import { finalReads, REGISTER_PREFIX, runRegister } from "./workloads/register.js";
import {
  collectHistory,
  lastRevision,
  startWatchers,
  type WatchEvent,
  type WatcherLog,
} from "./workloads/watch.js";

/** Options of {@link runJepsen}. */
export interface RunOptions {
  kind: MemberKind;
  /** Members (1, 3, 5, ...). */
  size: number;
  /** Seconds of workload under faults. */
  timeSec: number;
  /** Nemesis names or groups, comma-separated ("all", "kill", "pause-leader", "none"). */
  nemesis: string;
  /** register (with watchers and leases), k8s or bank (run-workloads.ts). */
  workload: "register" | "k8s" | "bank";
  seed: number;
  clients: number;
  keys: number;
  /** Target operations per second over all clients. */
  rate: number;
  opTimeoutMs: number;
  /** "auto": namespaces when root and a chosen nemesis needs them. */
  network: "auto" | "netns" | "loopback";
  heartbeatMs: number;
  electionMs: number;
  /** Kill every member and restart them before the final reads (default true). */
  crashRestart: boolean;
  /** Search budget per key. */
  checkTimeoutMs: number;
  /** Watchers of the workload's keys: the first from revision 1, the others from now. */
  watchers: number;
  /** TTL of the lease workload's leases (0: no lease workload). */
  leaseTtlSec: number;
  /** The register workload reads serializably (stale reads allowed): must fail. */
  serializableReads?: boolean;
  /** Results root (a run writes a folder under it); undefined writes nothing. */
  out?: string;
  log: (line: string) => void;
}

/** Defaults for everything but kind. */
export const DEFAULT_OPTIONS: Omit<RunOptions, "kind" | "log"> = {
  size: 3,
  timeSec: 60,
  nemesis: "kill,pause",
  workload: "register",
  seed: 1,
  clients: 8,
  keys: 4,
  rate: 150,
  opTimeoutMs: 2000,
  network: "auto",
  heartbeatMs: 50,
  electionMs: 500,
  crashRestart: true,
  checkTimeoutMs: 60_000,
  watchers: 3,
  leaseTtlSec: 4,
  out: join(REPO_ROOT, "results"),
};

/** Runs one test and returns its report (also written under `out` when set). */
export async function runJepsen(options: RunOptions): Promise<RunReport> {
  if (options.workload !== "register") return runWorkload(options);
  const log = options.log;
  // Replaced by a fresh recorder once the cluster is up: its clock starts with the workload.
  let recorder = new Recorder();
  const support = netnsSupport();
  const probe = selectNemeses(options.nemesis, options.size, {
    network: true,
    proxy: true,
    clock: true,
    chainfire: true,
  });
  const wantsNet = probe.nemeses.some((n) => n.network);
  const wantsProxy = probe.nemeses.some((n) => n.proxy);
  const useNet =
    options.network === "netns" || (options.network === "auto" && wantsNet && support.ok);
  if (options.network === "netns" && !support.ok) {
    throw new Error(`--network netns: ${support.reason}`);
  }
  const useProxy = !useNet && wantsProxy;
  const library = faketimeLibrary();
  const useClock =
    probe.nemeses.some((n) => n.clock) && options.kind === "chainfire" && library !== undefined;
  const { nemeses, skipped } = selectNemeses(options.nemesis, options.size, {
    network: useNet,
    proxy: useProxy,
    clock: useClock,
    chainfire: options.kind === "chainfire",
  });
  for (const s of skipped) {
    const why = !support.ok && s.includes("namespaces") ? ` (${support.reason})` : "";
    log(`nemesis skipped: ${s}${why}`);
    recorder.event(`nemesis skipped: ${s}${why}`);
  }
  log(
    `jepsen: ${options.kind} x${options.size}, workload ${options.workload}, nemeses [${nemeses.map((n) => n.name).join(", ")}], ${options.timeSec} s, seed ${options.seed}, network ${useNet ? "netns" : useProxy ? "loopback with peer proxies" : "loopback"}`,
  );

  let net: NetnsNetwork | undefined;
  let proxies: DelayProxy[] | undefined;
  let clocks: MemberClocks | undefined;
  let cluster: Cluster | undefined;
  let connections: Connections | undefined;
  const checks: CheckResult[] = [];
  const startedAt = new Date();
  let finalFrom = 0;
  let afterRestartFrom = -1;
  let watcherLogs: WatcherLog[] = [];
  let histories: WatchEvent[][] | undefined;
  let finalRev = 0;
  const leaseLog: LeaseLog = {
    ttlSec: options.leaseTtlSec,
    keepAlives: [],
    reads: [],
    unkept: [],
    errors: [],
  };
  try {
    if (useNet) net = await NetnsNetwork.create(options.size);
    const network = net;
    let placement: ((i: number) => MemberPlacement) | undefined;
    if (network) {
      placement = (i) => network.placement(i);
    } else if (useProxy || useClock) {
      const ports = await allocatePorts(options.size * 4);
      placement = (i) => ({
        clientPort: ports[i * 4],
        peerPort: ports[i * 4 + 1],
        metricsPort: ports[i * 4 + 2],
        advertisePeerPort: useProxy ? ports[i * 4 + 3] : undefined,
      });
      if (useProxy) {
        const random = rng(options.seed + 2);
        proxies = [];
        for (let i = 0; i < options.size; i++) {
          proxies.push(await DelayProxy.start(ports[i * 4 + 3], ports[i * 4 + 1], random));
        }
      }
    }
    if (useClock) {
      const memberClocks = (clocks = new MemberClocks(options.size, library!));
      const inner = placement!;
      placement = (i) => {
        const p = inner(i);
        return { ...p, commandPrefix: [...(p.commandPrefix ?? []), ...memberClocks.prefix(i)] };
      };
    }
    cluster = await Cluster.start({
      kind: options.kind,
      size: options.size,
      heartbeatMs: options.heartbeatMs,
      electionMs: options.electionMs,
      placement,
      ...(nemeses.some((n) => n.snapshots)
        ? {
            snapshotCount: SNAPSHOT_TUNING.snapshotCount,
            env: {
              CHAINFIRE_TEST_SNAPSHOT_CATCHUP_ENTRIES: String(SNAPSHOT_TUNING.catchUpEntries),
            },
          }
        : {}),
    });
    const c = cluster;
    const conns = (connections = new Connections((i) => c.member(i).clientUrl));
    await c.waitForLeader();
    const early = recorder.events;
    recorder = new Recorder();
    for (const e of early) recorder.event(e.message);
    const ctx: NemesisContext = {
      cluster: c,
      net,
      proxies,
      clocks,
      random: rng(options.seed + 1),
      recorder,
      electionMs: options.electionMs,
    };
    const stopWorkload = new AbortController();
    const workload = runRegister({
      recorder,
      connections: conns,
      members: options.size,
      clients: options.clients,
      keys: options.keys,
      rate: options.rate,
      opTimeoutMs: options.opTimeoutMs,
      seed: options.seed,
      signal: stopWorkload.signal,
      serializable: options.serializableReads,
    });
    const stopWatchers = new AbortController();
    const watch = startWatchers({
      recorder,
      connections: conns,
      members: options.size,
      prefix: REGISTER_PREFIX,
      starts: Array.from({ length: options.watchers }, (_, i) => (i === 0 ? 1 : 0)),
      signal: stopWatchers.signal,
    });
    watcherLogs = watch.logs;
    const leases =
      options.leaseTtlSec > 0
        ? runLeases(
            {
              recorder,
              connections: conns,
              members: options.size,
              ttlSec: options.leaseTtlSec,
              signal: stopWorkload.signal,
            },
            leaseLog,
          )
        : Promise.resolve();
    const untilMs = options.timeSec * 1000;
    try {
      await runSchedule(ctx, nemeses, { untilMs, quietMs: [1000, 3000], log });
      const rest = untilMs - recorder.now();
      if (rest > 0) await delay(rest);
    } finally {
      await healAll(ctx);
    }
    const healedAt = recorder.now();
    recorder.event("healed");
    checks.push(await liveness(c, conns, recorder, healedAt, options.opTimeoutMs));
    // A little normal operation after healing, then stop the clients.
    await delay(Math.min(3000, options.electionMs * 4));
    stopWorkload.abort();
    await workload;
    await leases;
    log(`workload: ${recorder.ops.length} operations`);
    if (options.watchers > 0) {
      // A last write every watcher must see: no event may be lost at the tail either.
      finalRev = await sentinel(conns, recorder, options);
      await pollUntil(
        () => (watch.logs.every((w) => lastRevision(w) >= finalRev) ? true : undefined),
        {
          timeoutMs: LIVENESS_BOUND_MS,
          what: "every watcher to reach the final write",
        },
      ).catch((error: unknown) => recorder.event(describeError(error)));
    }
    stopWatchers.abort();
    await watch.done;

    finalFrom = recorder.ops.length;
    await waitAllHealthy(c);
    const everyone = Array.from({ length: options.size }, (_, i) => i);
    await finalReads(recorder, conns, everyone, options.keys, options.clients, 10_000);
    if (options.crashRestart) {
      recorder.event("kill -9 every member, restart");
      const end = recorder.fault("kill-all (final)", "kill -9 every member, then restart");
      await Promise.all(everyone.map((i) => c.kill(i, "SIGKILL")));
      await Promise.all(everyone.map((i) => c.restart(i, { waitReady: false })));
      end();
      await c.waitForLeader(LIVENESS_BOUND_MS);
      await waitAllHealthy(c);
      afterRestartFrom = recorder.ops.length;
      await finalReads(
        recorder,
        conns,
        everyone,
        options.keys,
        options.clients + options.size,
        10_000,
      );
    }
    if (options.watchers > 0) {
      histories = await Promise.all(
        Array.from({ length: options.size }, (_, i) =>
          collectHistory(conns, i, REGISTER_PREFIX, finalRev, 20_000),
        ),
      );
    }
    if (options.leaseTtlSec > 0) checks.push(await leaseCheck(c, conns, leaseLog, options));
    checks.push(await hashKvCheck(c, conns, recorder));
  } catch (error) {
    checks.push(runFailed(error, cluster, log));
  } finally {
    connections?.close();
    await closeRun(cluster, net, log);
    for (const p of proxies ?? []) await p.close();
    clocks?.close();
  }

  const ops = recorder.ops;
  const linear = checkLinearizable(ops, { timeoutMs: options.checkTimeoutMs });
  checks.unshift({
    name: "linearizable",
    status: linear.valid === true ? "pass" : linear.valid === false ? "fail" : "unknown",
    detail: linear.keys
      .map(
        (k) =>
          `${k.key}: ${k.verdict} (${k.checked} ops checked, ${k.dropped} dropped, ${k.pinned} pinned, ${k.ms} ms)${k.explanation ? `\n${k.explanation}` : ""}`,
      )
      .join("\n"),
  });
  const revisions = checkRevisions(ops);
  checks.splice(1, 0, {
    name: "revisions",
    status: revisions.length === 0 ? "pass" : "fail",
    detail:
      revisions.length === 0
        ? "unique per write, monotonic in real time, reads and CAS agree with writes"
        : revisions.map((v) => `${v.rule}: ${v.message}`).join("\n"),
  });
  if (afterRestartFrom >= 0) {
    const lost = checkDurability(ops.slice(0, afterRestartFrom), ops.slice(afterRestartFrom));
    checks.push({
      name: "durability",
      status: lost.length === 0 ? "pass" : "fail",
      detail:
        lost.length === 0
          ? `every acknowledged write present on all ${options.size} members after kill -9 of all and restart`
          : lost.map((v) => v.message).join("\n"),
    });
  } else if (options.crashRestart) {
    checks.push({
      name: "durability",
      status: "fail",
      detail: "the run ended before the crash-restart reads",
    });
  }
  if (options.watchers > 0) {
    if (histories) {
      const violations = checkWatch({
        histories,
        watchers: watcherLogs,
        ops,
        prefix: REGISTER_PREFIX,
        finalRev,
      });
      const events = watcherLogs
        .map((w) => `${w.events.length} (${w.streams.length} streams)`)
        .join(", ");
      checks.push({
        name: "watch",
        status: violations.length === 0 ? "pass" : "fail",
        detail:
          violations.length === 0
            ? `${watcherLogs.length} watchers ordered, unique, gap-free, prev_kv right, caught up; events ${events}; history of ${histories[0].length} events equal on all members after the restart`
            : violations.join("\n"),
      });
    } else {
      checks.push({
        name: "watch",
        status: "fail",
        detail: "the run ended before the watch history was read",
      });
    }
  }
  const report = summarize({
    options: { ...options, log: undefined },
    network: useNet ? "netns" : "loopback",
    nemeses: nemeses.map((n) => n.name),
    startedAt,
    recorder,
    checks,
    finalFrom,
  });
  if (options.out) {
    report.dir = writeReport(options.out, report, recorder);
    log(`report: ${join(report.dir, "report.html")}`);
  }
  return report;
}
