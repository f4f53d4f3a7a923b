/**
 * `chainfirectl`: an etcdctl-compatible command-line tool built on the SDK.
 *
 * ```sh
 * chainfirectl --endpoints=http://node01:2379 put greeting hello
 * chainfirectl get greeting -w json
 * ```
 *
 * Run it in-process with {@link runCli} (tests do); `main.ts` is the bin wrapper.
 *
 * @module
 */

import { isEtcdError } from "@chainfire/api";
import yargs, { type Argv } from "yargs";
import type { Run } from "./command.js";
import { registerCluster } from "./commands/cluster.js";
import { registerKv } from "./commands/kv.js";
import { registerLease } from "./commands/lease.js";
import { registerWatch } from "./commands/watch.js";
import { Context, envDefault, type GlobalArgs } from "./context.js";
import { CliError, ExitBadArgs, ExitSuccess, exitCodeFor } from "./exit-codes.js";
import type { CliIo } from "./io.js";
import { useColour } from "./output.js";

/** The tool's version (the SDK's package version). */
export const VERSION = "0.1.0";

class UsageError extends Error {}

/**
 * Runs the tool with `argv` (without the node and script names) and resolves with
 * the exit code. Output goes to `io`; the process is never exited.
 */
export async function runCli(rawArgv: string[], io: CliIo): Promise<number> {
  const argv = renameKeyFlag(rawArgv);
  let exitCode = ExitSuccess;
  let ctx: Context | undefined;
  const env = (flag: string, fallback?: string) => envDefault(io.env, flag) ?? fallback;

  const wrap =
    <A>(run: Run<A>) =>
    async (args: unknown): Promise<void> => {
      ctx = new Context(io, args as GlobalArgs);
      await run(ctx, args as A);
    };

  let parser: Argv = yargs(argv)
    .scriptName("chainfirectl")
    .usage(
      "$0 [global options] <command> [options]\n\nA command-line client for Chainfire and etcd v3 clusters.",
    )
    .option("endpoints", {
      type: "string",
      default: env("endpoints", "127.0.0.1:2379"),
      describe: "gRPC endpoints (comma separated); env CHAINFIRECTL_ENDPOINTS or ETCDCTL_ENDPOINTS",
      global: true,
    })
    .option("user", {
      type: "string",
      default: env("user"),
      describe: "username[:password] for authentication",
      global: true,
    })
    .option("password", {
      type: "string",
      default: env("password"),
      describe: "password for authentication (if --user has none)",
      global: true,
    })
    .option("cacert", {
      type: "string",
      default: env("cacert"),
      describe: "verify certificates of TLS servers using this CA bundle",
      global: true,
    })
    .option("cert", {
      type: "string",
      default: env("cert"),
      describe: "identify the client using this TLS certificate file",
      global: true,
    })
    .option("key", {
      type: "string",
      default: env("key"),
      describe: "identify the client using this TLS key file",
      global: true,
    })
    .option("insecure-skip-tls-verify", {
      type: "boolean",
      describe: "skip server certificate verification (testing only)",
      global: true,
    })
    .option("dial-timeout", {
      type: "string",
      default: env("dial-timeout", "2s"),
      describe: "dial timeout for client connections",
      global: true,
    })
    .option("command-timeout", {
      type: "string",
      default: env("command-timeout", "5s"),
      describe: "timeout for short running command (excluding dial timeout)",
      global: true,
    })
    .option("write-out", {
      alias: "w",
      type: "string",
      default: env("write-out", "simple"),
      describe: "set the output format (simple, json, table)",
      global: true,
    })
    .option("color", {
      type: "boolean",
      describe: "force colour on or off (default: only on a terminal; NO_COLOR disables)",
      global: true,
    })
    .command(
      "version",
      "Prints the version of chainfirectl",
      (c) => c,
      async () => {
        io.stdout.write(`chainfirectl version: ${VERSION}\nAPI version: 3.5\n`);
      },
    )
    .demandCommand(1, "a command is required")
    .recommendCommands()
    .strict()
    .help()
    .alias("h", "help")
    .version(false)
    .exitProcess(false)
    .wrap(Math.min(120, io.stdout.columns ?? 100))
    .fail((message, error) => {
      throw error ?? new UsageError(message);
    });
  for (const register of [registerKv, registerWatch, registerLease, registerCluster]) {
    parser = register(parser, wrap);
  }

  try {
    await parser.parseAsync(argv, {}, (_err, _args, output) => {
      if (output) io.stdout.write(`${output}\n`);
    });
  } catch (error) {
    exitCode = report(io, error);
  } finally {
    await (ctx as Context | undefined)?.close();
  }
  return exitCode;
}

/**
 * etcdctl's TLS flag `--key` would collide with the `key` argument of get/put/del in
 * yargs, so it is accepted under its etcdctl name and renamed to `--tls-key` here.
 */
function renameKeyFlag(argv: string[]): string[] {
  const out: string[] = [];
  for (const arg of argv) {
    if (arg === "--") {
      out.push(...argv.slice(argv.indexOf(arg)));
      break;
    }
    if (arg === "--key") out.push("--tls-key");
    else if (arg.startsWith("--key=")) out.push(`--tls-key=${arg.slice("--key=".length)}`);
    else out.push(arg);
  }
  return out;
}

function report(io: CliIo, error: unknown): number {
  const colour = useColour(io.stderr, io.env);
  const label = colour ? "\u001b[31mError:\u001b[39m" : "Error:";
  if (error instanceof UsageError) {
    io.stderr.write(`${label} ${error.message}\nRun 'chainfirectl --help' for usage.\n`);
    return ExitBadArgs;
  }
  const message = error instanceof Error ? error.message : String(error);
  io.stderr.write(`${label} ${message}\n`);
  if (error instanceof CliError || isEtcdError(error)) return exitCodeFor(error);
  return exitCodeFor(error);
}
