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

  constructor(endpoints: readonly string[], args: readonly string[]) {
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

  /** Complete, non-empty stdout lines. */
  get lines(): string[] {
    return this.out
      .split("\n")
      .slice(0, -1)
      .filter((line) => line !== "");
  }

  /** Waits until stdout has at least `n` complete non-empty lines. */
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
