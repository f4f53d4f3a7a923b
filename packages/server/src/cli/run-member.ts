/**
 * `chainfire [flags]`: run one member until SIGTERM/SIGINT.
 *
 * 1. Resolve the configuration (config.ts); a bad one prints every problem and exits 1.
 * 2. `Member.start`, then the HTTP endpoints on --listen-metrics-urls.
 * 3. Once the member has published itself: log "ready to serve client requests" (etcd's
 *    words; the local cluster and the tests wait for it).
 * 4. First SIGTERM/SIGINT: close HTTP, `member.close()`, exit 0. A second signal while
 *    closing exits 1 at once. If the member stops by itself (a fatal error), exit 1.
 * 5. A member removed from the cluster stops and exits 3 (EXIT_CODE_REMOVED); starting on
 *    a removed member's data dir is refused with the same code (member-removal.ts).
 *
 * With `CHAINFIRE_STDIN_LIFELINE=1` (set by the local cluster for its children), the end of
 * stdin counts as SIGTERM: a member whose supervisor died (even by SIGKILL) stops too.
 */
import { armedFailpoints, failpointsActive, unsyncedLoss } from "@chainfire/storage";
import type { Logger } from "pino";
import { ConfigError, type ResolvedConfig, resolveMemberConfig } from "../config.js";
import { formatInitialCluster } from "../config-urls.js";
import { type HttpEndpoints, startHttpServers } from "../http.js";
import { startIdleGc } from "../idle-gc.js";
import { createLogger } from "../log.js";
import { Member } from "../member.js";
import { EXIT_CODE_REMOVED, MemberRemovedError } from "../member-removal.js";
import { dropIpServernameWarning } from "../tls/quiet-warnings.js";
import { CHAINFIRE_VERSION, ETCD_API_VERSION, gitSha } from "../version.js";
import { MALLOC_ENV, missingMallocEnv } from "./malloc-env.js";

/** Bound on a graceful shutdown before the process gives up and exits 1. */
const SHUTDOWN_DEADLINE_MS = 15_000;

/** Runs a member with `argv` (flags) and `env`; resolves with the exit code. */
export async function runMember(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  let config: ResolvedConfig;
  try {
    config = resolveMemberConfig({ argv, env });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`chainfire: ${err.message}\n`);
    process.stderr.write("Run `chainfire --help` for the flags.\n");
    return 1;
  }
  const { options } = config;
  const logger = createLogger({
    level: options.logLevel,
    format: config.logFormat,
    base: { name: options.name },
  });
  // A bug nothing caught ends the process (STYLE "Errors" 2), but as a log line first.
  const die = (kind: string) => (err: unknown) => {
    logger.fatal({ err }, `bug: ${kind}; exiting`);
    process.exit(1);
  };
  process.on("uncaughtException", die("uncaught exception"));
  process.on("unhandledRejection", die("unhandled promise rejection"));
  dropIpServernameWarning();
  for (const w of config.warnings) logger.warn(w);
  if (failpointsActive || unsyncedLoss) {
    logger.warn(
      { failpoints: armedFailpoints(), unsyncedLoss },
      "TEST MODE: failpoints armed (CHAINFIRE_TEST_FAILPOINTS / CHAINFIRE_TEST_UNSYNCED_LOSS); never in production",
    );
  }
  const malloc = missingMallocEnv(env);
  if (malloc.length > 0) {
    logger.warn(
      { missing: malloc, recommended: MALLOC_ENV },
      "glibc malloc is not tuned: memory freed by RocksDB stays resident (set these variables; docs/performance.md)",
    );
  }
  logger.info(
    {
      version: CHAINFIRE_VERSION,
      etcdApiVersion: ETCD_API_VERSION,
      gitSha: gitSha(env),
      node: process.version,
      dataDir: options.dataDir,
      listenClientUrls: options.listenClientUrls,
      advertiseClientUrls: options.advertiseClientUrls,
      listenPeerUrls: options.listenPeerUrls,
      initialAdvertisePeerUrls: options.initialAdvertisePeerUrls,
      listenMetricsUrls: options.listenMetricsUrls,
      initialCluster: formatInitialCluster(options.initialCluster),
      initialClusterState: options.initialClusterState,
      configFile: config.configFile,
    },
    "starting chainfire",
  );

  const lifecycle = new Lifecycle(logger);
  lifecycle.installSignalHandlers();
  if (env.CHAINFIRE_STDIN_LIFELINE === "1") lifecycle.stopOnStdinEnd();
  let member: Member;
  let http: HttpEndpoints | undefined;
  try {
    member = await Member.start(options, { logger, ...testTuning(env, logger) });
  } catch (err) {
    lifecycle.removeSignalHandlers();
    if (err instanceof MemberRemovedError) {
      logger.fatal({ exitCode: EXIT_CODE_REMOVED }, err.message);
      return EXIT_CODE_REMOVED;
    }
    logger.fatal({ err }, "cannot start the member");
    return 1;
  }
  try {
    http = await startHttpServers(options.listenMetricsUrls, member);
  } catch (err) {
    logger.fatal({ err }, "cannot serve the metrics URLs");
    await member.close();
    lifecycle.removeSignalHandlers();
    return 1;
  }
  // The process's idle garbage collection (idle-gc.ts): an idle member gives back what its
  // last burst of requests left behind.
  const idleGc = startIdleGc({
    onCollect: (before, after, ms) =>
      logger.debug(
        { beforeBytes: before, afterBytes: after, ms: Math.round(ms) },
        "idle: collected garbage",
      ),
  });
  if (!idleGc) logger.warn("V8's gc is not available: an idle member keeps its garbage");
  try {
    return await lifecycle.run(member, http);
  } finally {
    idleGc?.stop();
  }
}

/** Signals, readiness and shutdown of one running member. */
class Lifecycle {
  #signals = 0;
  #onSignal?: (signal: NodeJS.Signals) => void;
  #stopRequested?: () => void;
  readonly #requested = new Promise<NodeJS.Signals | "member">((resolve) => {
    this.#stopRequested = () => resolve("member");
    this.#onSignal = (signal) => {
      this.#signals++;
      if (this.#signals > 1) {
        this.logger.warn({ signal }, "second signal while shutting down: exiting now");
        process.exit(1);
      }
      this.logger.info({ signal }, "received signal, shutting down");
      resolve(signal);
    };
  });

  constructor(private readonly logger: Logger) {}

  installSignalHandlers(): void {
    process.on("SIGTERM", this.#onSignal!);
    process.on("SIGINT", this.#onSignal!);
  }

  /** The end of stdin (the supervisor went away) acts as SIGTERM. */
  stopOnStdinEnd(): void {
    const stdin = process.stdin;
    stdin.on("data", () => {});
    stdin.once("end", () => this.#onSignal!("SIGTERM"));
    stdin.once("error", () => this.#onSignal!("SIGTERM"));
  }

  removeSignalHandlers(): void {
    process.off("SIGTERM", this.#onSignal!);
    process.off("SIGINT", this.#onSignal!);
  }

  async run(member: Member, http: HttpEndpoints): Promise<number> {
    member.ready.then(
      () =>
        this.logger.info(
          {
            memberId: member.id.toString(16),
            clusterId: member.clusterId.toString(16),
            clientUrls: member.options.advertiseClientUrls,
            metricsUrls: http.urls,
          },
          "ready to serve client requests",
        ),
      () => {},
    );
    member.stopping.addEventListener("abort", () => this.#stopRequested!(), { once: true });
    const why = await this.#requested;
    const deadline = setTimeout(() => {
      this.logger.error({ ms: SHUTDOWN_DEADLINE_MS }, "shutdown took too long: exiting");
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    try {
      await http.close();
      await member.close();
    } catch (err) {
      this.logger.error({ err }, "error while shutting down");
      return 1;
    } finally {
      clearTimeout(deadline);
    }
    if (why === "member" && member.removed !== undefined) {
      this.logger.error(
        { how: member.removed, exitCode: EXIT_CODE_REMOVED },
        "the member was removed from the cluster; exiting",
      );
      return EXIT_CODE_REMOVED;
    }
    if (why === "member") {
      this.logger.error("the member stopped by itself (see the errors above)");
      return 1;
    }
    this.logger.info("stopped");
    return 0;
  }
}

/**
 * Test-only tuning from the environment (fault-injection runs; docs/testing-faults.md):
 * `CHAINFIRE_TEST_SNAPSHOT_CATCHUP_ENTRIES` — entries kept behind a raft snapshot (etcd's
 * `--experimental-snapshot-catchup-entries`; default 5000), so that a short test can make
 * the leader send a snapshot to a member that was away;
 * `CHAINFIRE_TEST_COMPACTION_STEP_ENTRIES` — revision-log entries per physical compaction
 * step (default 10 000), so that a short test gets a compaction of several steps.
 */
function testTuning(
  env: NodeJS.ProcessEnv,
  logger: Logger,
): { snapshotCatchUpEntries?: number; compactionStepEntries?: number } {
  const out: { snapshotCatchUpEntries?: number; compactionStepEntries?: number } = {};
  const read = (name: string, min: number): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === "") return undefined;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < min) {
      logger.warn({ value: raw }, `ignoring ${name}: not an integer >= ${min}`);
      return undefined;
    }
    return n;
  };
  const catchUp = read("CHAINFIRE_TEST_SNAPSHOT_CATCHUP_ENTRIES", 0);
  if (catchUp !== undefined) out.snapshotCatchUpEntries = catchUp;
  const step = read("CHAINFIRE_TEST_COMPACTION_STEP_ENTRIES", 1);
  if (step !== undefined) out.compactionStepEntries = step;
  if (Object.keys(out).length > 0) logger.warn(out, "TEST MODE: tuning from the environment");
  return out;
}
