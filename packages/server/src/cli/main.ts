#!/usr/bin/env node
/**
 * The `chainfire` command.
 *
 * ```
 * chainfire [flags]                      run a member (etcd's flags; see --help)
 * chainfire --version                    versions, etcd's layout ("etcd Version: 3.5.13")
 * chainfire snapshot restore <file> ...  a new data dir from a snapshot (like etcdctl's)
 * chainfire ctl <args>                   the chainfirectl client (package @chainfire/client)
 * ```
 */
import yargs from "yargs";
import { MEMBER_FLAGS } from "../config-flags.js";
import { versionText } from "../version.js";

const USAGE = `Usage:

  chainfire [flags]                       start a Chainfire member
  chainfire --version                     print the version
  chainfire snapshot restore <file> [--name --data-dir --initial-cluster
            --initial-cluster-token --initial-advertise-peer-urls]
                                          build a data dir from a snapshot
  chainfire ctl <command> [args]          run chainfirectl (the client)

Flags are etcd's; each can also be set as CHAINFIRE_<FLAG> or ETCD_<FLAG> in the
environment (e.g. CHAINFIRE_INITIAL_CLUSTER) or as a key of a YAML --config-file.
Precedence: flags > CHAINFIRE_* > ETCD_* > config file > defaults.

Member flags:
`;

/** The `--help` text. */
function helpText(): string {
  const lines = MEMBER_FLAGS.map((f) => `  --${f.name.padEnd(30)} ${f.describe}`);
  return `${USAGE}${lines.join("\n")}

etcd flags Chainfire does not use (--logger, --auto-compaction-retention, ...) are
accepted with a warning; TLS and discovery flags are refused until implemented.
HTTP endpoints (/health, /readyz, /livez, /version, /metrics) are served on
--listen-metrics-urls only.
`;
}

/** Dispatches `argv` (without node and the script); resolves with the exit code. */
async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [command, ...rest] = argv;
  if (argv.includes("--version") && command !== "ctl") {
    process.stdout.write(`${versionText(env)}\n`);
    return 0;
  }
  if ((argv.includes("--help") || argv.includes("-h")) && command !== "ctl") {
    process.stdout.write(command === "snapshot" ? RESTORE_USAGE : helpText());
    return 0;
  }
  // Loaded on demand: --version and ctl do not need the member (nor RocksDB).
  if (command === "ctl") return (await import("./ctl.js")).runCtl(rest, env);
  if (command === "snapshot") return runSnapshot(rest);
  return (await import("./run-member.js")).runMember(argv, env);
}

const RESTORE_USAGE = `Usage: chainfire snapshot restore <file> [flags]

Builds a new member data dir from a snapshot taken with \`etcdctl snapshot save\`
(or the SDK) from Chainfire. Run it for every member of the new cluster with the same
file, --initial-cluster and --initial-cluster-token.

  --name                          this member's name (default "default")
  --data-dir                      the data dir to create (default "<name>.chainfire")
  --initial-cluster               the new cluster's members (default "<name>=<peer urls>")
  --initial-cluster-token         the new cluster's token (default "etcd-cluster")
  --initial-advertise-peer-urls   this member's peer URLs (default http://127.0.0.1:2380)
`;

async function runSnapshot(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "restore") {
    process.stderr.write(
      `chainfire snapshot: unknown command "${sub ?? ""}" (only "restore"; save with ` +
        "`etcdctl snapshot save` or `chainfire ctl snapshot save`)\n",
    );
    return 2;
  }
  const { RESTORE_FLAGS, describeRestore, restoreSnapshot, RestoreError } = await import(
    "./snapshot-restore.js"
  );
  const y = yargs([...rest])
    .parserConfiguration({ "camel-case-expansion": false, "duplicate-arguments-array": false })
    .exitProcess(false)
    .help(false)
    .version(false);
  for (const f of RESTORE_FLAGS) y.option(f, { type: "string" });
  y.option("skip-hash-check", { type: "boolean" });
  const parsed = y.parseSync() as Record<string, unknown> & { _: unknown[] };
  const unknown = Object.keys(parsed).filter(
    (k) =>
      k !== "_" &&
      k !== "$0" &&
      k !== "skip-hash-check" &&
      !(RESTORE_FLAGS as readonly string[]).includes(k),
  );
  if (unknown.length > 0 || parsed._.length !== 1) {
    const why =
      unknown.length > 0
        ? `unknown flag --${unknown[0]}`
        : parsed._.length === 0
          ? "missing the snapshot file"
          : `unexpected argument "${String(parsed._[1])}"`;
    process.stderr.write(`chainfire snapshot restore: ${why}\n\n${RESTORE_USAGE}`);
    return 2;
  }
  if (parsed["skip-hash-check"]) {
    process.stderr.write(
      "chainfire snapshot restore: --skip-hash-check ignored: Chainfire snapshots always carry their checksums\n",
    );
  }
  const flags: string[] = [];
  for (const f of RESTORE_FLAGS) {
    const v = parsed[f];
    if (typeof v === "string") flags.push(`--${f}=${v}`);
  }
  try {
    const result = await restoreSnapshot(String(parsed._[0]), flags);
    process.stdout.write(`${describeRestore(result)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof RestoreError) {
      process.stderr.write(`chainfire snapshot restore: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

main(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`chainfire: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
