import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * One member's Prometheus metrics, named after etcd's where the concept is the same so that
 * existing etcd dashboards and alerts work unchanged. Each member owns its own Registry
 * (never prom-client's global one), so several members in one process do not collide.
 */
export class MemberMetrics {
  readonly registry = new Registry();

  /** 1 if the member currently has a leader, else 0. */
  readonly hasLeader = new Gauge({
    name: "etcd_server_has_leader",
    help: "Whether or not a leader exists. 1 is existence, 0 is not.",
    registers: [this.registry],
  });
  /** 1 if this member is the leader, else 0. */
  readonly isLeader = new Gauge({
    name: "etcd_server_is_leader",
    help: "Whether or not this member is a leader. 1 if is, 0 otherwise.",
    registers: [this.registry],
  });
  readonly isLearner = new Gauge({
    name: "etcd_server_is_learner",
    help: "Whether or not this member is a learner. 1 if is, 0 otherwise.",
    registers: [this.registry],
  });
  readonly leaderChanges = new Counter({
    name: "etcd_server_leader_changes_seen_total",
    help: "The number of leader changes seen.",
    registers: [this.registry],
  });
  /** A gauge in etcd too: the committed index as seen by this member. */
  readonly proposalsCommitted = new Gauge({
    name: "etcd_server_proposals_committed_total",
    help: "The total number of consensus proposals committed.",
    registers: [this.registry],
  });
  readonly proposalsApplied = new Gauge({
    name: "etcd_server_proposals_applied_total",
    help: "The total number of consensus proposals applied.",
    registers: [this.registry],
  });
  readonly proposalsPending = new Gauge({
    name: "etcd_server_proposals_pending",
    help: "The current number of pending proposals to commit.",
    registers: [this.registry],
  });
  readonly proposalsFailed = new Counter({
    name: "etcd_server_proposals_failed_total",
    help: "The total number of failed proposals seen.",
    registers: [this.registry],
  });
  readonly serverId = new Gauge({
    name: "etcd_server_id",
    help: "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
    labelNames: ["server_id"],
    registers: [this.registry],
  });
  readonly serverVersion = new Gauge({
    name: "etcd_server_version",
    help: "Which version is running. 1 for 'server_version' label with current version.",
    labelNames: ["server_version"],
    registers: [this.registry],
  });
  /** Around every synced write of the raft log (etcd's WAL fsync). */
  readonly walFsync = new Histogram({
    name: "etcd_disk_wal_fsync_duration_seconds",
    help: "The latency distributions of fsync called by WAL.",
    buckets: exponentialBuckets(0.001, 2, 14),
    registers: [this.registry],
  });
  /** Around every apply write batch (etcd's backend commit). */
  readonly backendCommit = new Histogram({
    name: "etcd_disk_backend_commit_duration_seconds",
    help: "The latency distributions of commit called by backend.",
    buckets: exponentialBuckets(0.001, 2, 14),
    registers: [this.registry],
  });
  readonly dbTotalSize = new Gauge({
    name: "etcd_mvcc_db_total_size_in_bytes",
    help: "Total size of the underlying database physically allocated in bytes.",
    registers: [this.registry],
  });
  readonly dbTotalSizeInUse = new Gauge({
    name: "etcd_mvcc_db_total_size_in_use_in_bytes",
    help: "Total size of the underlying database logically in use in bytes.",
    registers: [this.registry],
  });
  /** RocksDB's background work (no etcd equivalent: bbolt has none). */
  readonly storageFlushes = new Gauge({
    name: "chainfire_storage_flushes_running",
    help: "RocksDB memtable flushes running now.",
    registers: [this.registry],
  });
  readonly storageCompactions = new Gauge({
    name: "chainfire_storage_compactions_running",
    help: "RocksDB compactions running now.",
    registers: [this.registry],
  });
  readonly storageWriteStall = new Gauge({
    name: "chainfire_storage_write_stall",
    help: "RocksDB write stall: 0 none, 1 writes delayed, 2 writes stopped.",
    registers: [this.registry],
  });
  /** --quota-backend-bytes (the NOSPACE alarm threshold; quota.ts). */
  readonly quotaBackendBytes = new Gauge({
    name: "etcd_server_quota_backend_bytes",
    help: "The backend size, in bytes, past which the member raises the NOSPACE alarm.",
    registers: [this.registry],
  });
  readonly peerRoundTrip = new Histogram({
    name: "etcd_network_peer_round_trip_time_seconds",
    help: "Round-Trip-Time histogram between peers",
    labelNames: ["To"],
    buckets: exponentialBuckets(0.0001, 2, 16),
    registers: [this.registry],
  });
  readonly peerSentBytes = new Counter({
    name: "etcd_network_peer_sent_bytes_total",
    help: "The total number of bytes sent to peers.",
    labelNames: ["To"],
    registers: [this.registry],
  });
  readonly peerReceivedBytes = new Counter({
    name: "etcd_network_peer_received_bytes_total",
    help: "The total number of bytes received from peers.",
    labelNames: ["From"],
    registers: [this.registry],
  });
  readonly peerSentFailures = new Counter({
    name: "etcd_network_peer_sent_failures_total",
    help: "The total number of send failures from peers.",
    labelNames: ["To"],
    registers: [this.registry],
  });
  readonly snapshotSaveTotal = new Histogram({
    name: "etcd_debugging_snap_save_total_duration_seconds",
    help: "The total latency distributions of save called by snapshot.",
    buckets: exponentialBuckets(0.001, 2, 14),
    registers: [this.registry],
  });
  /** GET /health answers (etcd counts them under these names). */
  readonly healthSuccess = new Counter({
    name: "etcd_server_health_success",
    help: "The total number of successful health checks",
    registers: [this.registry],
  });
  readonly healthFailures = new Counter({
    name: "etcd_server_health_failures",
    help: "The total number of failed health checks",
    registers: [this.registry],
  });
  /** go-grpc-prometheus names: what the etcd dashboards use for request rates. */
  readonly grpcStarted = new Counter({
    name: "grpc_server_started_total",
    help: "Total number of RPCs started on the server.",
    labelNames: ["grpc_type", "grpc_service", "grpc_method"],
    registers: [this.registry],
  });
  readonly grpcHandled = new Counter({
    name: "grpc_server_handled_total",
    help: "Total number of RPCs completed on the server, regardless of success or failure.",
    labelNames: ["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
    registers: [this.registry],
  });

  constructor(opts: { memberId?: bigint; version?: string; defaultMetrics?: boolean } = {}) {
    if (opts.memberId !== undefined) this.serverId.set({ server_id: hex(opts.memberId) }, 1);
    if (opts.version !== undefined) this.serverVersion.set({ server_version: opts.version }, 1);
    // process_resident_memory_bytes and friends, as etcd's Go client library exports them.
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** The text exposition format, for GET /metrics. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

function exponentialBuckets(start: number, factor: number, count: number): number[] {
  const out: number[] = [];
  for (let i = 0, v = start; i < count; i++, v *= factor) out.push(Number(v.toPrecision(6)));
  return out;
}

function hex(id: bigint): string {
  return id.toString(16);
}
