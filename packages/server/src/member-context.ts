/**
 * MemberContext: what the client-facing gRPC services (services/*.ts), the HTTP endpoints
 * and the metrics see of a running member. The member (member.ts) implements it; services
 * receive it in `registerClientServices(server, ctx)` and never reach past it into raft or
 * the raft driver.
 *
 * Conventions:
 * - Every 64-bit protocol number (ids, revisions, terms, indexes) is a `bigint`.
 * - Methods that can fail for a client-visible reason reject with an `EtcdError` from
 *   `@chainfire/api` (etcd's gRPC code and exact message); services pass it to the
 *   callback unchanged. Anything else is a bug: log it and answer INTERNAL.
 * - Cancellation is an `AbortSignal` (the service wires the call's `cancelled` event to
 *   it); an aborted wait rejects with `ErrCanceled`.
 * - Events are typed functions returning a {@link Disposable}.
 */
import type { etcdserverpb, internalpb } from "@chainfire/api";
import type { LeaseStore, MvccStore, StateSnapshot } from "@chainfire/storage";
import type { Logger } from "pino";
import type { AuthenticateResult } from "./auth/apply-auth.js";
import type { MemberAuth } from "./auth/member-auth.js";
import type { LessorApplyResult } from "./lease/apply-lessor.js";
import type { Lessor } from "./lease/lessor.js";
import type { MemberOptions } from "./member-options.js";
import type { MemberMetrics } from "./metrics.js";

/** Something to release: a listener registration, a timer, ... Idempotent. */
export interface Disposable {
  dispose(): void;
}

/** A typed event: subscribe with a listener, unsubscribe with the returned disposable. */
export type Event<T> = (listener: (e: T) => void) => Disposable;

/** A replicated command (the data of a normal raft entry). */
export type InternalRequest = internalpb.InternalRequest;

/** The request part of an {@link InternalRequest} (`{ $case, value }`). */
export type ProposalRequest = NonNullable<internalpb.InternalRequest["request"]>;

/** The `$case` names of {@link ProposalRequest}. */
export type ProposalKind = ProposalRequest["$case"];

/**
 * What the apply of each request kind resolves a proposal with. The response header is
 * filled in (cluster_id, member_id, revision after the apply, raft_term).
 */
export interface ApplyResultMap {
  put: etcdserverpb.PutResponse;
  deleteRange: etcdserverpb.DeleteRangeResponse;
  txn: etcdserverpb.TxnResponse;
  compaction: etcdserverpb.CompactionResponse;
  leaseGrant: etcdserverpb.LeaseGrantResponse;
  leaseRevoke: etcdserverpb.LeaseRevokeResponse;
  leaseCheckpoint: etcdserverpb.LeaseCheckpointResponse;
  lessor: LessorApplyResult;
  alarm: etcdserverpb.AlarmResponse;
  memberAttrSet: Record<string, never>;
  authEnable: etcdserverpb.AuthEnableResponse;
  authDisable: etcdserverpb.AuthDisableResponse;
  authUserAdd: etcdserverpb.AuthUserAddResponse;
  authUserDelete: etcdserverpb.AuthUserDeleteResponse;
  authUserChangePassword: etcdserverpb.AuthUserChangePasswordResponse;
  authUserGrantRole: etcdserverpb.AuthUserGrantRoleResponse;
  authUserRevokeRole: etcdserverpb.AuthUserRevokeRoleResponse;
  authRoleAdd: etcdserverpb.AuthRoleAddResponse;
  authRoleDelete: etcdserverpb.AuthRoleDeleteResponse;
  authRoleGrantPermission: etcdserverpb.AuthRoleGrantPermissionResponse;
  authRoleRevokePermission: etcdserverpb.AuthRoleRevokePermissionResponse;
  authAuthenticate: AuthenticateResult;
}

/** The result type of proposing `R`. */
export type ApplyResultOf<R extends ProposalRequest> = R["$case"] extends keyof ApplyResultMap
  ? ApplyResultMap[R["$case"]]
  : unknown;

/** Maintenance.Status, as the member knows it. */
export interface MemberStatus {
  /** The leader's member id, 0n if none is known. */
  leader: bigint;
  /** The raft index of the last entry in this member's log. */
  raftIndex: bigint;
  raftTerm: bigint;
  raftAppliedIndex: bigint;
  /** Bytes the database takes on disk (approximate, RocksDB's estimate). */
  dbSize: bigint;
  /** Bytes of live data (approximate). */
  dbSizeInUse: bigint;
  isLearner: boolean;
  /** Alarm / health problems, as etcd's Status.errors ("memberID:... alarm:NOSPACE"). */
  errors: string[];
  /**
   * RocksDB's background work right now (metrics only): running flushes and compactions,
   * and the write stall (0 none, 1 writes delayed, 2 writes stopped). Absent while the
   * database is being swapped.
   */
  storage?: { flushes: number; compactions: number; writeStall: 0 | 1 | 2 };
}

/** One member of the cluster, as the applied membership knows it. */
export interface MemberInfo {
  id: bigint;
  /** Empty until the member has published its name (a joining member not started yet). */
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

/** A leader change as seen by this member (fired after the Ready that shows it). */
export interface LeaderChangeEvent {
  /** The new leader's id, 0n when this member knows of no leader. */
  leader: bigint;
  /** The previous leader's id, 0n if there was none. */
  previous: bigint;
  term: bigint;
  /** Whether this member is now the leader. */
  isLeader: boolean;
}

/** Entries applied by one Ready (fired after the batch holding them is written). */
export interface AppliedEvent {
  /** The applied index after this batch. */
  index: bigint;
  /** The MVCC revision after this batch. */
  revision: bigint;
}

/** See the module comment. */
export interface MemberContext {
  /** This member's id (etcd-compatible, see ids.ts). */
  readonly id: bigint;
  readonly clusterId: bigint;
  /** --name. */
  readonly name: string;
  readonly options: MemberOptions;
  /** The member's logger; services make children (`logger.child({ svc: "kv" })`). */
  readonly logger: Logger;
  /** Resolves once the member serves: raft started, transport up. */
  readonly ready: Promise<void>;
  /** Aborted when the member starts shutting down (long-lived streams end on it). */
  readonly stopping: AbortSignal;

  /**
   * The MVCC store (reads: `range`, `changes`, `hashKV`, `revision`; never write). Read
   * the property each time: installing a snapshot from the leader replaces the store.
   */
  readonly store: MvccStore;
  /** The lease table (reads only; writes go through {@link propose}). Read it each time. */
  readonly leases: LeaseStore;
  // --- Added by the CLI/services engineer (see README "Conventions") ---------------------
  /**
   * This member's Prometheus metrics: GET /metrics renders them and the gRPC handler
   * wrapper (services/interceptors.ts) counts requests into them. One per member.
   */
  readonly metrics: MemberMetrics;
  // --- end of addition ---------------------------------------------------------------------
  // --- Added by the lease engineer (see README "Conventions") ------------------------------
  /**
   * This member's lease manager (lease/lessor.ts): keep-alives and TimeToLive (served by
   * the leader, forwarded from other members); expiry and checkpoints on the leader.
   */
  readonly lessor: Lessor;
  // --- end of addition ---------------------------------------------------------------------
  // --- Added by the auth engineer ------------------------------------------------------------
  /**
   * Authentication and RBAC (auth/member-auth.ts): the replicated auth state (read only),
   * tokens, password hashing, and who sent a call.
   */
  readonly auth: MemberAuth;
  // --- end of addition ---------------------------------------------------------------------

  /**
   * A response header: cluster_id, member_id, raft_term, and `revision` (default: the
   * current MVCC revision).
   */
  header(revision?: bigint): etcdserverpb.ResponseHeader;
  /** Maintenance.Status fields. */
  status(): MemberStatus;
  /** The applied membership, by id ascending. */
  members(): MemberInfo[];
  /** The leader's id as this member knows it, 0n if none. */
  leader(): bigint;
  isLeader(): boolean;
  hasLeader(): boolean;
  /** Whether this member is a learner in the applied configuration. */
  isLearner(): boolean;
  /** The active alarms (Maintenance.Alarm GET). */
  alarms(): etcdserverpb.AlarmMember[];
  /** The current raft term. */
  term(): bigint;
  /** The durable applied index. */
  appliedIndex(): bigint;

  /**
   * Waits for a linearizable read point: a batched ReadIndex round confirms leadership,
   * then waits until this member has applied up to the read index. Reads after it see
   * every write acknowledged before the call. Rejects with ErrNoLeader / ErrTimeout /
   * ErrStopped / ErrCanceled.
   */
  readBarrier(signal?: AbortSignal): Promise<void>;

  /**
   * Replicates a command and resolves with its apply result once this member applied it
   * (DESIGN rule 4). The member assigns the cluster-unique request id. Rejects with the
   * apply's EtcdError (e.g. ErrLeaseNotFound) or ErrNoLeader / ErrTimeout /
   * ErrLeaderChanged / ErrStopped / ErrCanceled / ErrRequestTooLarge.
   */
  propose<R extends ProposalRequest>(request: R, signal?: AbortSignal): Promise<ApplyResultOf<R>>;

  /**
   * Resolves once the history removal of the last applied compaction has finished on this
   * member (KV.Compact with `physical`).
   */
  waitPhysicalCompaction(signal?: AbortSignal): Promise<void>;

  /** Fires when the known leader changes (including to "no leader"). */
  readonly onLeaderChange: Event<LeaderChangeEvent>;
  /** Fires after each batch of applied entries is written (watch feeding, metrics). */
  readonly onApplied: Event<AppliedEvent>;

  /**
   * A consistent state snapshot of this member, for Maintenance.Snapshot. The caller
   * must read or close its stream.
   */
  snapshot(): StateSnapshot;
  // --- Added by the maintenance engineer (issue 5) -------------------------------------------
  /**
   * Maintenance.Hash: a CRC-32 of this member's replicated key-value state (storage's
   * hashState: what it covers is documented there and in docs/operations.md) and the
   * revision it was taken at.
   */
  hash(): Promise<{ hash: number; revision: bigint }>;
  /**
   * Maintenance.Defragment: reclaims space without stopping the member (member-defrag.ts).
   * Rejects ErrTimeout when long reads keep the database busy, ErrStopped, ErrCanceled.
   */
  defragment(signal?: AbortSignal): Promise<void>;
  // --- end of addition ---------------------------------------------------------------------
  /**
   * Maintenance.MoveLeader: on the leader, transfers leadership to `transferee` and
   * resolves when it took over. Rejects ErrNotLeader (not leader), ErrBadLeaderTransferee
   * (not a voting member), ErrTimeout.
   */
  moveLeader(transferee: bigint, signal?: AbortSignal): Promise<void>;

  /**
   * Cluster.MemberAdd: proposes adding a member (voter or learner) with these peer URLs;
   * resolves with the new member once the change is applied here. Rejects
   * ErrPeerURLExist / ErrMemberBadURLs / ErrTooManyLearners / ErrNoLeader / ErrTimeout.
   */
  addMember(peerUrls: string[], isLearner: boolean, signal?: AbortSignal): Promise<MemberInfo>;
  /** Cluster.MemberRemove. Rejects ErrMemberNotFound / ErrMemberNotEnoughStarted / .... */
  removeMember(id: bigint, signal?: AbortSignal): Promise<void>;
  /** Cluster.MemberUpdate (peer URLs). Rejects ErrMemberNotFound / ErrPeerURLExist. */
  updateMember(id: bigint, peerUrls: string[], signal?: AbortSignal): Promise<void>;
  /** Cluster.MemberPromote. Rejects ErrMemberNotLearner / ErrMemberLearnerNotReady. */
  promoteMember(id: bigint, signal?: AbortSignal): Promise<void>;
}
