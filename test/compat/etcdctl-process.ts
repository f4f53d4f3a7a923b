/**
 * A long-running etcdctl 3.4 (lock, elect, make-mirror, ...) as a child process — no
 * shell — whose output is collected line by line, stopped by a signal.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { pollUntil } from "../harness/index.js";

export class EtcdctlProcess {
  readonly child: ChildProcessWithoutNullStreams;
  out = "";
  err = "";
  /** Exit code (or null after a signal) once the process has exited. */
  exitCode: number | null | undefined;
  readonly exited: Promise<void>;
  readonly #keepEmptyLines: boolean;

  /**
   * `keepEmptyLines`: {@link lines} keeps empty lines (etcdctl watch prints an empty value
   * as one); by default they are dropped.
   */
  constructor(
    endpoints: readonly string[],
    args: readonly string[],
    opts: { keepEmptyLines?: boolean } = {},
  ) {
    this.#keepEmptyLines = opts.keepEmptyLines ?? false;
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (!key.startsWith("ETCDCTL_")) env[key] = value;
    }
    env.ETCDCTL_API = "3";
    this.child = spawn(
      process.env.ETCDCTL_BIN ?? "etcdctl",
      [`--endpoints=${endpoints.join(",")}`, ...args],
      { env, stdio: ["pipe", "pipe", "pipe"] },
    );
    this.child.stdout.setEncoding("utf8").on("data", (c: string) => {
      this.out += c;
    });
    this.child.stderr.setEncoding("utf8").on("data", (c: string) => {
      this.err += c;
    });
    this.child.stdin.on("error", () => {});
    this.exited = new Promise((resolve) =>
      this.child.once("exit", (code) => {
        this.exitCode = code;
        resolve();
      }),
    );
  }

  /** Complete stdout lines (without empty ones unless kept). */
  get lines(): string[] {
    const all = this.out.split("\n").slice(0, -1);
    return this.#keepEmptyLines ? all : all.filter((line) => line !== "");
  }

  /** Writes one line to etcdctl's stdin (interactive watch). */
  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  /** Waits until stdout has at least `n` complete lines (see {@link lines}). */
  waitLines(n: number, what: string, timeoutMs = 30_000): Promise<string[]> {
    return pollUntil(() => (this.lines.length >= n ? this.lines : undefined), {
      timeoutMs,
      what: `${what} (stdout so far: ${JSON.stringify(this.out)}, stderr: ${JSON.stringify(this.err)})`,
    });
  }

  /** Sends `signal` and waits for the exit (SIGKILL after `timeoutMs`). */
  async stop(signal: NodeJS.Signals = "SIGKILL", timeoutMs = 15_000): Promise<void> {
    if (this.exitCode !== undefined) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}
