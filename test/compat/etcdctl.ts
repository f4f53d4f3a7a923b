/**
 * Runs the real etcdctl (3.4, from Debian's etcd-client) as a child process — no shell —
 * and captures what it prints.
 */
import { spawn } from "node:child_process";

/** What one etcdctl run printed and how it ended. */
export interface EtcdctlResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stderr without etcdctl's own JSON log lines (client-side retry warnings). */
  errorText: string;
}

/** Options of {@link etcdctl}. */
export interface EtcdctlOptions {
  /** Fed to stdin (then closed), e.g. the lines of `txn -i`. */
  stdin?: string;
  timeoutMs?: number;
}

/** `etcdctl --endpoints=<endpoints> <args...>` with ETCDCTL_API=3. */
export function etcdctl(
  endpoints: readonly string[],
  args: readonly string[],
  options: EtcdctlOptions = {},
): Promise<EtcdctlResult> {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("ETCDCTL_")) env[key] = value;
  }
  env.ETCDCTL_API = "3";
  const child = spawn(
    process.env.ETCDCTL_BIN ?? "etcdctl",
    [`--endpoints=${endpoints.join(",")}`, ...args],
    { env, stdio: ["pipe", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  // etcdctl may exit before reading its stdin (most commands never read it): a write
  // to the closed pipe is EPIPE, which is no error of the command's.
  child.stdin.on("error", () => {});
  child.stdin.end(options.stdin ?? "");
  const timeoutMs = options.timeoutMs ?? 20_000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`etcdctl ${args.join(" ")} did not finish in ${timeoutMs} ms`));
    }, timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      const errorText = stderr
        .split("\n")
        .filter((line) => !line.startsWith('{"level":'))
        .join("\n");
      resolve({ code, stdout, stderr, errorText });
    });
  });
}

/**
 * JSON.parse for etcdctl's `-w json`, keeping integers beyond 2^53 (cluster and member
 * ids) exact: every integer of 16 or more digits becomes a decimal string. Smaller
 * numbers stay numbers.
 */
export function parseJsonBig(text: string): unknown {
  return JSON.parse(text.replace(/([:[,]\s*)(-?\d{16,})(?=\s*[,}\]])/g, '$1"$2"'));
}

/** Base64 of a UTF-8 string, as etcdctl's JSON prints bytes. */
export function b64(text: string): string {
  return Buffer.from(text, "utf8").toString("base64");
}
