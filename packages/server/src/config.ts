/**
 * From flags, environment and config file to {@link MemberOptions}.
 *
 * Precedence, per setting: command-line flag > `CHAINFIRE_*` env > `ETCD_*` env > YAML
 * config file (`--config-file`) > default. (etcd itself ignores flags and env when a
 * config file is given; we merge instead, so a file can hold the cluster layout and a
 * flag can still override one setting.) Defaults that depend on other settings are
 * computed after the merge: `--data-dir` from `--name`, `--advertise-client-urls` from
 * `--listen-client-urls`, `--initial-advertise-peer-urls` from `--listen-peer-urls`, and
 * `--initial-cluster` from `--name` and `--initial-advertise-peer-urls`.
 *
 * Every problem is collected and reported at once in a {@link ConfigError}; etcd flags we
 * do not implement are handled as config-flags.ts describes.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import yargs from "yargs";
import { parseDuration } from "./config-duration.js";
import {
  BOOLEAN_FOREIGN_FLAGS,
  ETCD_FOREIGN_FLAGS,
  envSuffix,
  type FlagSpec,
  flagFromEnvSuffix,
  foreignFlagPolicy,
  MEMBER_FLAGS,
  memberFlag,
} from "./config-flags.js";
import { resolveTls, tlsSectionFlags } from "./config-tls.js";
import {
  formatInitialCluster,
  isUnspecifiedHost,
  parseInitialCluster,
  parseUrlList,
  sameUrlSet,
  UrlProblem,
} from "./config-urls.js";
import type { LogFormat } from "./log.js";
import { DEFAULT_MEMBER_OPTIONS, type MemberOptions } from "./member-options.js";

/** The configuration could not be built; `problems` lists every reason, one per line. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly problems: readonly string[]) {
    super(
      problems.length === 1 ? problems[0] : `invalid configuration:\n  ${problems.join("\n  ")}`,
    );
  }
}

/** Where a setting came from. */
export type ConfigSource = "flag" | "env" | "file" | "default";

/** Inputs of {@link resolveMemberConfig}; everything injectable for tests. */
export interface ConfigInputs {
  /** Command-line arguments after the command (e.g. `["--name", "n1"]`). */
  argv: readonly string[];
  /** Environment. Default: none (pass `process.env` from the CLI). */
  env?: NodeJS.ProcessEnv;
  /** Reads the config file. Default: fs.readFileSync(path, "utf8"). */
  readFile?: (path: string) => string;
  /** Base for relative paths (--data-dir, --config-file). Default process.cwd(). */
  cwd?: string;
}

/** The result: options for `Member.start`, plus what only the CLI needs. */
export interface ResolvedConfig {
  options: MemberOptions;
  logFormat: LogFormat;
  /** Non-fatal notes for the startup log (ignored etcd flags, unknown env vars, ...). */
  warnings: string[];
  /** Where each of our settings came from (only settings that were given). */
  sources: Record<string, ConfigSource>;
  /** The config file read, if any (absolute path). */
  configFile?: string;
}

type Raw = string | boolean;

/** Environment variables with our prefixes that are not flags (read by other tools). */
const NON_FLAG_ENV =
  /^(CHAINFIRE_(GIT_SHA|STDIN_LIFELINE|TEST_.*|COMPAT_.*|BY_DEFAULT|UNARY_FAST_PATH|H2_IMMEDIATE_TRAILERS|WAL_SYNC|ROCKSDB_LOG|ROCKSDB_THREADS)|ETCD_UNSUPPORTED_ARCH)$/;

/**
 * Builds MemberOptions from flags, env and config file. Throws {@link ConfigError}.
 */
export function resolveMemberConfig(inputs: ConfigInputs): ResolvedConfig {
  const cwd = inputs.cwd ?? process.cwd();
  const problems: string[] = [];
  const warnings: string[] = [];

  const fromFlags = parseArgv(inputs.argv, problems);
  const fromEnv = readEnv(inputs.env ?? {}, warnings);

  let fromFile = new Map<string, Raw>();
  let configFile: string | undefined;
  const fileFlag = fromFlags.get("config-file") ?? fromEnv.get("config-file");
  if (typeof fileFlag === "string" && fileFlag !== "") {
    configFile = resolve(cwd, fileFlag);
    fromFile = readConfigFile(configFile, inputs.readFile, problems, warnings);
  }

  // Merge by precedence, remembering sources.
  const raw = new Map<string, Raw>();
  const sources: Record<string, ConfigSource> = {};
  const names = new Set([...fromFile.keys(), ...fromEnv.keys(), ...fromFlags.keys()]);
  for (const name of names) {
    for (const [source, map] of [
      ["flag", fromFlags],
      ["env", fromEnv],
      ["file", fromFile],
    ] as const) {
      const v = map.get(name);
      if (v !== undefined) {
        raw.set(name, v);
        sources[name] = source;
        break;
      }
    }
  }

  checkForeignFlags(raw, sources, problems, warnings);
  const options = buildOptions(raw, cwd, problems, warnings);
  const logFormat = (raw.get("log-format") as LogFormat | undefined) ?? "json";
  if (problems.length > 0) throw new ConfigError(problems);
  return { options: options!, logFormat, warnings, sources, configFile };
}

/** Flags from argv; unknown flags and stray positionals are problems. */
function parseArgv(argv: readonly string[], problems: string[]): Map<string, Raw> {
  const known = new Map<string, "string" | "boolean">();
  for (const f of MEMBER_FLAGS) known.set(f.name, f.type === "bool" ? "boolean" : "string");
  for (const name of ETCD_FOREIGN_FLAGS.keys()) {
    known.set(name, BOOLEAN_FOREIGN_FLAGS.has(name) ? "boolean" : "string");
  }
  for (const arg of argv) {
    const m = /^--?(experimental-[a-z0-9-]+)/.exec(arg);
    if (m && !known.has(m[1]!)) known.set(m[1]!, "string");
  }
  const y = yargs([...argv])
    .parserConfiguration({
      "camel-case-expansion": false,
      "duplicate-arguments-array": false,
      "strip-aliased": true,
      "boolean-negation": false,
    })
    .exitProcess(false)
    .help(false)
    .version(false);
  for (const [name, type] of known) y.option(name, { type });
  const parsed = y.parseSync() as Record<string, unknown>;
  const out = new Map<string, Raw>();
  for (const [key, value] of Object.entries(parsed)) {
    if (key === "_" || key === "$0") continue;
    if (!known.has(key)) {
      problems.push(`unknown flag --${key}`);
      continue;
    }
    if (value === undefined) continue;
    if (typeof value === "boolean") out.set(key, value);
    else if (typeof value === "number") out.set(key, String(value));
    else if (typeof value === "string") out.set(key, value);
    else problems.push(`--${key}: cannot use the value ${JSON.stringify(value)}`);
  }
  for (const extra of parsed._ as unknown[]) {
    problems.push(`unexpected argument "${String(extra)}"`);
  }
  return out;
}

/** CHAINFIRE_* and ETCD_* variables naming a flag; CHAINFIRE_* wins. */
function readEnv(env: NodeJS.ProcessEnv, warnings: string[]): Map<string, Raw> {
  const out = new Map<string, Raw>();
  for (const prefix of ["ETCD_", "CHAINFIRE_"]) {
    for (const [key, value] of Object.entries(env)) {
      if (!key.startsWith(prefix) || value === undefined) continue;
      if (NON_FLAG_ENV.test(key)) continue;
      const flag = flagFromEnvSuffix(key.slice(prefix.length));
      if (memberFlag(flag) === undefined && foreignFlagPolicy(flag) === undefined) {
        warnings.push(`unrecognized environment variable ${key} (no flag --${flag}); ignored`);
        continue;
      }
      out.set(flag, value);
    }
  }
  return out;
}

/** A YAML mapping of flag names; etcd's nested TLS sections map to the TLS flags. */
function readConfigFile(
  path: string,
  readFile: ((path: string) => string) | undefined,
  problems: string[],
  warnings: string[],
): Map<string, Raw> {
  const out = new Map<string, Raw>();
  let doc: unknown;
  try {
    doc = parseYaml((readFile ?? ((p: string) => readFileSync(p, "utf8")))(path));
  } catch (err) {
    problems.push(`--config-file ${path}: ${(err as Error).message}`);
    return out;
  }
  if (doc === null || doc === undefined) return out;
  if (typeof doc !== "object" || Array.isArray(doc)) {
    problems.push(`--config-file ${path}: expected a mapping of flag names to values`);
    return out;
  }
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    if (value === null || value === undefined) continue;
    const section = tlsSectionFlags(key, value, problems);
    if (section !== undefined) {
      for (const [flag, v] of section) setFileValue(out, flag, v, problems);
      continue;
    }
    if (key === "config-file") {
      warnings.push(`--config-file ${path}: the key "config-file" is ignored in a config file`);
      continue;
    }
    if (memberFlag(key) === undefined && foreignFlagPolicy(key) === undefined) {
      warnings.push(`--config-file ${path}: unknown key "${key}" ignored`);
      continue;
    }
    setFileValue(out, key, value, problems);
  }
  return out;
}

function setFileValue(out: Map<string, Raw>, key: string, value: unknown, problems: string[]) {
  if (typeof value === "boolean") out.set(key, value);
  else if (typeof value === "number" || typeof value === "string") out.set(key, String(value));
  else if (Array.isArray(value) && value.every((v) => typeof v === "string")) {
    out.set(key, value.join(","));
  } else problems.push(`--config-file: "${key}" has an unusable value ${JSON.stringify(value)}`);
}

function checkForeignFlags(
  raw: Map<string, Raw>,
  sources: Record<string, ConfigSource>,
  problems: string[],
  warnings: string[],
): void {
  for (const [name, value] of raw) {
    const policy = foreignFlagPolicy(name);
    if (policy === undefined) continue;
    raw.delete(name);
    const from = describeSource(name, sources[name]);
    if (policy === "ignored") {
      warnings.push(`${from}: etcd flag not used by Chainfire; ignored`);
      continue;
    }
    const off = value === false || value === "" || parseBool(String(value)) === false;
    if (!off) {
      problems.push(`${from}: not supported by Chainfire yet (${unsupportedReason(name)})`);
    }
  }
}

function unsupportedReason(flag: string): string {
  if (flag.endsWith("crl-file")) return "certificate revocation lists are not implemented";
  if (flag.endsWith("allowed-hostname")) return "use --peer-cert-allowed-cn or a dedicated CA";
  if (flag === "cipher-suites") return "Node's default TLS cipher suites apply";
  if (flag.startsWith("discovery")) return "discovery is not implemented; use --initial-cluster";
  if (flag === "force-new-cluster") return "use `chainfire snapshot restore` instead";
  return "no HTTP API on the client port";
}

function describeSource(flag: string, source: ConfigSource | undefined): string {
  return source === "env" ? `--${flag} (from the environment)` : `--${flag}`;
}

/** Go's strconv.ParseBool. */
function parseBool(text: string): boolean | undefined {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(text)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(text)) return false;
  return undefined;
}

function buildOptions(
  raw: Map<string, Raw>,
  cwd: string,
  problems: string[],
  warnings: string[],
): MemberOptions | undefined {
  const d = DEFAULT_MEMBER_OPTIONS;
  const str = (f: string): string | undefined => {
    const v = raw.get(f);
    return v === undefined ? undefined : String(v);
  };
  const value = <T>(
    f: string,
    parse: (spec: FlagSpec, text: string) => T | undefined,
  ): T | undefined => {
    const text = str(f);
    return text === undefined ? undefined : parse(memberFlag(f)!, text);
  };
  const int = (spec: FlagSpec, text: string): number | undefined => {
    const t = text.trim();
    const n = /^\d+$/.test(t) ? Number(t) : Number.NaN;
    if (!Number.isSafeInteger(n)) {
      problems.push(`--${spec.name}: "${text}" is not a whole number`);
      return undefined;
    }
    if (spec.min !== undefined && n < spec.min) {
      problems.push(`--${spec.name}: must be at least ${spec.min} (got ${n})`);
      return undefined;
    }
    return n;
  };
  const choice = (spec: FlagSpec, text: string): string | undefined => {
    if (spec.choices!.includes(text)) return text;
    problems.push(`--${spec.name}: "${text}" is not one of ${spec.choices!.join(", ")}`);
    return undefined;
  };
  const urls = (spec: FlagSpec, text: string): string[] | undefined => {
    const r = parseUrlList(text);
    if (r instanceof UrlProblem) {
      problems.push(`--${spec.name}: ${r.problem}`);
      return undefined;
    }
    return r;
  };
  const duration = (spec: FlagSpec, text: string): number | undefined => {
    const ms = parseDuration(text);
    if (ms === undefined || ms <= 0) {
      problems.push(`--${spec.name}: "${text}" is not a positive duration (e.g. 10m, 5s)`);
      return undefined;
    }
    return ms;
  };
  const bool = (spec: FlagSpec, text: string): boolean | undefined => {
    const b = parseBool(text);
    if (b === undefined) problems.push(`--${spec.name}: "${text}" is not true or false`);
    return b;
  };

  const name = str("name") ?? "default";
  if (name.trim() === "") problems.push("--name: must not be empty");
  const dataDir = resolve(cwd, str("data-dir") || `${name}.chainfire`);

  const listenClientUrls = value("listen-client-urls", urls) ?? [...d.listenClientUrls];
  const listenPeerUrls = value("listen-peer-urls", urls) ?? [...d.listenPeerUrls];
  const advertiseClientUrls =
    value("advertise-client-urls", urls) ??
    defaultAdvertise("advertise-client-urls", "listen-client-urls", listenClientUrls, problems);
  const initialAdvertisePeerUrls =
    value("initial-advertise-peer-urls", urls) ??
    defaultAdvertise("initial-advertise-peer-urls", "listen-peer-urls", listenPeerUrls, problems);
  const listenMetricsUrls = raw.has("listen-metrics-urls")
    ? str("listen-metrics-urls")!.trim() === ""
      ? []
      : (value("listen-metrics-urls", urls) ?? [])
    : [...d.listenMetricsUrls];

  let initialCluster = new Map<string, string[]>([[name, initialAdvertisePeerUrls]]);
  const clusterText = str("initial-cluster");
  if (clusterText !== undefined) {
    const parsed = parseInitialCluster(clusterText);
    if (parsed instanceof UrlProblem) problems.push(`--initial-cluster: ${parsed.problem}`);
    else initialCluster = parsed;
  }
  const mine = initialCluster.get(name);
  if (mine === undefined) {
    problems.push(
      `--initial-cluster "${clusterText}" has no entry for this member's --name "${name}" ` +
        `(add ${name}=${initialAdvertisePeerUrls.join(`,${name}=`)})`,
    );
  } else if (!sameUrlSet(mine, initialAdvertisePeerUrls)) {
    problems.push(
      `--initial-advertise-peer-urls ${initialAdvertisePeerUrls.join(",")} does not match ` +
        `this member's --initial-cluster entry ${formatInitialCluster(new Map([[name, mine]]))}`,
    );
  }

  const heartbeatIntervalMs = value("heartbeat-interval", int) ?? d.heartbeatIntervalMs;
  const electionTimeoutMs = value("election-timeout", int) ?? d.electionTimeoutMs;
  if (heartbeatIntervalMs >= electionTimeoutMs) {
    problems.push(
      `--heartbeat-interval (${heartbeatIntervalMs} ms) must be less than --election-timeout ` +
        `(${electionTimeoutMs} ms)`,
    );
  } else if (5 * heartbeatIntervalMs > electionTimeoutMs) {
    problems.push(
      `--election-timeout[${electionTimeoutMs}ms] should be at least as 5 times as ` +
        `--heartbeat-interval[${heartbeatIntervalMs}ms]`,
    );
  }
  if (electionTimeoutMs > 50_000) {
    problems.push(
      `--election-timeout[${electionTimeoutMs}ms] is too long, and should be set less than 50000ms`,
    );
  }

  value("self-signed-cert-validity", int);
  value("tls-min-version", choice);
  value("tls-max-version", choice);
  const tls = resolveTls(
    {
      str,
      bool: (f) => value(f, bool),
      cwd,
      listenClientUrls,
      listenPeerUrls,
      initialAdvertisePeerUrls,
      initialCluster,
      listenMetricsUrls,
    },
    problems,
    warnings,
  );
  const quota = value("quota-backend-bytes", int);
  const logLevel = value("log-level", choice);
  return {
    name,
    dataDir,
    listenClientUrls,
    advertiseClientUrls,
    listenPeerUrls,
    initialAdvertisePeerUrls,
    initialCluster,
    initialClusterState:
      (value("initial-cluster-state", choice) as "new" | "existing" | undefined) ??
      d.initialClusterState,
    initialClusterToken: str("initial-cluster-token") || d.initialClusterToken,
    listenMetricsUrls,
    heartbeatIntervalMs,
    electionTimeoutMs,
    snapshotCount: value("snapshot-count", int) ?? d.snapshotCount,
    quotaBackendBytes: quota === undefined || quota === 0 ? d.quotaBackendBytes : quota,
    maxRequestBytes: value("max-request-bytes", int) ?? d.maxRequestBytes,
    watchProgressNotifyIntervalMs: value("experimental-watch-progress-notify-interval", duration),
    leaseCheckpointIntervalMs: value("experimental-lease-checkpoint-interval", duration),
    maxConcurrentStreams: value("max-concurrent-streams", int) ?? d.maxConcurrentStreams,
    maxTxnOps: value("max-txn-ops", int) ?? d.maxTxnOps,
    maxResponseBytes: value("max-response-bytes", int) ?? d.maxResponseBytes,
    maxPendingProposals: value("max-pending-proposals", int) ?? d.maxPendingProposals,
    maxPendingProposalBytes: value("max-pending-proposal-bytes", int) ?? d.maxPendingProposalBytes,
    autoPromote: value("auto-promote", bool) ?? d.autoPromote,
    authToken: str("auth-token") || d.authToken,
    bcryptCost: value("bcrypt-cost", int) ?? d.bcryptCost,
    authTokenTtl: value("auth-token-ttl", int) ?? d.authTokenTtl,
    logLevel:
      logLevel === undefined
        ? d.logLevel
        : logLevel === "panic" || logLevel === "dpanic"
          ? "fatal"
          : (logLevel as MemberOptions["logLevel"]),
    ...tls,
  };
}

/** Advertise URLs default to the listen URLs, unless those are wildcards nobody can dial. */
function defaultAdvertise(
  flag: string,
  listenFlag: string,
  listen: string[],
  problems: string[],
): string[] {
  const wildcard = listen.find(isUnspecifiedHost);
  if (wildcard !== undefined) {
    problems.push(
      `--${flag} is required when --${listenFlag} uses the wildcard address ${wildcard} ` +
        `(give the URLs others should dial)`,
    );
  }
  return listen;
}

/** `CHAINFIRE_DATA_DIR` for `data-dir` (for docs and error messages). */
export function envNameOf(flag: string): string {
  return `CHAINFIRE_${envSuffix(flag)}`;
}
