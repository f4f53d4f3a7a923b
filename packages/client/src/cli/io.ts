/**
 * The command-line tool's connection to the world, passed in so that tests can run
 * it in-process with captured output.
 *
 * @module
 */

/** A place to write text (stdout or stderr). */
export interface OutputStream {
  /** Writes text or bytes. */
  write(chunk: string | Uint8Array): unknown;
  /** Whether it is a terminal (colour and progress bars only then). */
  isTTY?: boolean;
  /** Terminal width, when it is one. */
  columns?: number;
}

/** Everything the tool reads and writes. */
export interface CliIo {
  stdout: OutputStream;
  stderr: OutputStream;
  /** Read by `put` without a value and by `txn`. */
  stdin: AsyncIterable<string | Buffer>;
  env: Record<string, string | undefined>;
  /** Aborts long-running commands (watch, lease keep-alive); SIGINT in the real tool. */
  signal?: AbortSignal;
}

/** The process's own streams, environment and SIGINT. */
export function processIo(): CliIo {
  const controller = new AbortController();
  process.once("SIGINT", () => controller.abort(new Error("interrupted")));
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    signal: controller.signal,
  };
}

/** Reads all of stdin as text. */
export async function readAll(stdin: AsyncIterable<string | Buffer>): Promise<string> {
  const parts: string[] = [];
  for await (const chunk of stdin)
    parts.push(typeof chunk === "string" ? chunk : chunk.toString("utf8"));
  return parts.join("");
}
