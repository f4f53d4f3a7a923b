/**
 * `chainfire ctl ...`: runs the SDK's command-line tool (`chainfirectl`, package
 * @chainfire/client) with the remaining arguments. The server must not import the
 * client, so the tool is found at run time and started as a child process:
 *
 * 1. `$CHAINFIRECTL` (a path to its main .js file or an executable);
 * 2. `@chainfire/client` resolvable from here (an installed package): its dist/cli/main.js;
 * 3. the sibling workspace package: packages/client/dist/cli/main.js.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Where the client CLI was looked for, and where it was found (if anywhere). */
export function findCtl(env: NodeJS.ProcessEnv = process.env): { found?: string; tried: string[] } {
  const tried: string[] = [];
  const candidates: string[] = [];
  if (env.CHAINFIRECTL) candidates.push(resolve(env.CHAINFIRECTL));
  try {
    const entry = fileURLToPath(import.meta.resolve("@chainfire/client"));
    // .../dist/index.js (or src/index.ts under the source condition) → dist/cli/main.js
    candidates.push(join(dirname(dirname(entry)), "dist", "cli", "main.js"));
  } catch {
    // not installed next to us
  }
  const here = dirname(fileURLToPath(import.meta.url)); // packages/server/{dist,src}/cli
  candidates.push(resolve(here, "..", "..", "..", "client", "dist", "cli", "main.js"));
  for (const c of candidates) {
    if (tried.includes(c)) continue;
    tried.push(c);
    if (existsSync(c)) return { found: c, tried };
  }
  return { tried };
}

/** Runs the client CLI with `args`; resolves with its exit code. */
export async function runCtl(args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { found, tried } = findCtl(env);
  if (found === undefined) {
    process.stderr.write(
      "chainfire ctl: the chainfirectl command line (package @chainfire/client) is not " +
        `available; build it with \`npm run build\`.\nLooked for:\n  ${tried.join("\n  ")}\n`,
    );
    return 2;
  }
  const isScript = /\.(c|m)?js$/.test(found);
  const child = spawn(
    isScript ? process.execPath : found,
    isScript ? [found, ...args] : [...args],
    {
      stdio: "inherit",
      env,
    },
  );
  // Ctrl-C reaches the child through the terminal's process group; forward kill(1) too.
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on("SIGTERM", forward);
  process.on("SIGINT", forward);
  try {
    return await new Promise<number>((resolvePromise) => {
      child.once("error", (err) => {
        process.stderr.write(`chainfire ctl: cannot run ${found}: ${err.message}\n`);
        resolvePromise(2);
      });
      child.once("exit", (code, signal) => {
        resolvePromise(code ?? 128 + signalNumber(signal));
      });
    });
  } finally {
    process.off("SIGTERM", forward);
    process.off("SIGINT", forward);
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal === "SIGINT" ? 2 : signal === "SIGKILL" ? 9 : 15;
}
