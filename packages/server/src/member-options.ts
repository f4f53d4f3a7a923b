/**
 * What a member needs to start, independent of where it came from (command-line flags,
 * environment, YAML config file, or a test building it directly). The CLI (cli/) parses
 * etcd's flag names into this; `Member.start(options)` consumes it.
 */
import type { TlsOptions } from "./tls/tls-options.js";

export type { TlsOptions } from "./tls/tls-options.js";

export interface MemberOptions {
  /** Human-readable name, unique in the cluster (etcd --name). Default "default". */
  name: string;
  /** Directory holding this member's RocksDB (etcd --data-dir). */
  dataDir: string;
  /** URLs to listen on for client traffic, e.g. ["http://127.0.0.1:2379"]. */
  listenClientUrls: string[];
  /** Client URLs advertised to the rest of the cluster and to clients. */
  advertiseClientUrls: string[];
  /** URLs to listen on for peer traffic. */
  listenPeerUrls: string[];
  /** This member's peer URLs as the others reach them. */
  initialAdvertisePeerUrls: string[];
  /** The bootstrap cluster: name → peer URLs (etcd --initial-cluster "a=http://..,b=.."). */
  initialCluster: Map<string, string[]>;
  initialClusterState: "new" | "existing";
  /** Seeds the cluster id and member ids (etcd --initial-cluster-token). */
  initialClusterToken: string;
  /** Extra HTTP listeners for /metrics, /health, /readyz, /livez, /version. */
  listenMetricsUrls: string[];
  /** Milliseconds between raft ticks / leader heartbeats. Default 100. */
  heartbeatIntervalMs: number;
  /** Milliseconds of silence before a follower campaigns. Default 1000. */
  electionTimeoutMs: number;
  /** Applied entries between raft snapshots (log compaction). Default 100000. */
  snapshotCount: number;
  /** Backend size that raises the NOSPACE alarm. Default 2 GiB. */
  quotaBackendBytes: number;
  /** Largest client request accepted. Default 1.5 MiB. */
  maxRequestBytes: number;
  /**
   * Interval of watch progress notifications (etcd
   * --experimental-watch-progress-notify-interval). Default: 10 minutes.
   */
  watchProgressNotifyIntervalMs?: number | undefined;
  /**
   * How often the leader checkpoints lease TTLs (etcd 3.5
   * --experimental-lease-checkpoint-interval). Default: 5 minutes.
   */
  leaseCheckpointIntervalMs?: number | undefined;
  /**
   * Most concurrent HTTP/2 streams (calls) per client connection (etcd
   * --max-concurrent-streams). More wait in the client until a stream ends. Default
   * 2^32-1, etcd's (no limit).
   */
  maxConcurrentStreams: number;
  /** Most compares, success ops or failure ops in one txn (etcd --max-txn-ops). Default 128. */
  maxTxnOps: number;
  /**
   * Largest Range or read-only Txn answer, counted as KeyValue bytes plus a fixed cost per
   * KeyValue (beyond etcd, which has no limit). Larger reads fail with RESOURCE_EXHAUSTED
   * before they are collected. Default 256 MiB.
   */
  maxResponseBytes: number;
  /**
   * Most proposals (writes, lease grants, ...) of this member waiting to be applied
   * (beyond etcd). More fail at once with "etcdserver: too many requests". Default 10000.
   */
  maxPendingProposals: number;
  /** Most encoded bytes of those waiting proposals (beyond etcd). Default 256 MiB. */
  maxPendingProposalBytes: number;
  /** Learners promote themselves once caught up (beyond etcd). Default false. */
  autoPromote: boolean;
  /** Auth token kind: "simple" or "jwt,pub-key=...,priv-key=...,sign-method=..." (etcd). */
  authToken: string;
  /** Password hashing cost (etcd --bcrypt-cost, 4..31; auth/password.ts). Default 10. */
  bcryptCost: number;
  /** Seconds a simple token lives after its last use (etcd --auth-token-ttl). Default 300. */
  authTokenTtl: number;
  /** pino log level. Default "info" for the process, "silent" for tests. */
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** TLS of the https:// client URLs (required when there is one). */
  clientTls?: TlsOptions;
  /** TLS of the https:// peer URLs: this member's listeners and its dials to peers. */
  peerTls?: TlsOptions;
}

/** etcd's defaults, where the concept is the same. */
export const DEFAULT_MEMBER_OPTIONS: Readonly<
  Omit<MemberOptions, "initialCluster" | "dataDir" | "name">
> = {
  listenClientUrls: ["http://127.0.0.1:2379"],
  advertiseClientUrls: ["http://127.0.0.1:2379"],
  listenPeerUrls: ["http://127.0.0.1:2380"],
  initialAdvertisePeerUrls: ["http://127.0.0.1:2380"],
  initialClusterState: "new",
  initialClusterToken: "etcd-cluster",
  listenMetricsUrls: [],
  heartbeatIntervalMs: 100,
  electionTimeoutMs: 1000,
  snapshotCount: 100_000,
  quotaBackendBytes: 2 * 1024 * 1024 * 1024,
  maxRequestBytes: 1.5 * 1024 * 1024,
  maxConcurrentStreams: 2 ** 32 - 1,
  maxTxnOps: 128,
  maxResponseBytes: 256 * 1024 * 1024,
  maxPendingProposals: 10_000,
  maxPendingProposalBytes: 256 * 1024 * 1024,
  autoPromote: false,
  authToken: "simple",
  bcryptCost: 10,
  authTokenTtl: 300,
  logLevel: "info",
};
