/**
 * Plain request and result types of the MVCC store. They mirror etcd's etcdserverpb
 * messages (field names as ts-proto generates them, `$case` unions for oneofs), with
 * `Uint8Array` bytes and `bigint` 64-bit numbers, so the server maps protobuf to them
 * field by field. Optional request fields default like proto3 (0, false, empty).
 */

/** mvccpb.KeyValue. */
export interface KeyValue {
  key: Uint8Array;
  /** Revision of the key's creation (of its current generation). */
  createRevision: bigint;
  /** Revision of the key's last modification. */
  modRevision: bigint;
  /** Number of modifications since creation; 1 after create, reset by delete. */
  version: bigint;
  value: Uint8Array;
  /** Attached lease id, 0 for none. */
  lease: bigint;
}

/** RangeRequest.SortOrder. */
export const SortOrder = { NONE: 0, ASCEND: 1, DESCEND: 2 } as const;
/** RangeRequest.SortTarget. */
export const SortTarget = { KEY: 0, VERSION: 1, CREATE: 2, MOD: 3, VALUE: 4 } as const;

/** etcdserverpb.RangeRequest. */
export interface RangeRequest {
  key: Uint8Array;
  /** Empty: the single key. "\0": every key >= key. Otherwise [key, rangeEnd). */
  rangeEnd?: Uint8Array;
  /** 0: no limit. */
  limit?: bigint;
  /** <= 0: the current revision. */
  revision?: bigint;
  /** {@link SortOrder} value. */
  sortOrder?: number;
  /** {@link SortTarget} value. */
  sortTarget?: number;
  /** Accepted and ignored here (the server decides how to read). */
  serializable?: boolean;
  keysOnly?: boolean;
  countOnly?: boolean;
  /** Filters; 0 disables a filter. */
  minModRevision?: bigint;
  maxModRevision?: bigint;
  minCreateRevision?: bigint;
  maxCreateRevision?: bigint;
}

/** etcdserverpb.PutRequest. */
export interface PutRequest {
  key: Uint8Array;
  value?: Uint8Array;
  lease?: bigint;
  prevKv?: boolean;
  ignoreValue?: boolean;
  ignoreLease?: boolean;
}

/** etcdserverpb.DeleteRangeRequest. */
export interface DeleteRangeRequest {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  prevKv?: boolean;
}

/** Compare.CompareResult. */
export const CompareResult = { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 } as const;
/** Compare.CompareTarget. */
export const CompareTarget = { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 } as const;

/** etcdserverpb.Compare. */
export interface Compare {
  /** {@link CompareResult} value. */
  result: number;
  /** {@link CompareTarget} value. */
  target: number;
  key: Uint8Array;
  targetUnion?:
    | { $case: "version"; value: bigint }
    | { $case: "createRevision"; value: bigint }
    | { $case: "modRevision"; value: bigint }
    | { $case: "value"; value: Uint8Array }
    | { $case: "lease"; value: bigint }
    | undefined;
  rangeEnd?: Uint8Array;
}

/** etcdserverpb.RequestOp; `request: undefined` is an empty op (rejected like etcd). */
export interface RequestOp {
  request:
    | { $case: "requestRange"; value: RangeRequest }
    | { $case: "requestPut"; value: PutRequest }
    | { $case: "requestDeleteRange"; value: DeleteRangeRequest }
    | { $case: "requestTxn"; value: TxnRequest }
    | undefined;
}

/** etcdserverpb.TxnRequest. */
export interface TxnRequest {
  compare?: Compare[];
  success?: RequestOp[];
  failure?: RequestOp[];
}

/** The storage part of etcd's ResponseHeader: the revision. */
export interface Header {
  revision: bigint;
}

/** etcdserverpb.RangeResponse. */
export interface RangeResult {
  header: Header;
  kvs: KeyValue[];
  /** True only when the result was cut by the limit. */
  more: boolean;
  /** Number of keys in the range at the revision, before limit and filters. */
  count: bigint;
}

/** etcdserverpb.PutResponse. */
export interface PutResult {
  header: Header;
  prevKv?: KeyValue;
}

/** etcdserverpb.DeleteRangeResponse. */
export interface DeleteRangeResult {
  header: Header;
  deleted: bigint;
  prevKvs: KeyValue[];
}

/** etcdserverpb.ResponseOp. */
export interface ResponseOp {
  response:
    | { $case: "responseRange"; value: RangeResult }
    | { $case: "responsePut"; value: PutResult }
    | { $case: "responseDeleteRange"; value: DeleteRangeResult }
    | { $case: "responseTxn"; value: TxnResult };
}

/** etcdserverpb.TxnResponse. A nested txn's header revision is 0, as in etcd. */
export interface TxnResult {
  header: Header;
  succeeded: boolean;
  responses: ResponseOp[];
}

/** etcdserverpb.CompactionResponse. */
export interface CompactResult {
  header: Header;
}

/** mvccpb.Event: a change, with the key's previous version when there was one. */
export interface MvccEvent {
  type: "PUT" | "DELETE";
  /** For DELETE: key and modRevision (the deletion's revision); other fields zero. */
  kv: KeyValue;
  prevKv?: KeyValue;
}

/** Result of {@link MvccStore.hashKV}. */
export interface HashKVResult {
  /** CRC-32 over the keys, revisions and values retained at `revision`. */
  hash: number;
  compactRevision: bigint;
  /** The revision hashed. */
  hashRevision: bigint;
  header: Header;
}
