#!/usr/bin/env node
/**
 * `npm start`: a three-member Chainfire cluster on loopback for development, like etcd's
 * Procfile (goreman). Each member is a child process running `chainfire` (main.js next to
 * this file) with etcd's flags:
 *
 * | member | client                 | peer                   | metrics                |
 * | ------ | ---------------------- | ---------------------- | ---------------------- |
 * | n1     | http://127.0.0.1:2379  | http://127.0.0.1:2380  | http://127.0.0.1:2381  |
 * | n2     | http://127.0.0.1:22379 | http://127.0.0.1:22380 | http://127.0.0.1:22381 |
 * | n3     | http://127.0.0.1:32379 | http://127.0.0.1:32380 | http://127.0.0.1:32381 |
 *
 * Data lives in ./data/<name>; the first start bootstraps a new cluster, later starts
 * restart the members from their data. Progress is shown while the members start and
 * elect a leader (GET /health on each metrics URL); then the endpoints and etcdctl
 * commands are printed. Quiet by default: only the members' warnings and errors are shown,
 * prefixed by name (`--verbose` shows every line). Ctrl-C (or SIGTERM) stops every member
 * gracefully and waits for it.
 *
 * ```
 * npm start                                    # the table above
 * npm start -- --verbose
 * node packages/server/dist/cli/local-cluster.js --client-ports 12379,12389,12399 --data-root /tmp/cf
 * ```
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { get as httpGet } from "node:http";
import { dirname, join, relative, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import yargs from "yargs";
import { MALLOC_ENV } from "./malloc-env.js";

/** How long the members get to start and elect a leader. */
const START_DEADLINE_MS = 60_000;
/** How long the members get to stop before they are killed. */
const STOP_DEADLINE_MS = 20_000;

export interface LocalMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  metricsUrl: string;
  dataDir: string;
}

/** The members for `clientPorts` (peer = client + 1, metrics = client + 2). */
export function localMembers(clientPorts: readonly number[], dataRoot: string): LocalMember[] {
  return clientPorts.map((port, i) => ({
    name: `n${i + 1}`,
    clientUrl: `http://127.0.0.1:${port}`,
    peerUrl: `http://127.0.0.1:${port + 1}`,
    metricsUrl: `http://127.0.0.1:${port + 2}`,
    dataDir: resolve(dataRoot, `n${i + 1}`),
  }));
}

/** The etcd-style flags of one member. */
export function memberFlags(
  m: LocalMember,
  all: readonly LocalMember[],
  logLevel: string,
): string[] {
  return [
    `--name=${m.name}`,
    `--data-dir=${m.dataDir}`,
    `--listen-client-urls=${m.clientUrl}`,
    `--advertise-client-urls=${m.clientUrl}`,
    `--listen-peer-urls=${m.peerUrl}`,
    `--initial-advertise-peer-urls=${m.peerUrl}`,
    `--initial-cluster=${all.map((o) => `${o.name}=${o.peerUrl}`).join(",")}`,
    "--initial-cluster-state=new",
    "--initial-cluster-token=chainfire-local",
    `--listen-metrics-urls=${m.metricsUrl}`,
    `--log-level=${logLevel}`,
  ];
}

interface Options {
  clientPorts: number[];
  dataRoot: string;
  verbose: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  const parsed = yargs([...argv])
    .scriptName("npm start --")
    .usage("A three-member Chainfire cluster on loopback.\n\nUsage: npm start -- [options]")
    .option("client-ports", {
      type: "string",
      default: "2379,22379,32379",
      describe: "One client port per member (peer = +1, metrics = +2)",
    })
    .option("data-root", { type: "string", default: "data", describe: "Parent of the data dirs" })
    .option("verbose", { type: "boolean", default: false, describe: "Show every log line" })
    .strict()
    .version(false)
    .help()
    .parseSync();
  const clientPorts = String(parsed["client-ports"])
    .split(",")
    .map((p) => Number(p.trim()));
  if (
    clientPorts.length === 0 ||
    clientPorts.some((p) => !Number.isInteger(p) || p < 1 || p > 65533)
  ) {
    throw new Error(`--client-ports: expected ports like 2379,22379,32379`);
  }
  return { clientPorts, dataRoot: resolve(String(parsed["data-root"])), verbose: parsed.verbose };
}

/** A running member process and its output. */
class Child {
  readonly process: ChildProcess;
  readonly exited: Promise<number | null>;
  exitCode: number | null | undefined;
  /**
   * While the cluster starts or stops, warnings are expected (peers not listening yet, no
   * leader yet, peers gone) and hidden unless --verbose; errors always show. A failed
   * start prints the member's last lines instead.
   */
  hideWarnings = true;
  #tail: string[] = [];

  constructor(
    readonly member: LocalMember,
    args: string[],
    verbose: boolean,
  ) {
    const here = dirname(fileURLToPath(import.meta.url));
    const main = join(here, fileURLToPath(import.meta.url).endsWith(".ts") ? "main.ts" : "main.js");
    this.process = spawn(process.execPath, [...process.execArgv, main, ...args], {
      // Own process group: a terminal's Ctrl-C reaches only us, and we stop each member
      // with exactly one SIGTERM. stdin is the member's lifeline (it stops if we die).
      detached: true,
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...MALLOC_ENV, ...withoutEtcdEnv(process.env), CHAINFIRE_STDIN_LIFELINE: "1" },
    });
    // The lifeline pipe is never written; a member that is gone must not make it throw.
    this.process.stdin?.on("error", () => {});
    this.exited = new Promise((resolveExit) => {
      this.process.once("exit", (code, signal) => {
        this.exitCode = code ?? (signal ? 128 : null);
        resolveExit(this.exitCode);
      });
      this.process.once("error", (err) => {
        this.#print(`cannot start: ${err.message}`, true);
        this.exitCode = 1;
        resolveExit(1);
      });
    });
    for (const stream of [this.process.stdout!, this.process.stderr!]) {
      createInterface({ input: stream }).on("line", (line) => this.#line(line, verbose));
    }
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** The last lines the member wrote (for a failed start). */
  tail(): string {
    return this.#tail.join("\n");
  }

  #line(line: string, verbose: boolean): void {
    this.#tail.push(line);
    if (this.#tail.length > 30) this.#tail.shift();
    let level = "error";
    let text = line;
    try {
      const rec = JSON.parse(line) as Record<string, unknown>;
      level = String(rec.level ?? "info");
      const { level: _l, time: _t, pid: _p, name: _n, msg, ...rest } = rec;
      const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : "";
      text = `${level.toUpperCase().padEnd(5)} ${String(msg ?? "")}${extra}`;
    } catch {
      // not a log record (a crash trace): always shown
    }
    const shown =
      level === "error" || level === "fatal" || (level === "warn" && !this.hideWarnings);
    if (verbose || shown) {
      this.#print(text, level !== "info" && level !== "debug" && level !== "trace");
    }
  }

  #print(text: string, toStderr: boolean): void {
    (toStderr ? process.stderr : process.stdout).write(`[${this.member.name}] ${text}\n`);
  }
}

/** Our environment minus ETCD_* (a member reads those as flags). */
function withoutEtcdEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!k.startsWith("ETCD_")) out[k] = v;
  return out;
}

/** One GET; resolves with status and body, or undefined when nothing answered. */
function httpGetText(
  url: string,
  timeoutMs: number,
): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolveGet) => {
    const req = httpGet(url, { agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolveGet({ status: res.statusCode ?? 0, body }));
      res.on("error", () => resolveGet(undefined));
    });
    req.setTimeout(timeoutMs, () => req.destroy());
    req.on("error", () => resolveGet(undefined));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`local cluster: ${(err as Error).message}\n`);
    return 2;
  }
  const members = localMembers(opts.clientPorts, opts.dataRoot);
  const fresh = members.filter((m) => !existsSync(m.dataDir));
  const where = relative(process.cwd(), opts.dataRoot) || ".";
  const out = (s: string) => process.stdout.write(s);
  out(
    fresh.length === members.length
      ? `Starting a new ${members.length}-member Chainfire cluster (data in ${where}/)\n`
      : `Restarting the ${members.length}-member Chainfire cluster from ${where}/\n`,
  );
  mkdirSync(opts.dataRoot, { recursive: true });

  const children = members.map(
    (m) => new Child(m, memberFlags(m, members, opts.verbose ? "debug" : "info"), opts.verbose),
  );
  let stopping: Promise<number> | undefined;
  const stop = (why: string): Promise<number> => {
    stopping ??= (async () => {
      out(`\n${why}: stopping the members...\n`);
      for (const c of children) c.hideWarnings = true;
      for (const c of children) if (c.running) c.process.kill("SIGTERM");
      const killer = setTimeout(() => {
        for (const c of children) {
          if (!c.running) continue;
          process.stderr.write(`[${c.member.name}] did not stop in time; killing it\n`);
          c.process.kill("SIGKILL");
        }
      }, STOP_DEADLINE_MS);
      const codes = await Promise.all(children.map((c) => c.exited));
      clearTimeout(killer);
      const clean = codes.every((c) => c === 0);
      out(clean ? "All members stopped.\n" : `Members stopped (exit codes ${codes.join(", ")}).\n`);
      return clean ? 0 : 1;
    })();
    return stopping;
  };
  let requestStop!: (why: string) => void;
  const stopRequested = new Promise<string>((r) => {
    requestStop = r;
  });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      requestStop(signal === "SIGINT" ? "Interrupted" : "Terminated");
      return;
    }
    if (signals === 2) {
      process.stderr.write("Second signal: killing the members.\n");
      for (const c of children) if (c.running) c.process.kill("SIGKILL");
    }
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let started = false;
  for (const c of children) {
    void c.exited.then((code) => {
      if (stopping || !started) return;
      process.stderr.write(`\n${c.member.name} exited (code ${code}).\n`);
      if (children.every((x) => !x.running)) requestStop("Every member exited");
    });
  }

  const ok = await waitHealthy(members, children, () => signals > 0);
  if (!ok) return stop(signals > 0 ? "Interrupted" : "Start failed").then((code) => code || 1);
  started = true;
  for (const c of children) c.hideWarnings = false;
  printBanner(members, where);
  return stop(await stopRequested);
}

/** Shows progress until every member is healthy; false if one died, time ran out or we were interrupted. */
async function waitHealthy(
  members: readonly LocalMember[],
  children: readonly Child[],
  interrupted: () => boolean,
): Promise<boolean> {
  const deadline = Date.now() + START_DEADLINE_MS;
  const answered = new Set<string>();
  const healthy = new Set<string>();
  let last = "";
  while (healthy.size < members.length) {
    if (interrupted()) return false;
    const dead = children.find((c) => !c.running);
    if (dead) {
      process.stderr.write(
        `\n${dead.member.name} exited (code ${dead.exitCode}) while starting. Its last lines:\n${dead.tail()}\n`,
      );
      return false;
    }
    if (Date.now() > deadline) {
      process.stderr.write(
        `\nThe cluster did not become healthy within ${START_DEADLINE_MS / 1000} s.\n`,
      );
      return false;
    }
    await Promise.all(
      members.map(async (m) => {
        const r = await httpGetText(`${m.metricsUrl}/health`, 1500);
        if (r === undefined) return;
        answered.add(m.name);
        if (r.status === 200) healthy.add(m.name);
      }),
    );
    const line =
      answered.size < members.length
        ? `waiting for the members to start: ${members.map((m) => `${m.name} ${answered.has(m.name) ? "up" : "..."}`).join(", ")}`
        : `waiting for a leader: ${healthy.size}/${members.length} members healthy`;
    if (line !== last) process.stdout.write(`  ${line}\n`);
    last = line;
    if (healthy.size < members.length) await sleep(200);
  }
  return true;
}

function printBanner(members: readonly LocalMember[], where: string): void {
  const endpoints = members.map((m) => m.clientUrl).join(",");
  const width = (f: (m: LocalMember) => string) => Math.max(...members.map((m) => f(m).length));
  const clientWidth = width((m) => m.clientUrl);
  const metricsWidth = width((m) => `${m.metricsUrl}/metrics`);
  const rows = members.map(
    (m) =>
      `  ${m.name}  client ${m.clientUrl.padEnd(clientWidth)}  metrics ${`${m.metricsUrl}/metrics`.padEnd(metricsWidth)}  data ${relative(process.cwd(), m.dataDir) || m.dataDir}`,
  );
  process.stdout.write(
    [
      "",
      `Chainfire is up: ${members.length} members, healthy.`,
      "",
      ...rows,
      "",
      "Talk to it with etcdctl:",
      "",
      `  export ETCDCTL_API=3 ETCDCTL_ENDPOINTS=${endpoints}`,
      "  etcdctl put hello world",
      "  etcdctl get hello",
      "  etcdctl endpoint status -w table",
      "",
      `Ctrl-C stops the cluster; the data stays in ${where}/ (delete it to start afresh).`,
      "",
    ].join("\n"),
  );
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`local cluster: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
