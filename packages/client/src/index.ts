/**
 * @chainfire/client: the TypeScript SDK of Chainfire, which works with any etcd v3
 * cluster too.
 *
 * Start with {@link Client}; README.md is a tutorial.
 *
 * @module
 */

/** etcd's error table, re-exported so that `isEtcdError(err, ErrCompacted)` needs one import. */
export {
  ErrAuthFailed,
  ErrAuthNotEnabled,
  ErrAuthOldRevision,
  ErrBadLeaderTransferee,
  ErrCanceled,
  ErrClusterIdMismatch,
  ErrClusterVersionUnavailable,
  ErrCompacted,
  ErrCorrupt,
  ErrDeadlineExceeded,
  ErrDowngradeInProcess,
  ErrDuplicateKey,
  ErrEmptyKey,
  ErrFutureRev,
  ErrInvalidAuthMgmt,
  ErrInvalidAuthToken,
  ErrInvalidDowngradeTargetVersion,
  ErrInvalidSortOption,
  ErrKeyNotFound,
  ErrLeaderChanged,
  ErrLeaseExist,
  ErrLeaseNotFound,
  ErrLeaseProvided,
  ErrLeaseTTLTooLarge,
  ErrMemberBadURLs,
  ErrMemberExist,
  ErrMemberLearnerNotReady,
  ErrMemberNotEnoughStarted,
  ErrMemberNotFound,
  ErrMemberNotLearner,
  ErrNoInflightDowngrade,
  ErrNoLeader,
  ErrNoSpace,
  ErrNotCapable,
  ErrNotLeader,
  ErrNotSupportedForLearner,
  ErrPeerURLExist,
  ErrPermissionDenied,
  ErrPermissionNotGiven,
  ErrPermissionNotGranted,
  ErrRequestTooLarge,
  ErrRoleAlreadyExist,
  ErrRoleEmpty,
  ErrRoleNotFound,
  ErrRoleNotGranted,
  ErrRootRoleNotExist,
  ErrRootUserNotExist,
  ErrStopped,
  ErrTimeout,
  ErrTimeoutDueToConnectionLost,
  ErrTimeoutDueToLeaderFail,
  ErrTimeoutWaitAppliedIndex,
  ErrTooManyLearners,
  ErrTooManyOps,
  ErrTooManyRequests,
  ErrUnhealthy,
  ErrUserAlreadyExist,
  ErrUserEmpty,
  ErrUserNotFound,
  ErrValueProvided,
  ErrWatchCanceled,
  ErrWrongDowngradeVersionFormat,
  EtcdError,
  type EtcdErrorSpec,
  etcdErrors,
  findEtcdError,
  isEtcdError,
} from "@chainfire/api";
export type { AuthApi, Permission, PermissionType } from "./auth-api.js";
export type { AuthOptions } from "./auth-token.js";
export type { BackoffOptions } from "./backoff.js";
export { backoffDelay } from "./backoff.js";
export {
  ALL_KEYS_FROM,
  hexId,
  type Key,
  type KeyRange,
  type KeySelector,
  parseId,
  prefixEnd,
  toBuffer,
  toWireRange,
  type Value,
  type WireRange,
} from "./bytes.js";
export { Client, type ClientOptions, type TlsOptions } from "./client.js";
export type { ClusterApi, Member, MemberAddResult, MemberListResult } from "./cluster.js";
export { Election, type ElectionOptions } from "./concurrency/election.js";
export type { ConcurrencyHost } from "./concurrency/host.js";
export { type LockHandle, type LockOptions, Mutex } from "./concurrency/mutex.js";
export { Session, type SessionOptions } from "./concurrency/session.js";
export type { Isolation, STM, STMOptions } from "./concurrency/stm.js";
export type { EndpointSelection } from "./connection-pool.js";
export { type Endpoint, parseEndpoint, splitEndpoints } from "./endpoint.js";
export * from "./errors.js";
export { type Disposable, Emitter, type Event, once } from "./events.js";
export { KeyValue } from "./key-value.js";
export type {
  DeleteOptions,
  DeleteResult,
  Header,
  PutOptions,
  PutResult,
  RangeOptions,
  RangeResult,
  SortOrder,
  SortTarget,
} from "./kv.js";
export type { KeepAliveEvent, Lease, LeaseTimeToLive } from "./lease/lease.js";
export type { GrantOptions, LeaseApi } from "./lease/lease-api.js";
export type {
  Alarm,
  AlarmKind,
  EndpointResult,
  HashKVResult,
  HealthResult,
  MaintenanceApi,
  StatusResult,
} from "./maintenance.js";
export { Namespace, type NamespaceBackend } from "./namespace.js";
export type { SnapshotOptions, SnapshotProgress, SnapshotResult } from "./snapshot.js";
export type { CallOptions } from "./transport.js";
export {
  type Compare,
  type CompareOp,
  type CompareTarget,
  compare,
  nestedTxn,
  type Op,
  type OpResult,
  op,
  Txn,
  type TxnResult,
} from "./txn.js";
export type { WatchBatch, WatchEvent, Watcher, WatchOptions } from "./watch/watcher.js";
