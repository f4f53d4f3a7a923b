/**
 * Key-value requests: options as the SDK takes them, the wire requests they become,
 * and typed results. The {@link Client} methods and the transaction builder share
 * these.
 *
 * @module
 */
import { etcdserverpb } from "@chainfire/api";
import { type Key, type KeySelector, toBuffer, toWireRange, type Value } from "./bytes.js";
import { KeyValue, wrapKv } from "./key-value.js";

/** A response header: which cluster and member answered, at which revision and term. */
export interface Header {
  clusterId: bigint;
  memberId: bigint;
  /** The store's revision when the request was served. */
  revision: bigint;
  raftTerm: bigint;
}

/** What a range read is sorted by. */
export type SortTarget = "key" | "version" | "create" | "mod" | "value";
/** Sort direction; `"none"` keeps etcd's key order. */
export type SortOrder = "none" | "ascend" | "descend";

/** Options of a range read. */
export interface RangeOptions {
  /** At most this many keys (0 or absent: no limit). `more` tells whether some were left out. */
  limit?: number | bigint;
  /** Sort before the limit is applied. A target without an order sorts ascending. */
  sort?: { target?: SortTarget; order?: SortOrder };
  /** Read the store as it was at this revision (it must not have been compacted). */
  revision?: number | bigint;
  /** Leave values out. */
  keysOnly?: boolean;
  /** Return only the count. */
  countOnly?: boolean;
  /**
   * Let the member answer from its own state without a consensus round: faster and
   * available without a leader, but possibly stale.
   */
  serializable?: boolean;
  /** Only keys last modified at or after this revision. */
  minModRevision?: number | bigint;
  /** Only keys last modified at or before this revision. */
  maxModRevision?: number | bigint;
  /** Only keys created at or after this revision. */
  minCreateRevision?: number | bigint;
  /** Only keys created at or before this revision. */
  maxCreateRevision?: number | bigint;
}

/** Options of a put. */
export interface PutOptions {
  /** Attach the key to this lease (it is deleted when the lease ends). */
  lease?: bigint;
  /** Return the previous key-value, if any. */
  prevKv?: boolean;
  /** Keep the current value (only the lease changes); the key must exist. */
  ignoreValue?: boolean;
  /** Keep the current lease (only the value changes); the key must exist. */
  ignoreLease?: boolean;
}

/** Options of a delete. */
export interface DeleteOptions {
  /** Return the deleted key-values. */
  prevKv?: boolean;
}

/** The result of a range read. */
export interface RangeResult {
  header: Header;
  /** Shortcut for `header.revision`: the store's revision at the time of the read. */
  revision: bigint;
  kvs: KeyValue[];
  /** How many keys are in the range (before the limit). */
  count: bigint;
  /** Whether the limit left keys out. */
  more: boolean;
}

/** The result of a put. */
export interface PutResult {
  header: Header;
  /** The revision the put created. */
  revision: bigint;
  /** The previous key-value, when `prevKv` was asked for and the key existed. */
  prevKv: KeyValue | undefined;
}

/** The result of a delete. */
export interface DeleteResult {
  header: Header;
  /** The revision after the delete (unchanged when nothing was deleted). */
  revision: bigint;
  /** How many keys were deleted. */
  deleted: bigint;
  /** The deleted key-values, when `prevKv` was asked for. */
  prevKvs: KeyValue[];
}

const sortTargets: Record<SortTarget, etcdserverpb.RangeRequest_SortTarget> = {
  key: etcdserverpb.RangeRequest_SortTarget.KEY,
  version: etcdserverpb.RangeRequest_SortTarget.VERSION,
  create: etcdserverpb.RangeRequest_SortTarget.CREATE,
  mod: etcdserverpb.RangeRequest_SortTarget.MOD,
  value: etcdserverpb.RangeRequest_SortTarget.VALUE,
};
const sortOrders: Record<SortOrder, etcdserverpb.RangeRequest_SortOrder> = {
  none: etcdserverpb.RangeRequest_SortOrder.NONE,
  ascend: etcdserverpb.RangeRequest_SortOrder.ASCEND,
  descend: etcdserverpb.RangeRequest_SortOrder.DESCEND,
};

function big(n: number | bigint | undefined): bigint {
  return n === undefined ? 0n : BigInt(n);
}

/** The RangeRequest for a selector and options. */
export function rangeRequest(
  selector: KeySelector,
  options: RangeOptions = {},
): etcdserverpb.RangeRequest {
  const { key, rangeEnd } = toWireRange(selector);
  let sortOrder = sortOrders[options.sort?.order ?? "none"];
  const sortTarget = sortTargets[options.sort?.target ?? "key"];
  if (options.sort?.target !== undefined && options.sort.order === undefined) {
    sortOrder = etcdserverpb.RangeRequest_SortOrder.ASCEND;
  }
  return etcdserverpb.RangeRequest.fromPartial({
    key,
    rangeEnd,
    limit: big(options.limit),
    revision: big(options.revision),
    sortOrder,
    sortTarget,
    serializable: options.serializable ?? false,
    keysOnly: options.keysOnly ?? false,
    countOnly: options.countOnly ?? false,
    minModRevision: big(options.minModRevision),
    maxModRevision: big(options.maxModRevision),
    minCreateRevision: big(options.minCreateRevision),
    maxCreateRevision: big(options.maxCreateRevision),
  });
}

/** The PutRequest for a key, value and options. */
export function putRequest(
  key: Key,
  value: Value,
  options: PutOptions = {},
): etcdserverpb.PutRequest {
  return etcdserverpb.PutRequest.fromPartial({
    key: toBuffer(key),
    value: options.ignoreValue ? Buffer.alloc(0) : toBuffer(value),
    lease: options.lease ?? 0n,
    prevKv: options.prevKv ?? false,
    ignoreValue: options.ignoreValue ?? false,
    ignoreLease: options.ignoreLease ?? false,
  });
}

/** The DeleteRangeRequest for a selector and options. */
export function deleteRequest(
  selector: KeySelector,
  options: DeleteOptions = {},
): etcdserverpb.DeleteRangeRequest {
  const { key, rangeEnd } = toWireRange(selector);
  return etcdserverpb.DeleteRangeRequest.fromPartial({
    key,
    rangeEnd,
    prevKv: options.prevKv ?? false,
  });
}

/** A header with every field present. */
export function toHeader(h: etcdserverpb.ResponseHeader | undefined): Header {
  return {
    clusterId: h?.clusterId ?? 0n,
    memberId: h?.memberId ?? 0n,
    revision: h?.revision ?? 0n,
    raftTerm: h?.raftTerm ?? 0n,
  };
}

/** The SDK's form of a RangeResponse. */
export function toRangeResult(r: etcdserverpb.RangeResponse): RangeResult {
  const header = toHeader(r.header);
  return {
    header,
    revision: header.revision,
    kvs: r.kvs.map((kv) => new KeyValue(kv)),
    count: r.count,
    more: r.more,
  };
}

/** The SDK's form of a PutResponse. */
export function toPutResult(r: etcdserverpb.PutResponse): PutResult {
  const header = toHeader(r.header);
  return { header, revision: header.revision, prevKv: wrapKv(r.prevKv) };
}

/** The SDK's form of a DeleteRangeResponse. */
export function toDeleteResult(r: etcdserverpb.DeleteRangeResponse): DeleteResult {
  const header = toHeader(r.header);
  return {
    header,
    revision: header.revision,
    deleted: r.deleted,
    prevKvs: r.prevKvs.map((kv) => new KeyValue(kv)),
  };
}
