/**
 * The SDK's error classes.
 *
 * Everything a member (or the gRPC transport) answered with a status is an
 * {@link EtcdError} from `@chainfire/api` — so `isEtcdError(err, ErrCompacted)` works —
 * and, more precisely, an instance of one class per gRPC status code
 * ({@link InvalidArgumentError}, {@link UnavailableError}, ...) or of a subclass for the
 * etcd errors applications handle ({@link CompactedError}, {@link LeaseNotFoundError},
 * {@link NoLeaderError}, {@link PermissionDeniedError}, ...). Messages are etcd's, byte
 * for byte. Failures that happen in the client itself (closed client, abort, a lost
 * lease, an election you do not lead) extend {@link ClientError}.
 *
 * @module
 */
import {
  ErrAuthFailed,
  ErrAuthNotEnabled,
  ErrCompacted,
  ErrDuplicateKey,
  ErrEmptyKey,
  ErrFutureRev,
  ErrInvalidAuthToken,
  ErrKeyNotFound,
  ErrLeaderChanged,
  ErrLeaseExist,
  ErrLeaseNotFound,
  ErrLeaseTTLTooLarge,
  ErrMemberNotFound,
  ErrNoLeader,
  ErrNoSpace,
  ErrNotLeader,
  ErrNotSupportedForLearner,
  ErrPermissionDenied,
  ErrRequestTooLarge,
  ErrTimeout,
  ErrTimeoutDueToConnectionLost,
  ErrTimeoutDueToLeaderFail,
  ErrTooManyOps,
  ErrTooManyRequests,
  EtcdError,
  type EtcdErrorSpec,
  etcdErrorFromStatus,
  type GrpcStatusCode,
} from "@chainfire/api";
import { status } from "@grpc/grpc-js";

type ErrorOptions = { cause?: unknown };

// --- one class per gRPC status code ------------------------------------------------

/** A request the member refused as malformed (INVALID_ARGUMENT). */
export class InvalidArgumentError extends EtcdError {
  override name = "InvalidArgumentError";
}
/** A revision or TTL outside what the member accepts (OUT_OF_RANGE). */
export class OutOfRangeError extends EtcdError {
  override name = "OutOfRangeError";
}
/** The member is out of space or too busy (RESOURCE_EXHAUSTED). */
export class ResourceExhaustedError extends EtcdError {
  override name = "ResourceExhaustedError";
}
/** The lease or member named does not exist (NOT_FOUND). */
export class NotFoundError extends EtcdError {
  override name = "NotFoundError";
}
/** The cluster is not in a state that allows the request (FAILED_PRECONDITION). */
export class FailedPreconditionError extends EtcdError {
  override name = "FailedPreconditionError";
}
/** The authenticated user may not do this (PERMISSION_DENIED). */
export class PermissionDeniedError extends EtcdError {
  override name = "PermissionDeniedError";
}
/** The request carried no valid credentials (UNAUTHENTICATED). */
export class UnauthenticatedError extends EtcdError {
  override name = "UnauthenticatedError";
}
/**
 * The member (or the connection to it) cannot serve right now (UNAVAILABLE): no leader,
 * a leader change, a timeout inside the cluster, a stopped member, or a connection
 * failure. Reads are retried on another member automatically; a write that fails with
 * this error may or may not have been applied.
 */
export class UnavailableError extends EtcdError {
  override name = "UnavailableError";
}
/** The member detected data corruption (DATA_LOSS). */
export class DataLossError extends EtcdError {
  override name = "DataLossError";
}
/** The call's deadline passed before an answer arrived (DEADLINE_EXCEEDED). */
export class DeadlineExceededError extends EtcdError {
  override name = "DeadlineExceededError";
}
/** The member canceled the request (CANCELLED). */
export class CanceledError extends EtcdError {
  override name = "CanceledError";
}
/** A status code that has no class of its own (UNKNOWN, INTERNAL, UNIMPLEMENTED, ...). */
export class OtherStatusError extends EtcdError {
  override name = "OtherStatusError";
}

// --- the etcd errors applications handle ----------------------------------------------

/** "etcdserver: key is not provided". */
export class EmptyKeyError extends InvalidArgumentError {
  override name = "EmptyKeyError";
}
/** "etcdserver: key not found" (a put with ignoreValue/ignoreLease on a missing key). */
export class KeyNotFoundError extends InvalidArgumentError {
  override name = "KeyNotFoundError";
}
/** "etcdserver: too many operations in txn request". */
export class TooManyOpsError extends InvalidArgumentError {
  override name = "TooManyOpsError";
}
/** "etcdserver: duplicate key given in txn request". */
export class DuplicateKeyError extends InvalidArgumentError {
  override name = "DuplicateKeyError";
}
/** "etcdserver: request is too large". */
export class RequestTooLargeError extends InvalidArgumentError {
  override name = "RequestTooLargeError";
}
/** "etcdserver: authentication failed, invalid user ID or password". */
export class AuthFailedError extends InvalidArgumentError {
  override name = "AuthFailedError";
}
/** "etcdserver: mvcc: required revision has been compacted". */
export class CompactedError extends OutOfRangeError {
  override name = "CompactedError";
}
/**
 * A watch asked for history that compaction removed: events from its start revision
 * on no longer exist. `compactRevision` is the oldest revision still available; watch
 * again from it (and re-read state) to continue.
 */
export class WatchCompactedError extends CompactedError {
  override name = "WatchCompactedError";
  constructor(
    /** The cluster's compact revision when the watch was refused. */
    readonly compactRevision: bigint,
    options?: ErrorOptions,
  ) {
    super(ErrCompacted.code, ErrCompacted.message, options);
  }
}
/** "etcdserver: mvcc: required revision is a future revision". */
export class FutureRevisionError extends OutOfRangeError {
  override name = "FutureRevisionError";
}
/** "etcdserver: too large lease TTL". */
export class LeaseTTLTooLargeError extends OutOfRangeError {
  override name = "LeaseTTLTooLargeError";
}
/** "etcdserver: mvcc: database space exceeded" (the NOSPACE alarm is raised). */
export class NoSpaceError extends ResourceExhaustedError {
  override name = "NoSpaceError";
}
/** "etcdserver: too many requests". */
export class TooManyRequestsError extends ResourceExhaustedError {
  override name = "TooManyRequestsError";
}
/** "etcdserver: requested lease not found". */
export class LeaseNotFoundError extends NotFoundError {
  override name = "LeaseNotFoundError";
}
/** "etcdserver: member not found". */
export class MemberNotFoundError extends NotFoundError {
  override name = "MemberNotFoundError";
}
/** "etcdserver: lease already exists". */
export class LeaseExistsError extends FailedPreconditionError {
  override name = "LeaseExistsError";
}
/** "etcdserver: authentication is not enabled". */
export class AuthNotEnabledError extends FailedPreconditionError {
  override name = "AuthNotEnabledError";
}
/** "etcdserver: not leader" (a request that only the leader serves, e.g. MoveLeader). */
export class NotLeaderError extends FailedPreconditionError {
  override name = "NotLeaderError";
}
/** "etcdserver: invalid auth token" (the SDK re-authenticates once before raising it). */
export class InvalidAuthTokenError extends UnauthenticatedError {
  override name = "InvalidAuthTokenError";
}
/** "etcdserver: no leader". */
export class NoLeaderError extends UnavailableError {
  override name = "NoLeaderError";
}
/** "etcdserver: leader changed". */
export class LeaderChangedError extends UnavailableError {
  override name = "LeaderChangedError";
}
/** "etcdserver: request timed out" and its variants (the outcome of a write is unknown). */
export class RequestTimeoutError extends UnavailableError {
  override name = "RequestTimeoutError";
}
/** "etcdserver: rpc not supported for learner". */
export class NotSupportedForLearnerError extends UnavailableError {
  override name = "NotSupportedForLearnerError";
}

type EtcdErrorClass = new (
  code: GrpcStatusCode,
  message: string,
  options?: ErrorOptions,
) => EtcdError;

const bySpec = new Map<EtcdErrorSpec, EtcdErrorClass>([
  [ErrEmptyKey, EmptyKeyError],
  [ErrKeyNotFound, KeyNotFoundError],
  [ErrTooManyOps, TooManyOpsError],
  [ErrDuplicateKey, DuplicateKeyError],
  [ErrRequestTooLarge, RequestTooLargeError],
  [ErrAuthFailed, AuthFailedError],
  [ErrCompacted, CompactedError],
  [ErrFutureRev, FutureRevisionError],
  [ErrLeaseTTLTooLarge, LeaseTTLTooLargeError],
  [ErrNoSpace, NoSpaceError],
  [ErrTooManyRequests, TooManyRequestsError],
  [ErrLeaseNotFound, LeaseNotFoundError],
  [ErrMemberNotFound, MemberNotFoundError],
  [ErrLeaseExist, LeaseExistsError],
  [ErrAuthNotEnabled, AuthNotEnabledError],
  [ErrNotLeader, NotLeaderError],
  [ErrPermissionDenied, PermissionDeniedError],
  [ErrInvalidAuthToken, InvalidAuthTokenError],
  [ErrNoLeader, NoLeaderError],
  [ErrLeaderChanged, LeaderChangedError],
  [ErrTimeout, RequestTimeoutError],
  [ErrTimeoutDueToLeaderFail, RequestTimeoutError],
  [ErrTimeoutDueToConnectionLost, RequestTimeoutError],
  [ErrNotSupportedForLearner, NotSupportedForLearnerError],
]);

const byCode = new Map<number, EtcdErrorClass>([
  [status.INVALID_ARGUMENT, InvalidArgumentError],
  [status.OUT_OF_RANGE, OutOfRangeError],
  [status.RESOURCE_EXHAUSTED, ResourceExhaustedError],
  [status.NOT_FOUND, NotFoundError],
  [status.FAILED_PRECONDITION, FailedPreconditionError],
  [status.PERMISSION_DENIED, PermissionDeniedError],
  [status.UNAUTHENTICATED, UnauthenticatedError],
  [status.UNAVAILABLE, UnavailableError],
  [status.DATA_LOSS, DataLossError],
  [status.DEADLINE_EXCEEDED, DeadlineExceededError],
  [status.CANCELLED, CanceledError],
]);

/** The class the SDK uses for an etcd error from the table (for `instanceof` checks). */
export function errorClassFor(spec: EtcdErrorSpec): EtcdErrorClass {
  return bySpec.get(spec) ?? byCode.get(spec.code) ?? OtherStatusError;
}

/**
 * Turns a gRPC status (a grpc-js `ServiceError`, or `{ code, details }`) into the
 * SDK's typed error: etcd's own errors by their exact text, others by their code.
 * `where` (an endpoint) is added to messages that are not etcd's, so that a transport
 * failure says which member it concerns.
 */
export function fromStatus(
  s: { code: number; details?: string; message?: string },
  where?: string,
): EtcdError {
  const cause = s instanceof Error ? s : undefined;
  const etcd = etcdErrorFromStatus(s);
  if (etcd !== undefined) {
    const Class = etcd.spec
      ? errorClassFor(etcd.spec)
      : (byCode.get(etcd.code) ?? OtherStatusError);
    return new Class(etcd.code, etcd.message, { cause });
  }
  const Class = byCode.get(s.code) ?? OtherStatusError;
  const text = s.details || s.message || `gRPC status ${s.code}`;
  return new Class(s.code as GrpcStatusCode, where ? `${where}: ${text}` : text, { cause });
}

/** Whether `err` looks like a grpc-js `ServiceError` (has a numeric `code`). */
export function isStatusLike(
  err: unknown,
): err is { code: number; details?: string; message?: string } {
  return (
    typeof err === "object" && err !== null && typeof (err as { code?: unknown }).code === "number"
  );
}

// --- errors raised by the client itself ---------------------------------------------

/** Base of the errors the SDK raises itself (not answered by a member). */
export class ClientError extends Error {
  override name = "ClientError";
}

/** The client (or the object used) was closed. */
export class ClientClosedError extends ClientError {
  override name = "ClientClosedError";
  constructor(what = "client") {
    super(`chainfire: ${what} is closed`);
  }
}

/** The operation was aborted through its `AbortSignal`; `cause` is the signal's reason. */
export class AbortError extends ClientError {
  override name = "AbortError";
  constructor(reason?: unknown) {
    super("chainfire: operation aborted", { cause: reason });
  }
}

/** The reason a {@link LeaseLostError} gives. */
export type LeaseLostReason = "expired" | "revoked" | "keepalive-timeout";

/**
 * A lease that was being kept alive is gone: the member reported it expired (or it
 * was revoked), or no keep-alive succeeded before its TTL ran out. Keys attached to
 * it are (or soon will be) deleted.
 */
export class LeaseLostError extends ClientError {
  override name = "LeaseLostError";
  constructor(
    /** The lease. */
    readonly leaseId: bigint,
    /** Why it is considered lost. */
    readonly reason: LeaseLostReason,
    options?: ErrorOptions,
  ) {
    super(`chainfire: lease ${leaseId.toString(16)} lost (${reason})`, options);
  }
}

/** A session's lease expired, so the lock or candidacy built on it is gone. */
export class SessionExpiredError extends ClientError {
  override name = "SessionExpiredError";
  constructor(options?: ErrorOptions) {
    super("chainfire: session expired", options);
  }
}

/** `proclaim` or a leader-only call from a candidate that is not (or no longer) leader. */
export class NotElectionLeaderError extends ClientError {
  override name = "NotElectionLeaderError";
  constructor() {
    super("chainfire: election: not leader");
  }
}

/** `leader()` on an election that has no leader. */
export class NoElectionLeaderError extends ClientError {
  override name = "NoElectionLeaderError";
  constructor() {
    super("chainfire: election: no leader");
  }
}

/** An STM transaction still conflicted after its last retry. */
export class STMConflictError extends ClientError {
  override name = "STMConflictError";
  constructor(readonly attempts: number) {
    super(`chainfire: stm: transaction conflicted ${attempts} times`);
  }
}

/** The server canceled a watch for a reason that is not an etcd error text. */
export class WatchCanceledError extends ClientError {
  override name = "WatchCanceledError";
  constructor(reason: string) {
    super(`chainfire: watch canceled by the server${reason ? `: ${reason}` : ""}`);
  }
}

/** A snapshot stream ended early or its SHA-256 trailer did not match its body. */
export class SnapshotIntegrityError extends ClientError {
  override name = "SnapshotIntegrityError";
}
