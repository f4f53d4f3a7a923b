/**
 * One member process of a test cluster: a real `etcd` binary or Chainfire's
 * `node packages/server/dist/cli/main.js`, both started with etcd's flag names, directly
 * (no shell), so the pid held here is the member's own.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { forgetProcess, trackProcess } from "./cleanup.js";
import { pollUntil, StopPolling } from "./wait.js";

/** Which implementation a member runs. */
export type MemberKind = "etcd" | "chainfire";

/** The repository root (this file is test/harness/member.ts). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The compiled Chainfire member entry point (built by `npx tsc -b`). */
export const CHAINFIRE_MAIN = resolve(REPO_ROOT, "packages/server/dist/cli/main.js");

/** Whether members of `kind` can be started on this machine. */
export function kindAvailable(kind: MemberKind): boolean {
  if (kind === "chainfire") return existsSync(CHAINFIRE_MAIN);
  return true;
}

/** Everything needed to start (and restart) one member. */
export interface MemberConfig {
  kind: MemberKind;
  name: string;
  dataDir: string;
  logFile: string;
  clientPort: number;
  peerPort: number;
  metricsPort: number;
  /** `name=http://127.0.0.1:peerPort,...` for every initial member. */
  initialCluster: string;
  initialClusterState: "new" | "existing";
  initialClusterToken: string;
  heartbeatMs: number;
  electionMs: number;
  snapshotCount?: number;
  /** Appended to the member's flags. */
  extraArgs: string[];
  /** Node flags for Chainfire members (e.g. `--cpu-prof`). */
  nodeArgs: string[];
  /**
   * Environment changes for this member (undefined removes a variable). Chainfire members
   * get {@link CHAINFIRE_MALLOC_ENV} unless the harness's own environment or this sets them.
   * Read at every start: a nemesis may set and clear e.g. CHAINFIRE_TEST_FAILPOINTS
   * between restarts.
   */
  env?: Record<string, string | undefined>;
  /**
   * The address the member binds and advertises its peer and client URLs on (default
   * 127.0.0.1). Fault tests give each member its own address in its own network
   * namespace (see netns.ts); everything below is for them too.
   */
  host?: string;
  /** Host of the metrics URL (default: {@link host}). */
  metricsHost?: string;
  /** More --listen-client-urls besides the advertised one. */
  extraListenClientUrls?: string[];
  /** Argv before the member's own command, e.g. `["ip", "netns", "exec", ns]` (which execs). */
  commandPrefix?: string[];
  /** The URL the harness's clients dial (default: the advertised client URL). */
  dialClientUrl?: string;
  /** A unix socket that reaches the metrics port, for GET /health (default: TCP). */
  healthSocket?: string;
  /** Port of --initial-advertise-peer-urls when peers reach it through a proxy. */
  advertisePeerPort?: number;
  /** "https" for client and peer URLs (the TLS flags come in {@link extraArgs}). */
  scheme?: "http" | "https";
}

/** How a member process ended. */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The lifecycle state the harness believes a member is in. */
export type MemberState = "running" | "stopped" | "exited";

export class Member {
  /** The URL clients of the harness dial (the advertised client URL unless placed). */
  readonly clientUrl: string;
  /** --advertise-client-urls. */
  readonly advertiseClientUrl: string;
  readonly peerUrl: string;
  /** --initial-advertise-peer-urls (the peer URL unless peers go through a proxy). */
  readonly advertisePeerUrl: string;
  readonly metricsUrl: string;
  /** Set once the member has answered Status. */
  id: bigint | undefined;
  private child: ChildProcess | undefined;
  private exitPromise: Promise<ExitInfo> = Promise.resolve({ code: null, signal: null });
  private exitInfo: ExitInfo | undefined;
  private stoppedBySignal = false;

  constructor(
    readonly index: number,
    readonly config: MemberConfig,
  ) {
    const host = config.host ?? "127.0.0.1";
    const scheme = config.scheme ?? "http";
    this.advertiseClientUrl = `${scheme}://${host}:${config.clientPort}`;
    this.clientUrl = config.dialClientUrl ?? this.advertiseClientUrl;
    this.peerUrl = `${scheme}://${host}:${config.peerPort}`;
    this.advertisePeerUrl = `${scheme}://${host}:${config.advertisePeerPort ?? config.peerPort}`;
    this.metricsUrl = `http://${config.metricsHost ?? host}:${config.metricsPort}`;
  }

  get name(): string {
    return this.config.name;
  }

  /** The member's pid while a process has been started (also after it exited). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get state(): MemberState {
    if (!this.child || this.exitInfo) return "exited";
    return this.stoppedBySignal ? "stopped" : "running";
  }

  /** How the last process ended, once it has. */
  get lastExit(): ExitInfo | undefined {
    return this.exitInfo;
  }

  /** The command line, for logs and for reproducing a failure by hand. */
  commandLine(): { file: string; args: string[] } {
    const c = this.config;
    const flags = [
      `--name=${c.name}`,
      `--data-dir=${c.dataDir}`,
      `--listen-client-urls=${[this.advertiseClientUrl, ...(c.extraListenClientUrls ?? [])].join(",")}`,
      `--advertise-client-urls=${this.advertiseClientUrl}`,
      `--listen-peer-urls=${this.peerUrl}`,
      `--initial-advertise-peer-urls=${this.advertisePeerUrl}`,
      `--initial-cluster=${c.initialCluster}`,
      `--initial-cluster-state=${c.initialClusterState}`,
      `--initial-cluster-token=${c.initialClusterToken}`,
      `--listen-metrics-urls=${this.metricsUrl}`,
      `--heartbeat-interval=${c.heartbeatMs}`,
      `--election-timeout=${c.electionMs}`,
      ...(c.snapshotCount === undefined ? [] : [`--snapshot-count=${c.snapshotCount}`]),
    ];
    if (c.kind === "etcd") {
      // etcd 3.4 defaults to the deprecated capnslog text logger; zap writes JSON lines.
      const etcd = process.env.ETCD_BIN ?? "etcd";
      return {
        file: etcd,
        args: [...flags, "--logger=zap", "--log-outputs=stderr", ...c.extraArgs],
      };
    }
    return {
      file: process.execPath,
      args: [...c.nodeArgs, CHAINFIRE_MAIN, ...flags, ...c.extraArgs],
    };
  }

  /** Starts the process (also used to restart it on the same data dir and ports). */
  start(): void {
    if (this.state !== "exited") throw new Error(`${this.name} is already running`);
    const command = this.commandLine();
    const [file, ...args] = [...(this.config.commandPrefix ?? []), command.file, ...command.args];
    const log = openSync(this.config.logFile, "a");
    let child: ChildProcess;
    try {
      child = spawn(file, args, {
        stdio: ["ignore", log, log],
        env: memberEnv(this.config.kind, this.config.env),
        cwd: REPO_ROOT,
      });
    } finally {
      closeSync(log);
    }
    this.child = child;
    this.exitInfo = undefined;
    this.stoppedBySignal = false;
    this.exitPromise = new Promise<ExitInfo>((resolveExit) => {
      child.once("exit", (code, signal) => {
        this.exitInfo = { code, signal };
        if (child.pid !== undefined) forgetProcess(child.pid);
        resolveExit(this.exitInfo);
      });
      child.once("error", (error) => {
        this.exitInfo = { code: null, signal: null };
        resolveExit(this.exitInfo);
        this.appendNote(`spawn failed: ${error.message}`);
      });
    });
    if (child.pid !== undefined) trackProcess(child.pid, `${this.config.kind} ${this.name}`);
  }

  /** Sends `signal`; SIGSTOP/SIGCONT also update {@link state}. */
  signal(signal: NodeJS.Signals): void {
    if (!this.child || this.exitInfo) throw new Error(`${this.name} is not running`);
    this.child.kill(signal);
    if (signal === "SIGSTOP") this.stoppedBySignal = true;
    if (signal === "SIGCONT") this.stoppedBySignal = false;
  }

  /** Resolves when the process has exited; rejects after `timeoutMs`. */
  async waitExit(timeoutMs: number): Promise<ExitInfo> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${this.name} did not exit within ${timeoutMs} ms`)),
        timeoutMs,
      );
      timer.unref();
    });
    try {
      return await Promise.race([this.exitPromise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Polls GET /health on the metrics URL until it reports healthy. */
  async waitHealthy(timeoutMs: number): Promise<void> {
    await pollUntil(
      async () => {
        if (this.exitInfo) {
          throw new StopPolling(new ExitedError(this.name, this.exitInfo, this.logTail(30)));
        }
        return (await this.healthy()) ? true : undefined;
      },
      { timeoutMs, intervalMs: 50, what: `${this.name} /health` },
    );
  }

  /** One GET /health: true when the member answers `{"health":"true"}`. */
  healthy(timeoutMs = 1000): Promise<boolean> {
    return new Promise((resolveHealth) => {
      const socketPath = this.config.healthSocket;
      const url = socketPath ? "http://localhost/health" : `${this.metricsUrl}/health`;
      const request = httpGet(url, { agent: false, socketPath }, (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          body += chunk;
        });
        response.on("end", () => {
          if (response.statusCode !== 200) return resolveHealth(false);
          try {
            const parsed = JSON.parse(body) as { health?: unknown };
            resolveHealth(parsed.health === "true" || parsed.health === true);
          } catch {
            resolveHealth(false);
          }
        });
        response.on("error", () => resolveHealth(false));
      });
      request.setTimeout(timeoutMs, () => request.destroy());
      request.on("error", () => resolveHealth(false));
    });
  }

  /** Resident memory in bytes (VmRSS), while the process exists. */
  rssBytes(): number | undefined {
    if (this.pid === undefined || this.exitInfo) return undefined;
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, "utf8");
      const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
      return match ? Number(match[1]) * 1024 : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * CPU time (user + system) the process has used so far, in seconds, from
   * /proc/<pid>/stat (clock ticks of 1/100 s, Linux's USER_HZ on x86 and arm64).
   */
  cpuSeconds(): number | undefined {
    if (this.pid === undefined || this.exitInfo) return undefined;
    try {
      const stat = readFileSync(`/proc/${this.pid}/stat`, "utf8");
      // Fields after the command name (which may contain spaces) start at field 3.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      return undefined;
    }
  }

  /** The last `lines` lines of the member's log (stdout and stderr, every start). */
  logTail(lines = 40): string {
    try {
      const text = readFileSync(this.config.logFile, "utf8");
      return text
        .split("\n")
        .slice(-lines - 1)
        .join("\n");
    } catch {
      return "(no log)";
    }
  }

  /** Ends the process: SIGKILL, wait for the exit. Idempotent. */
  async kill(timeoutMs = 10_000): Promise<void> {
    if (this.state === "exited") return;
    this.child?.kill("SIGKILL");
    await this.waitExit(timeoutMs);
  }

  private appendNote(note: string): void {
    try {
      appendFileSync(this.config.logFile, `[harness] ${note}\n`);
    } catch {
      // the log is best effort
    }
  }
}

/** A member exited while the harness was waiting for it. */
export class ExitedError extends Error {
  constructor(
    readonly memberName: string,
    readonly exit: ExitInfo,
    readonly logTail: string,
  ) {
    super(
      `${memberName} exited (code ${exit.code}, signal ${exit.signal}) while starting; log tail:\n${logTail}`,
    );
  }
}

/**
 * glibc malloc tuning every deployment of a Chainfire member sets (docs/operations.md):
 * two arenas instead of 8 per core, and large blocks (RocksDB's) from mmap, so freed
 * memory goes back to the OS.
 */
export const CHAINFIRE_MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: "2",
  MALLOC_MMAP_THRESHOLD_: "131072",
};

/** The member's environment: ours, minus variables that would change its flags. */
function memberEnv(
  kind: MemberKind,
  changes: Record<string, string | undefined> = {},
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = kind === "chainfire" ? { ...CHAINFIRE_MALLOC_ENV } : {};
  for (const [key, value] of Object.entries(process.env)) {
    // etcd reads every ETCD_* variable as a flag; NODE_OPTIONS could carry vitest's or
    // tsx's loaders into a member that must run its compiled JavaScript.
    if (key.startsWith("ETCD_") || key.startsWith("ETCDCTL_") || key === "NODE_OPTIONS") continue;
    if (key.startsWith("VITEST")) continue;
    // Failpoints are armed per member, only through MemberConfig.env.
    if (key === "CHAINFIRE_TEST_FAILPOINTS" || key === "CHAINFIRE_TEST_UNSYNCED_LOSS") continue;
    env[key] = value;
  }
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}
