/** The MVCC key-value store: see store.ts for the layout and semantics. */
export { StoredEvent } from "./event.js";
export { executeRange, resolveReadRevision } from "./range.js";
export { KV_OVERHEAD_BYTES, type ReadBudget } from "./read.js";
export { HASHED_FAMILIES, hashState } from "./state-hash.js";
export {
  type ChangesOptions,
  type ChangesPage,
  type CommitListener,
  MvccStore,
  type MvccStoreOptions,
} from "./store.js";
export * from "./types.js";
export {
  checkDeleteRequest,
  checkIntervals,
  checkPutRequest,
  checkRangeRequest,
  checkTxnRequest,
  isTxnReadonly,
  MAX_TXN_OPS,
} from "./validate.js";
export { type FinishedWrite, MvccWrite } from "./write.js";
