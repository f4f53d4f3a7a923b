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
