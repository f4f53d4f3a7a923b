/**
 * Maintenance calls (`client.maintenance`): status and health of endpoints, alarms,
 * defragmentation, KV hashes, leader transfer and snapshots. Calls that concern one
 * member take its endpoint (as given to the client); without it they use the pinned
 * endpoint.
 *
 * @module
 */
import { etcdserverpb } from "@chainfire/api";
import { hexId } from "./bytes.js";
import type { Connection } from "./connection-pool.js";
import { ClientError, PermissionDeniedError } from "./errors.js";
import { type Header, rangeRequest, toHeader } from "./kv.js";
import {
  openSnapshot,
  type SnapshotOptions,
  type SnapshotResult,
  saveSnapshot,
} from "./snapshot.js";
import type { CallOptions, CallPolicy, Invoke, Transport } from "./transport.js";

/** What `Status` reports about one member. */
export interface StatusResult {
  /** The endpoint asked. */
  endpoint: string;
  header: Header;
  /** The member's server version. */
  version: string;
  /** Size of the backend database (bytes). */
  dbSize: bigint;
  /** Bytes of the database in use (the rest is free pages; defragment reclaims them). */
  dbSizeInUse: bigint;
  /** The leader's member id (0 when there is none). */
  leader: bigint;
  raftIndex: bigint;
  raftTerm: bigint;
  raftAppliedIndex: bigint;
  /** Alarm and other error texts. */
  errors: string[];
  isLearner: boolean;
}

/** One endpoint's answer, or why there was none. */
export type EndpointResult<T> =
  | { endpoint: string; ok: true; value: T }
  | { endpoint: string; ok: false; error: Error };

/** The health of one endpoint, as `etcdctl endpoint health` decides it. */
export interface HealthResult {
  endpoint: string;
  /** The member answered a linearizable read (or refused it for permissions) and has no alarm. */
  healthy: boolean;
  /** How long the check took (ms). */
  tookMs: number;
  /** Why it is unhealthy. */
  error?: string;
}

/** The kinds of alarm. */
export type AlarmKind = "NOSPACE" | "CORRUPT" | "NONE";

/** An alarm raised by a member. */
export interface Alarm {
  memberId: bigint;
  alarm: AlarmKind;
}

/** A hash of the KV store at a revision (to compare members). */
export interface HashKVResult {
  endpoint: string;
  header: Header;
  hash: number;
  compactRevision: bigint;
}

function alarmName(a: etcdserverpb.AlarmType): AlarmKind {
  if (a === etcdserverpb.AlarmType.NOSPACE) return "NOSPACE";
  if (a === etcdserverpb.AlarmType.CORRUPT) return "CORRUPT";
  return "NONE";
}

function alarmType(a: AlarmKind): etcdserverpb.AlarmType {
  if (a === "NOSPACE") return etcdserverpb.AlarmType.NOSPACE;
  if (a === "CORRUPT") return etcdserverpb.AlarmType.CORRUPT;
  return etcdserverpb.AlarmType.NONE;
}

/** The maintenance calls of a client. */
export class MaintenanceApi {
  constructor(private readonly transport: Transport) {}

  /** The endpoints the client was given. */
  get endpoints(): string[] {
    return this.transport.pool.connections.map((c) => c.url);
  }

  private connection(endpoint: string | undefined): Connection | undefined {
    if (endpoint === undefined) return undefined;
    const conn = this.transport.pool.find(endpoint);
    if (!conn) throw new ClientError(`chainfire: ${endpoint} is not one of the client's endpoints`);
    return conn;
  }

  private call<T>(
    invoke: Invoke<T>,
    policy: Omit<CallPolicy, "connection">,
    endpoint: string | undefined,
    options?: CallOptions,
  ): Promise<T> {
    return this.transport.unary(
      invoke,
      { ...policy, connection: this.connection(endpoint) },
      options,
    );
  }

  /** The status of one member (default: the pinned endpoint). */
  async status(endpoint?: string, options?: CallOptions): Promise<StatusResult> {
    let used = endpoint ?? "";
    const r = await this.call<etcdserverpb.StatusResponse>(
      (s, md, o, cb) => s.maintenance.status({}, md, o, cb),
      { idempotent: true, requireLeader: false, onAnswer: (c) => void (used = c.url) },
      endpoint,
      options,
    );
    return {
      endpoint: used,
      header: toHeader(r.header),
      version: r.version,
      dbSize: r.dbSize,
      dbSizeInUse: r.dbSizeInUse,
      leader: r.leader,
      raftIndex: r.raftIndex,
      raftTerm: r.raftTerm,
      raftAppliedIndex: r.raftAppliedIndex,
      errors: r.errors,
      isLearner: r.isLearner,
    };
  }

  /** The status of every endpoint, in parallel; failures are reported per endpoint. */
  statusAll(options?: CallOptions): Promise<EndpointResult<StatusResult>[]> {
    return this.eachEndpoint((e) => this.status(e, options));
  }

  /**
   * Whether one member is healthy, as `etcdctl endpoint health` decides: a
   * linearizable read of the key "health" succeeds (or is refused for permissions),
   * and no alarm is raised.
   */
  async health(endpoint?: string, options?: CallOptions): Promise<HealthResult> {
    const start = Date.now();
    const name = endpoint ?? this.transport.pool.pick().url;
    try {
      try {
        await this.call(
          (s, md, o, cb) => s.kv.range(rangeRequest("health"), md, o, cb),
          { idempotent: false, requireLeader: false },
          name,
          { timeoutMs: this.transport.settings.dialTimeoutMs, ...options },
        );
      } catch (error) {
        if (!(error instanceof PermissionDeniedError)) throw error;
      }
      const alarms = await this.alarms({
        timeoutMs: this.transport.settings.dialTimeoutMs,
        ...options,
        endpoint: name,
      });
      if (alarms.length > 0) {
        const text = alarms.map((a) => `memberID:${hexId(a.memberId)} alarm:${a.alarm}`).join(", ");
        return {
          endpoint: name,
          healthy: false,
          tookMs: Date.now() - start,
          error: `Active Alarm(s): ${text}`,
        };
      }
      return { endpoint: name, healthy: true, tookMs: Date.now() - start };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return { endpoint: name, healthy: false, tookMs: Date.now() - start, error: message };
    }
  }

  /** The health of every endpoint, in parallel. */
  async healthAll(options?: CallOptions): Promise<HealthResult[]> {
    return Promise.all(this.endpoints.map((e) => this.health(e, options)));
  }

  /** The alarms raised in the cluster. */
  async alarms(options: CallOptions & { endpoint?: string } = {}): Promise<Alarm[]> {
    const r = await this.call<etcdserverpb.AlarmResponse>(
      (s, md, o, cb) =>
        s.maintenance.alarm(
          etcdserverpb.AlarmRequest.fromPartial({
            action: etcdserverpb.AlarmRequest_AlarmAction.GET,
          }),
          md,
          o,
          cb,
        ),
      { idempotent: true, requireLeader: false },
      options.endpoint,
      options,
    );
    return r.alarms.map((a) => ({ memberId: a.memberID, alarm: alarmName(a.alarm) }));
  }

  /**
   * Clears alarms: the given one, or (without an argument) every alarm currently
   * raised, as `etcdctl alarm disarm` does. Returns the alarms cleared.
   */
  async disarm(alarm?: Alarm, options?: CallOptions): Promise<Alarm[]> {
    const targets = alarm ? [alarm] : await this.alarms(options);
    const cleared: Alarm[] = [];
    for (const a of targets) {
      const r = await this.call<etcdserverpb.AlarmResponse>(
        (s, md, o, cb) =>
          s.maintenance.alarm(
            etcdserverpb.AlarmRequest.fromPartial({
              action: etcdserverpb.AlarmRequest_AlarmAction.DEACTIVATE,
              memberID: a.memberId,
              alarm: alarmType(a.alarm),
            }),
            md,
            o,
            cb,
          ),
        { idempotent: true, requireLeader: true },
        undefined,
        options,
      );
      cleared.push(...r.alarms.map((x) => ({ memberId: x.memberID, alarm: alarmName(x.alarm) })));
    }
    return cleared;
  }

  /**
   * Defragments one member's backend (it stops serving while it runs). The default
   * timeout is 5 minutes.
   */
  async defragment(endpoint?: string, options: CallOptions = {}): Promise<void> {
    await this.call(
      (s, md, o, cb) => s.maintenance.defragment({}, md, o, cb),
      { idempotent: true, requireLeader: false },
      endpoint,
      { timeoutMs: 300_000, ...options },
    );
  }

  /** The hash of one member's KV store up to `revision` (0: latest). */
  async hashKV(
    endpoint?: string,
    revision: bigint = 0n,
    options?: CallOptions,
  ): Promise<HashKVResult> {
    const name = endpoint ?? this.transport.pool.pick().url;
    const r = await this.call<etcdserverpb.HashKVResponse>(
      (s, md, o, cb) => s.maintenance.hashKv({ revision }, md, o, cb),
      { idempotent: true, requireLeader: false },
      name,
      options,
    );
    return {
      endpoint: name,
      header: toHeader(r.header),
      hash: r.hash,
      compactRevision: r.compactRevision,
    };
  }

  /**
   * Transfers leadership to `targetId`. Like etcdctl, it finds the leader among the
   * client's endpoints (by Status) and asks it, since only the leader can do this.
   */
  async moveLeader(targetId: bigint, options?: CallOptions): Promise<Header> {
    const statuses = await this.statusAll(options);
    const leader = statuses.find(
      (s) => s.ok && s.value.leader !== 0n && s.value.leader === s.value.header.memberId,
    );
    if (!leader?.ok) {
      throw new ClientError(
        "chainfire: move-leader: the leader is not among the client's endpoints",
      );
    }
    const r = await this.call<etcdserverpb.MoveLeaderResponse>(
      (s, md, o, cb) => s.maintenance.moveLeader({ targetID: targetId }, md, o, cb),
      { idempotent: false, requireLeader: false },
      leader.endpoint,
      options,
    );
    return toHeader(r.header);
  }

  /**
   * A snapshot of one member's backend as a stream of chunks: the bytes etcd sends,
   * ending with the SHA-256 of what precedes it (so `etcdctl snapshot status` and
   * `restore` accept the file). The stream fails with `SnapshotIntegrityError` if the
   * trailer does not match.
   */
  snapshot(options: SnapshotOptions = {}): AsyncIterable<Buffer> {
    return openSnapshot(this.transport, this.connection(options.endpoint), options);
  }

  /**
   * Saves a snapshot to `path` (written to `path.part`, fsynced, then renamed, as
   * etcdctl does), checking its SHA-256 trailer.
   */
  snapshotToFile(path: string, options: SnapshotOptions = {}): Promise<SnapshotResult> {
    return saveSnapshot(this.snapshot(options), path);
  }

  private async eachEndpoint<T>(
    fn: (endpoint: string) => Promise<T>,
  ): Promise<EndpointResult<T>[]> {
    return Promise.all(
      this.endpoints.map(async (endpoint): Promise<EndpointResult<T>> => {
        try {
          return { endpoint, ok: true, value: await fn(endpoint) };
        } catch (error) {
          return {
            endpoint,
            ok: false,
            error: error instanceof Error ? error : new Error(String(error)),
          };
        }
      }),
    );
  }
}
