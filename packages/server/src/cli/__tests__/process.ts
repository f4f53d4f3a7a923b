/**
 * Helpers for tests that run the compiled `chainfire` command (dist/, built by
 * `npx tsc -b`, as the e2e harness does): spawning with captured output, waiting for a
 * line, free ports, etcdctl, and killing whatever is left.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { allocatePortBlock } from "../../../../../test/harness/ports.js";

const here = dirname(fileURLToPath(import.meta.url));
export const DIST_CLI = resolve(here, "../../../dist/cli");
export const MAIN_JS = resolve(DIST_CLI, "main.js");
export const LOCAL_CLUSTER_JS = resolve(DIST_CLI, "local-cluster.js");

/** Throws a clear error when the package has not been built. */
export function requireBuilt(): void {
  if (!existsSync(MAIN_JS) || !existsSync(LOCAL_CLUSTER_JS)) {
    throw new Error(`${MAIN_JS} is missing: build first (npx tsc -b)`);
  }
}

export interface Running {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every line of stdout and stderr so far. */
  readonly lines: string[];
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first line (past or future) matching `re`. */
  waitForLine(re: RegExp, timeoutMs: number): Promise<string>;
}

const started = new Set<ChildProcess>();

/** The environment a spawned command sees: ours minus vitest's and etcd's variables. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith("ETCD") || k.startsWith("VITEST") || k === "NODE_OPTIONS") continue;
    if (k.startsWith("CHAINFIRE_")) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/** Runs `node <script> ...args`, capturing output line by line. */
export function run(
  script: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; stdin?: "pipe" | "ignore" } = {},
): Running {
  const child = spawn(process.execPath, [script, ...args], {
    cwd: opts.cwd,
    env: cleanEnv(opts.env),
    stdio: [opts.stdin ?? "ignore", "pipe", "pipe"],
  });
  started.add(child);
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const onChunk = (() => {
    const partial = { stdout: "", stderr: "" };
    return (which: "stdout" | "stderr") => (chunk: Buffer) => {
      const text = partial[which] + chunk.toString("utf8");
      const parts = text.split("\n");
      partial[which] = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        for (const w of [...waiters]) {
          if (w.re.test(line)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    };
  })();
  child.stdout!.on("data", onChunk("stdout"));
  child.stderr!.on("data", onChunk("stderr"));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once("exit", (code, signal) => {
      started.delete(child);
      r({ code, signal });
    }),
  );
  return {
    child,
    pid: child.pid!,
    lines,
    exit,
    waitForLine(re, timeoutMs) {
      const seen = lines.find((l) => re.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolveLine, reject) => {
        const timer = setTimeout(() => {
          reject(
            new Error(
              `no line matching ${re} within ${timeoutMs} ms; output:\n${lines.slice(-40).join("\n")}`,
            ),
          );
        }, timeoutMs);
        const w = {
          re,
          resolve: (l: string) => {
            clearTimeout(timer);
            resolveLine(l);
          },
        };
        waiters.push(w);
        void exit.then(() => {
          if (!waiters.includes(w)) return;
          clearTimeout(timer);
          reject(
            new Error(
              `exited before a line matching ${re}; output:\n${lines.slice(-40).join("\n")}`,
            ),
          );
        });
      });
    },
  };
}

/** Waits for the exit, failing after `timeoutMs`. */
export async function exitWithin(r: Running, timeoutMs: number) {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      r.exit,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`pid ${r.pid} did not exit within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** SIGKILLs every process these helpers started that is still running. */
export async function killAll(): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const c of started) {
    waits.push(new Promise((r) => c.once("exit", r)));
    c.kill("SIGKILL");
  }
  await Promise.all(waits);
}

/** Pids of processes whose command line mentions `text` (e.g. a temp dir). */
export function pidsMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cmd.includes(text)) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

/**
 * `count` bases p such that p, p+1, p+2 were free (client, peer, metrics), from the test
 * harness's per-worker port window (test/harness/ports.ts).
 */
export async function freePortTriples(count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(await allocatePortBlock(3));
  return out;
}

const execFileAsync = promisify(execFile);

/** Runs etcdctl 3.4 (API v3) against `endpoints`; resolves with stdout (+ stderr if `both`). */
export async function etcdctl(endpoints: string, args: string[], both = false): Promise<string> {
  const { stdout, stderr } = await execFileAsync(
    "etcdctl",
    [`--endpoints=${endpoints}`, "--command-timeout=10s", ...args],
    { env: cleanEnv({ ETCDCTL_API: "3" }), timeout: 20_000 },
  );
  return both ? stdout + stderr : stdout;
}

/** Whether etcdctl is installed (Debian's etcd-client). */
export function haveEtcdctl(): boolean {
  return ["/usr/bin/etcdctl", "/usr/local/bin/etcdctl"].some((p) => existsSync(p));
}
