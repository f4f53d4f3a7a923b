/** @chainfire/storage */

export {
  COLUMN_FAMILIES,
  type ColumnFamilyName,
  Cursor,
  Engine,
  type EngineOptions,
  EngineStateError,
  type Entry,
  type IterateOptions,
  WriteBatch,
  type WriteStall,
} from "./engine.js";
export {
  GrpcCode,
  isStorageError,
  STORAGE_ERRORS,
  StorageBugError,
  StorageError,
  type StorageErrorName,
  storageError,
} from "./errors.js";
export {
  armedFailpoints,
  configureFailpoints,
  FAILPOINT_EXIT_CODE,
  FAILPOINTS,
  type FailpointAction,
  type FailpointName,
  failpoint,
  failpointHits,
  failpointsActive,
  parseFailpoints,
  unsyncedLoss,
} from "./failpoints.js";
export {
  compareBytes,
  decodeKey,
  decodeRevision,
  decodeRevisionDesc,
  encodedKeyUpperBound,
  encodeKey,
  encodeKeyRevision,
  encodeKeyRevisionDesc,
  encodeRevision,
  encodeRevisionDesc,
  FROM_KEY,
  intervalContains,
  isFromKey,
  type KeyInterval,
  keyInterval,
  prefixEnd,
  type Revision,
} from "./keys.js";
export {
  LeaseAlreadyExistsError,
  LeaseIoError,
  type LeaseRecord,
  LeaseStore,
} from "./lease/lease-store.js";
export { type LeaseKeysWrite, type RevokeResult, revokeLease } from "./lease/revoke.js";
export {
  type AppliedPosition,
  META_FORMAT_VERSION,
  type Member,
} from "./meta/codec.js";
export {
  type MetaBootstrap,
  MetaBugError,
  MetaFormatError,
  MetaIoError,
  MetaStore,
} from "./meta/meta-store.js";
export * from "./mvcc/index.js";
export { RaftLogBugError, RaftLogCorruptError, RaftLogIoError } from "./raft-log/errors.js";
export {
  type LogSave,
  RaftLogStore,
  type RaftLogStoreOptions,
} from "./raft-log/raft-log-store.js";
export { SnapshotChecksumError, SnapshotFormatError, SnapshotIoError } from "./snapshot/errors.js";
export {
  decodeSnapshot,
  SNAPSHOT_FORMAT_VERSION,
  type SnapshotHeader,
  type SnapshotRecord,
  wrapForEtcdctl,
} from "./snapshot/format.js";
export {
  type RestoreOptions,
  recoverDbDir,
  restoreStateSnapshot,
  type StagedSnapshot,
  stageStateSnapshot,
} from "./snapshot/restore.js";
export {
  createStateSnapshot,
  defaultMvccPositions,
  MEMBER_LOCAL_COLUMNS,
  type MvccPositionsReader,
  SNAPSHOT_COLUMNS,
  type StateSnapshot,
  type StateSnapshotOptions,
} from "./snapshot/state-snapshot.js";
