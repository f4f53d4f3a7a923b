/**
 * The member's flags: etcd's names, one table. Every flag can also come from the
 * environment (`CHAINFIRE_<FLAG_IN_UPPER_SNAKE>`, or etcd's `ETCD_<...>` for drop-in
 * use) and from a YAML config file (key = flag name, as in etcd's config files).
 *
 * etcd flags that Chainfire does not implement are in {@link ETCD_FOREIGN_FLAGS}:
 * - "ignored": a tuning knob or a feature whose absence changes no data and no security
 *   property (`--logger`, `--max-wals`, `--enable-v2`, `--auto-compaction-retention`...).
 *   Accepted, with a warning that it has no effect.
 * - "unsupported": the flag asks for something we would silently not do, and the result
 *   would be insecure or wrong (CRLs, discovery, `--force-new-cluster`). Setting it
 *   to a non-empty / true value is an error; empty or `false` is accepted (so generated
 *   configurations that always pass `--client-cert-auth=false` keep working).
 * Flags that are neither ours nor etcd's are errors. Unknown `--experimental-*` flags are
 * treated as "ignored" (etcd adds and renames them between minor versions).
 */

/** How a flag's text becomes a value. */
export type FlagType = "string" | "urls" | "int" | "bool" | "enum" | "duration";

/** One of our own flags. */
export interface FlagSpec {
  /** The flag name without dashes, e.g. "data-dir". */
  readonly name: string;
  readonly type: FlagType;
  /** For "enum": the accepted values. */
  readonly choices?: readonly string[];
  /** For "int": the smallest accepted value. */
  readonly min?: number;
  /** `--help` text; mentions the default. */
  readonly describe: string;
}

/** The flags Chainfire implements. */
export const MEMBER_FLAGS: readonly FlagSpec[] = [
  {
    name: "name",
    type: "string",
    describe: 'Human-readable name of this member (default "default").',
  },
  {
    name: "data-dir",
    type: "string",
    describe: 'Path to the data directory (default "<name>.chainfire").',
  },
  {
    name: "listen-client-urls",
    type: "urls",
    describe: "URLs to listen on for client (gRPC) traffic (default http://127.0.0.1:2379).",
  },
  {
    name: "advertise-client-urls",
    type: "urls",
    describe: "This member's client URLs, advertised to clients (default: --listen-client-urls).",
  },
  {
    name: "listen-peer-urls",
    type: "urls",
    describe: "URLs to listen on for peer traffic (default http://127.0.0.1:2380).",
  },
  {
    name: "initial-advertise-peer-urls",
    type: "urls",
    describe: "This member's peer URLs, advertised to the cluster (default: --listen-peer-urls).",
  },
  {
    name: "initial-cluster",
    type: "string",
    describe:
      'Initial cluster configuration for bootstrapping, "n1=http://h1:2380,n2=http://h2:2380" ' +
      '(default "<name>=<initial-advertise-peer-urls>").',
  },
  {
    name: "initial-cluster-state",
    type: "enum",
    choices: ["new", "existing"],
    describe: '"new" to bootstrap a cluster, "existing" to join one (default "new").',
  },
  {
    name: "initial-cluster-token",
    type: "string",
    describe: 'Initial cluster token; seeds the cluster and member ids (default "etcd-cluster").',
  },
  {
    name: "listen-metrics-urls",
    type: "urls",
    describe: "URLs serving /metrics, /health, /readyz, /livez and /version over HTTP.",
  },
  {
    name: "heartbeat-interval",
    type: "int",
    min: 1,
    describe: "Time (in milliseconds) of a heartbeat interval (default 100).",
  },
  {
    name: "election-timeout",
    type: "int",
    min: 1,
    describe: "Time (in milliseconds) for an election to timeout (default 1000).",
  },
  {
    name: "snapshot-count",
    type: "int",
    min: 1,
    describe: "Number of committed transactions to trigger a snapshot (default 100000).",
  },
  {
    name: "quota-backend-bytes",
    type: "int",
    min: 0,
    describe: "Raise the NOSPACE alarm when the backend exceeds this size; 0 means 2 GiB.",
  },
  {
    name: "experimental-watch-progress-notify-interval",
    type: "duration",
    describe: "Duration of periodic watch progress notifications (default 10m).",
  },
  {
    name: "experimental-lease-checkpoint-interval",
    type: "duration",
    describe:
      "How often the leader checkpoints the remaining TTL of long leases (etcd 3.5; default 5m).",
  },
  {
    name: "max-request-bytes",
    type: "int",
    min: 1,
    describe: "Maximum client request size in bytes the server will accept (default 1.5 MiB).",
  },
  {
    name: "max-concurrent-streams",
    type: "int",
    min: 1,
    describe:
      "Maximum concurrent streams that each client gRPC connection may open (default 2^32-1).",
  },
  {
    name: "max-txn-ops",
    type: "int",
    min: 1,
    describe: "Maximum number of operations permitted in a transaction (default 128).",
  },
  {
    name: "max-response-bytes",
    type: "int",
    min: 1,
    describe:
      "Largest Range or read-only Txn answer in bytes; larger reads fail (default 256 MiB).",
  },
  {
    name: "max-pending-proposals",
    type: "int",
    min: 1,
    describe:
      'Writes waiting to be applied on this member before "too many requests" (default 10000).',
  },
  {
    name: "max-pending-proposal-bytes",
    type: "int",
    min: 1,
    describe: "Bytes of writes waiting to be applied on this member (default 256 MiB).",
  },
  {
    name: "auto-promote",
    type: "bool",
    describe: "Learners promote themselves once caught up with the leader (default false).",
  },
  {
    name: "auth-token",
    type: "string",
    describe:
      'Auth token type: "simple", or "jwt,pub-key=<path>,priv-key=<path>,sign-method=<alg>,ttl=<duration>" (default "simple").',
  },
  {
    name: "bcrypt-cost",
    type: "int",
    min: 4,
    describe: "Cost of hashing auth passwords, 4..31 (scrypt here; default 10).",
  },
  {
    name: "auth-token-ttl",
    type: "int",
    min: 1,
    describe: "Seconds a simple auth token stays valid after its last use (default 300).",
  },
  {
    name: "log-level",
    type: "enum",
    choices: ["trace", "debug", "info", "warn", "error", "dpanic", "panic", "fatal", "silent"],
    describe: 'Log level: debug, info, warn, error, panic, fatal (default "info").',
  },
  {
    name: "log-format",
    type: "enum",
    choices: ["json", "pretty"],
    describe: 'Log format: "json" (one object per line) or "pretty" (default "json").',
  },
  // TLS (config-tls.ts): https:// URLs use these; http:// URLs stay plaintext.
  { name: "cert-file", type: "string", describe: "Path to the client server TLS cert file." },
  { name: "key-file", type: "string", describe: "Path to the client server TLS key file." },
  {
    name: "trusted-ca-file",
    type: "string",
    describe: "Path to the client server TLS trusted CA cert file (verifies client certs).",
  },
  {
    name: "client-cert-auth",
    type: "bool",
    describe: "Require client certificates signed by --trusted-ca-file (default false).",
  },
  {
    name: "auto-tls",
    type: "bool",
    describe: "Client TLS using a generated self-signed certificate (development only).",
  },
  { name: "peer-cert-file", type: "string", describe: "Path to the peer server TLS cert file." },
  { name: "peer-key-file", type: "string", describe: "Path to the peer server TLS key file." },
  {
    name: "peer-trusted-ca-file",
    type: "string",
    describe: "Path to the peer TLS trusted CA file (verifies the other members' certs).",
  },
  {
    name: "peer-client-cert-auth",
    type: "bool",
    describe: "Require peers to present certificates signed by --peer-trusted-ca-file.",
  },
  {
    name: "peer-auto-tls",
    type: "bool",
    describe:
      "Peer TLS using generated self-signed certificates (encrypts, does not authenticate).",
  },
  {
    name: "peer-cert-allowed-cn",
    type: "string",
    describe: "Accept peer connections only from certificates with this Common Name.",
  },
  {
    name: "self-signed-cert-validity",
    type: "int",
    min: 1,
    describe: "Validity in years of the --auto-tls / --peer-auto-tls certificates (default 1).",
  },
  {
    name: "tls-min-version",
    type: "enum",
    choices: ["TLS1.2", "TLS1.3"],
    describe: 'Minimum TLS version: "TLS1.2" or "TLS1.3" (default "TLS1.2").',
  },
  {
    name: "tls-max-version",
    type: "enum",
    choices: ["", "TLS1.2", "TLS1.3"],
    describe: 'Maximum TLS version: "TLS1.2", "TLS1.3", or "" for the newest (default "").',
  },
  {
    name: "config-file",
    type: "string",
    describe: "Path to a YAML config file (keys are the flag names). Flags and env win.",
  },
];

/** What an etcd flag that Chainfire does not implement does here. See the module comment. */
export type ForeignFlagPolicy = "ignored" | "unsupported";

/** etcd v3.5 flags that are not ours, and what we do with them. */
export const ETCD_FOREIGN_FLAGS: ReadonlyMap<string, ForeignFlagPolicy> = new Map([
  // Member tuning with no equivalent (RocksDB, not bbolt + WAL).
  ["wal-dir", "ignored"],
  ["max-snapshots", "ignored"],
  ["max-wals", "ignored"],
  ["backend-bbolt-freelist-type", "ignored"],
  ["backend-batch-interval", "ignored"],
  ["backend-batch-limit", "ignored"],
  ["grpc-keepalive-min-time", "ignored"],
  ["grpc-keepalive-interval", "ignored"],
  ["grpc-keepalive-timeout", "ignored"],
  ["socket-reuse-port", "ignored"],
  ["socket-reuse-address", "ignored"],
  ["enable-grpc-gateway", "ignored"],
  ["initial-election-tick-advance", "ignored"],
  ["unsafe-no-fsync", "ignored"],
  // Clustering behaviour that is always on or always off here.
  ["strict-reconfig-check", "ignored"],
  ["pre-vote", "ignored"],
  ["auto-compaction-retention", "ignored"],
  ["auto-compaction-mode", "ignored"],
  ["enable-v2", "ignored"],
  ["v2-deprecation", "ignored"],
  // Logging and observability handled differently.
  ["logger", "ignored"],
  ["log-outputs", "ignored"],
  ["enable-log-rotation", "ignored"],
  ["log-rotation-config-json", "ignored"],
  ["enable-pprof", "ignored"],
  ["metrics", "ignored"],
  // HTTP niceties of etcd's client port (we serve no HTTP there).
  ["cors", "ignored"],
  ["host-whitelist", "ignored"],
  // TLS features not implemented: refusing beats silently not checking what was asked for.
  ["client-crl-file", "unsupported"],
  ["client-cert-allowed-hostname", "unsupported"],
  ["peer-cert-allowed-hostname", "unsupported"],
  ["peer-crl-file", "unsupported"],
  ["cipher-suites", "unsupported"],
  // Bootstrapping we cannot do; ignoring them would start the wrong cluster.
  ["discovery", "unsupported"],
  ["discovery-srv", "unsupported"],
  ["discovery-srv-name", "unsupported"],
  ["discovery-fallback", "ignored"],
  ["discovery-proxy", "unsupported"],
  ["force-new-cluster", "unsupported"],
  ["listen-client-http-urls", "unsupported"],
]);

/** Flags whose "off" value carries no request (booleans in etcd). */
export const BOOLEAN_FOREIGN_FLAGS: ReadonlySet<string> = new Set([
  "force-new-cluster",
  "socket-reuse-port",
  "socket-reuse-address",
  "enable-grpc-gateway",
  "initial-election-tick-advance",
  "unsafe-no-fsync",
  "strict-reconfig-check",
  "pre-vote",
  "enable-v2",
  "enable-log-rotation",
  "enable-pprof",
]);

const OWN = new Map(MEMBER_FLAGS.map((f) => [f.name, f]));

/** Our spec of `name`, if it is one of our flags. */
export function memberFlag(name: string): FlagSpec | undefined {
  return OWN.get(name);
}

/** The policy for an etcd flag we do not implement; undefined for ours and unknown ones. */
export function foreignFlagPolicy(name: string): ForeignFlagPolicy | undefined {
  const p = ETCD_FOREIGN_FLAGS.get(name);
  if (p !== undefined) return p;
  return name.startsWith("experimental-") && !OWN.has(name) ? "ignored" : undefined;
}

/** `data-dir` → `DATA_DIR`. */
export function envSuffix(flag: string): string {
  return flag.toUpperCase().replaceAll("-", "_");
}

/** `DATA_DIR` → `data-dir`. */
export function flagFromEnvSuffix(suffix: string): string {
  return suffix.toLowerCase().replaceAll("_", "-");
}
