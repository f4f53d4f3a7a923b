/**
 * etcd's client-visible errors, as typed data.
 *
 * Clients recognise etcd errors by gRPC status code and by the exact message text
 * (Go's clientv3 maps the text back to its error values; the etcd3 npm client keys
 * its error classes on it). Every entry here therefore matches etcd v3.5's
 * `api/v3rpc/rpctypes/error.go` byte for byte. Names follow etcd's client-side
 * names there (`ErrGRPCCompacted` → `ErrCompacted`); where etcd has only a
 * server-side name, the `GRPC` infix is dropped.
 *
 * The server translates its failures into these in one table at its edge; the SDK
 * turns a received status back into an {@link EtcdError} with
 * {@link etcdErrorFromStatus}.
 *
 * @module
 */
import { status } from "@grpc/grpc-js";

/** A gRPC status code number (grpc-js's `status` enum). */
export type GrpcStatusCode = status;

/** One etcd error: its gRPC status code and its exact message. */
export interface EtcdErrorSpec {
  /** The constant's name, e.g. `"ErrCompacted"`. */
  readonly name: string;
  /** The gRPC status code the server answers with. */
  readonly code: GrpcStatusCode;
  /** The status message, byte for byte as etcd sends it. */
  readonly message: string;
}

function spec(name: string, code: GrpcStatusCode, message: string): EtcdErrorSpec {
  return Object.freeze({ name, code, message });
}

// --- requests --------------------------------------------------------------

export const ErrEmptyKey = spec(
  "ErrEmptyKey",
  status.INVALID_ARGUMENT,
  "etcdserver: key is not provided",
);
export const ErrKeyNotFound = spec(
  "ErrKeyNotFound",
  status.INVALID_ARGUMENT,
  "etcdserver: key not found",
);
export const ErrValueProvided = spec(
  "ErrValueProvided",
  status.INVALID_ARGUMENT,
  "etcdserver: value is provided",
);
export const ErrLeaseProvided = spec(
  "ErrLeaseProvided",
  status.INVALID_ARGUMENT,
  "etcdserver: lease is provided",
);
export const ErrTooManyOps = spec(
  "ErrTooManyOps",
  status.INVALID_ARGUMENT,
  "etcdserver: too many operations in txn request",
);
export const ErrDuplicateKey = spec(
  "ErrDuplicateKey",
  status.INVALID_ARGUMENT,
  "etcdserver: duplicate key given in txn request",
);
/**
 * An invalid sort order or sort target in a RangeRequest. Added in etcd v3.6; etcd
 * v3.5 does not check, but the text is the one v3.6 clients expect.
 */
export const ErrInvalidSortOption = spec(
  "ErrInvalidSortOption",
  status.INVALID_ARGUMENT,
  "etcdserver: invalid sort option",
);
export const ErrCompacted = spec(
  "ErrCompacted",
  status.OUT_OF_RANGE,
  "etcdserver: mvcc: required revision has been compacted",
);
export const ErrFutureRev = spec(
  "ErrFutureRev",
  status.OUT_OF_RANGE,
  "etcdserver: mvcc: required revision is a future revision",
);
export const ErrNoSpace = spec(
  "ErrNoSpace",
  status.RESOURCE_EXHAUSTED,
  "etcdserver: mvcc: database space exceeded",
);
export const ErrRequestTooLarge = spec(
  "ErrRequestTooLarge",
  status.INVALID_ARGUMENT,
  "etcdserver: request is too large",
);
export const ErrTooManyRequests = spec(
  "ErrTooManyRequests",
  status.RESOURCE_EXHAUSTED,
  "etcdserver: too many requests",
);

// --- leases ----------------------------------------------------------------

export const ErrLeaseNotFound = spec(
  "ErrLeaseNotFound",
  status.NOT_FOUND,
  "etcdserver: requested lease not found",
);
export const ErrLeaseExist = spec(
  "ErrLeaseExist",
  status.FAILED_PRECONDITION,
  "etcdserver: lease already exists",
);
export const ErrLeaseTTLTooLarge = spec(
  "ErrLeaseTTLTooLarge",
  status.OUT_OF_RANGE,
  "etcdserver: too large lease TTL",
);

// --- watch -----------------------------------------------------------------

export const ErrWatchCanceled = spec(
  "ErrWatchCanceled",
  status.CANCELLED,
  "etcdserver: watch canceled",
);

// --- membership ------------------------------------------------------------

export const ErrMemberExist = spec(
  "ErrMemberExist",
  status.FAILED_PRECONDITION,
  "etcdserver: member ID already exist",
);
export const ErrPeerURLExist = spec(
  "ErrPeerURLExist",
  status.FAILED_PRECONDITION,
  "etcdserver: Peer URLs already exists",
);
export const ErrMemberNotEnoughStarted = spec(
  "ErrMemberNotEnoughStarted",
  status.FAILED_PRECONDITION,
  "etcdserver: re-configuration failed due to not enough started members",
);
export const ErrMemberBadURLs = spec(
  "ErrMemberBadURLs",
  status.INVALID_ARGUMENT,
  "etcdserver: given member URLs are invalid",
);
export const ErrMemberNotFound = spec(
  "ErrMemberNotFound",
  status.NOT_FOUND,
  "etcdserver: member not found",
);
export const ErrMemberNotLearner = spec(
  "ErrMemberNotLearner",
  status.FAILED_PRECONDITION,
  "etcdserver: can only promote a learner member",
);
export const ErrMemberLearnerNotReady = spec(
  "ErrMemberLearnerNotReady",
  status.FAILED_PRECONDITION,
  "etcdserver: can only promote a learner member which is in sync with leader",
);
export const ErrTooManyLearners = spec(
  "ErrTooManyLearners",
  status.FAILED_PRECONDITION,
  "etcdserver: too many learner members in cluster",
);
/** Also used by the peer protocol to refuse a member of another cluster. */
export const ErrClusterIdMismatch = spec(
  "ErrClusterIdMismatch",
  status.FAILED_PRECONDITION,
  "etcdserver: cluster ID mismatch",
);

// --- auth ------------------------------------------------------------------

export const ErrRootUserNotExist = spec(
  "ErrRootUserNotExist",
  status.FAILED_PRECONDITION,
  "etcdserver: root user does not exist",
);
export const ErrRootRoleNotExist = spec(
  "ErrRootRoleNotExist",
  status.FAILED_PRECONDITION,
  "etcdserver: root user does not have root role",
);
export const ErrUserAlreadyExist = spec(
  "ErrUserAlreadyExist",
  status.FAILED_PRECONDITION,
  "etcdserver: user name already exists",
);
export const ErrUserEmpty = spec(
  "ErrUserEmpty",
  status.INVALID_ARGUMENT,
  "etcdserver: user name is empty",
);
export const ErrUserNotFound = spec(
  "ErrUserNotFound",
  status.FAILED_PRECONDITION,
  "etcdserver: user name not found",
);
export const ErrRoleAlreadyExist = spec(
  "ErrRoleAlreadyExist",
  status.FAILED_PRECONDITION,
  "etcdserver: role name already exists",
);
export const ErrRoleNotFound = spec(
  "ErrRoleNotFound",
  status.FAILED_PRECONDITION,
  "etcdserver: role name not found",
);
export const ErrRoleEmpty = spec(
  "ErrRoleEmpty",
  status.INVALID_ARGUMENT,
  "etcdserver: role name is empty",
);
export const ErrAuthFailed = spec(
  "ErrAuthFailed",
  status.INVALID_ARGUMENT,
  "etcdserver: authentication failed, invalid user ID or password",
);
export const ErrPermissionNotGiven = spec(
  "ErrPermissionNotGiven",
  status.INVALID_ARGUMENT,
  "etcdserver: permission not given",
);
export const ErrPermissionDenied = spec(
  "ErrPermissionDenied",
  status.PERMISSION_DENIED,
  "etcdserver: permission denied",
);
export const ErrRoleNotGranted = spec(
  "ErrRoleNotGranted",
  status.FAILED_PRECONDITION,
  "etcdserver: role is not granted to the user",
);
export const ErrPermissionNotGranted = spec(
  "ErrPermissionNotGranted",
  status.FAILED_PRECONDITION,
  "etcdserver: permission is not granted to the role",
);
export const ErrAuthNotEnabled = spec(
  "ErrAuthNotEnabled",
  status.FAILED_PRECONDITION,
  "etcdserver: authentication is not enabled",
);
export const ErrInvalidAuthToken = spec(
  "ErrInvalidAuthToken",
  status.UNAUTHENTICATED,
  "etcdserver: invalid auth token",
);
export const ErrInvalidAuthMgmt = spec(
  "ErrInvalidAuthMgmt",
  status.INVALID_ARGUMENT,
  "etcdserver: invalid auth management",
);
export const ErrAuthOldRevision = spec(
  "ErrAuthOldRevision",
  status.INVALID_ARGUMENT,
  "etcdserver: revision of auth store is old",
);

// --- cluster health and leadership -----------------------------------------

export const ErrNoLeader = spec("ErrNoLeader", status.UNAVAILABLE, "etcdserver: no leader");
export const ErrNotLeader = spec(
  "ErrNotLeader",
  status.FAILED_PRECONDITION,
  "etcdserver: not leader",
);
export const ErrLeaderChanged = spec(
  "ErrLeaderChanged",
  status.UNAVAILABLE,
  "etcdserver: leader changed",
);
/** UNAVAILABLE as in etcd v3.4 and v3.5 (v3.6 answers FAILED_PRECONDITION). */
export const ErrNotCapable = spec("ErrNotCapable", status.UNAVAILABLE, "etcdserver: not capable");
export const ErrStopped = spec("ErrStopped", status.UNAVAILABLE, "etcdserver: server stopped");
export const ErrTimeout = spec("ErrTimeout", status.UNAVAILABLE, "etcdserver: request timed out");
export const ErrTimeoutDueToLeaderFail = spec(
  "ErrTimeoutDueToLeaderFail",
  status.UNAVAILABLE,
  "etcdserver: request timed out, possibly due to previous leader failure",
);
export const ErrTimeoutDueToConnectionLost = spec(
  "ErrTimeoutDueToConnectionLost",
  status.UNAVAILABLE,
  "etcdserver: request timed out, possibly due to connection lost",
);
export const ErrTimeoutWaitAppliedIndex = spec(
  "ErrTimeoutWaitAppliedIndex",
  status.UNAVAILABLE,
  "etcdserver: request timed out, waiting for the applied index took too long",
);
export const ErrUnhealthy = spec(
  "ErrUnhealthy",
  status.UNAVAILABLE,
  "etcdserver: unhealthy cluster",
);
export const ErrCorrupt = spec("ErrCorrupt", status.DATA_LOSS, "etcdserver: corrupt cluster");
/**
 * A learner was asked for something other than Status or a serializable Range.
 * UNAVAILABLE as in etcd v3.4 and v3.5, so that clients retry another endpoint
 * (v3.6 answers FAILED_PRECONDITION).
 */
export const ErrNotSupportedForLearner = spec(
  "ErrNotSupportedForLearner",
  status.UNAVAILABLE,
  "etcdserver: rpc not supported for learner",
);
export const ErrBadLeaderTransferee = spec(
  "ErrBadLeaderTransferee",
  status.FAILED_PRECONDITION,
  "etcdserver: bad leader transferee",
);

// --- downgrade -------------------------------------------------------------

export const ErrClusterVersionUnavailable = spec(
  "ErrClusterVersionUnavailable",
  status.UNAVAILABLE,
  "etcdserver: cluster version not found during downgrade",
);
export const ErrWrongDowngradeVersionFormat = spec(
  "ErrWrongDowngradeVersionFormat",
  status.INVALID_ARGUMENT,
  "etcdserver: wrong downgrade target version format",
);
export const ErrInvalidDowngradeTargetVersion = spec(
  "ErrInvalidDowngradeTargetVersion",
  status.INVALID_ARGUMENT,
  "etcdserver: invalid downgrade target version",
);
export const ErrDowngradeInProcess = spec(
  "ErrDowngradeInProcess",
  status.FAILED_PRECONDITION,
  "etcdserver: cluster has a downgrade job in progress",
);
export const ErrNoInflightDowngrade = spec(
  "ErrNoInflightDowngrade",
  status.FAILED_PRECONDITION,
  "etcdserver: no inflight downgrade job",
);

// --- the caller gave up ----------------------------------------------------

export const ErrCanceled = spec("ErrCanceled", status.CANCELLED, "etcdserver: request canceled");
export const ErrDeadlineExceeded = spec(
  "ErrDeadlineExceeded",
  status.DEADLINE_EXCEEDED,
  "etcdserver: context deadline exceeded",
);

/** Every etcd error above, in declaration order. */
export const etcdErrors: readonly EtcdErrorSpec[] = Object.freeze([
  ErrEmptyKey,
  ErrKeyNotFound,
  ErrValueProvided,
  ErrLeaseProvided,
  ErrTooManyOps,
  ErrDuplicateKey,
  ErrInvalidSortOption,
  ErrCompacted,
  ErrFutureRev,
  ErrNoSpace,
  ErrRequestTooLarge,
  ErrTooManyRequests,
  ErrLeaseNotFound,
  ErrLeaseExist,
  ErrLeaseTTLTooLarge,
  ErrWatchCanceled,
  ErrMemberExist,
  ErrPeerURLExist,
  ErrMemberNotEnoughStarted,
  ErrMemberBadURLs,
  ErrMemberNotFound,
  ErrMemberNotLearner,
  ErrMemberLearnerNotReady,
  ErrTooManyLearners,
  ErrClusterIdMismatch,
  ErrRootUserNotExist,
  ErrRootRoleNotExist,
  ErrUserAlreadyExist,
  ErrUserEmpty,
  ErrUserNotFound,
  ErrRoleAlreadyExist,
  ErrRoleNotFound,
  ErrRoleEmpty,
  ErrAuthFailed,
  ErrPermissionNotGiven,
  ErrPermissionDenied,
  ErrRoleNotGranted,
  ErrPermissionNotGranted,
  ErrAuthNotEnabled,
  ErrInvalidAuthToken,
  ErrInvalidAuthMgmt,
  ErrAuthOldRevision,
  ErrNoLeader,
  ErrNotLeader,
  ErrLeaderChanged,
  ErrNotCapable,
  ErrStopped,
  ErrTimeout,
  ErrTimeoutDueToLeaderFail,
  ErrTimeoutDueToConnectionLost,
  ErrTimeoutWaitAppliedIndex,
  ErrUnhealthy,
  ErrCorrupt,
  ErrNotSupportedForLearner,
  ErrBadLeaderTransferee,
  ErrClusterVersionUnavailable,
  ErrWrongDowngradeVersionFormat,
  ErrInvalidDowngradeTargetVersion,
  ErrDowngradeInProcess,
  ErrNoInflightDowngrade,
  ErrCanceled,
  ErrDeadlineExceeded,
]);

const byMessage: ReadonlyMap<string, EtcdErrorSpec> = new Map(
  etcdErrors.map((e) => [e.message, e]),
);

/** The etcd error whose message is exactly `message`, if any. */
export function findEtcdError(message: string): EtcdErrorSpec | undefined {
  return byMessage.get(message);
}

/**
 * An etcd error as a value: an expected outcome that the server turns into a gRPC
 * status, and that the SDK raises when it receives one.
 *
 * It carries `code` (and `details`, equal to the message), so grpc-js accepts it
 * directly as a server error: `callback(new EtcdError(ErrCompacted))` answers with
 * OUT_OF_RANGE and etcd's exact text.
 */
export class EtcdError extends Error {
  /** The gRPC status code. */
  readonly code: GrpcStatusCode;
  /** The status message (the same as `message`), as grpc-js reads it. */
  readonly details: string;
  /** The table entry this error was made from; undefined for unknown etcd text. */
  readonly spec: EtcdErrorSpec | undefined;

  constructor(spec: EtcdErrorSpec, options?: { cause?: unknown });
  constructor(code: GrpcStatusCode, message: string, options?: { cause?: unknown });
  constructor(
    specOrCode: EtcdErrorSpec | GrpcStatusCode,
    messageOrOptions?: string | { cause?: unknown },
    maybeOptions?: { cause?: unknown },
  ) {
    const isSpec = typeof specOrCode === "object";
    const message = isSpec ? specOrCode.message : (messageOrOptions as string);
    const options = isSpec ? (messageOrOptions as { cause?: unknown } | undefined) : maybeOptions;
    super(message, options);
    this.name = "EtcdError";
    this.code = isSpec ? specOrCode.code : specOrCode;
    this.details = message;
    this.spec = isSpec ? specOrCode : findEtcdError(message);
  }

  /** Whether this error is the given table entry (compared by code and message). */
  is(spec: EtcdErrorSpec): boolean {
    return this.code === spec.code && this.message === spec.message;
  }
}

/** Whether `err` is an {@link EtcdError}, and, when `spec` is given, that one. */
export function isEtcdError(err: unknown, spec?: EtcdErrorSpec): err is EtcdError {
  return err instanceof EtcdError && (spec === undefined || err.is(spec));
}

/**
 * Turns a received gRPC status into an {@link EtcdError} when its text is etcd's
 * (it starts with "etcdserver: "); otherwise returns undefined. Known messages get
 * their table entry's code even if the status carried another one, as etcd's own
 * client does.
 */
export function etcdErrorFromStatus(s: {
  code: number;
  details?: string;
  message?: string;
}): EtcdError | undefined {
  const text = s.details ?? s.message ?? "";
  const known = findEtcdError(text);
  if (known !== undefined) return new EtcdError(known);
  if (text.startsWith("etcdserver: ")) return new EtcdError(s.code as GrpcStatusCode, text);
  return undefined;
}
