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
} from "./engine.js";
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
export { RaftLogBugError, RaftLogCorruptError, RaftLogIoError } from "./raft-log/errors.js";
export {
  type LogSave,
  RaftLogStore,
  type RaftLogStoreOptions,
} from "./raft-log/raft-log-store.js";
