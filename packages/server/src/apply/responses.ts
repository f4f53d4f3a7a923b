/**
 * Storage results → etcdserverpb responses. The storage types mirror etcd's messages field
 * for field (Uint8Array where the generated code has Buffer, a bare `{ revision }` header);
 * this fills in the full ResponseHeader and the nested headers of txn responses (etcd
 * leaves cluster_id, member_id and raft_term zero there and sets only the revision).
 */
import type { etcdserverpb, mvccpb } from "@chainfire/api";
import type {
  DeleteRangeResult,
  KeyValue,
  PutResult,
  RangeResult,
  ResponseOp,
  TxnResult,
} from "@chainfire/storage";

type Header = etcdserverpb.ResponseHeader;

function innerHeader(revision: bigint): Header {
  return { clusterId: 0n, memberId: 0n, revision, raftTerm: 0n };
}

/** A storage KeyValue as mvccpb.KeyValue (the bytes are Buffers in practice). */
export function toKv(kv: KeyValue): mvccpb.KeyValue {
  return kv as mvccpb.KeyValue;
}

export function rangeResponse(r: RangeResult, header: Header): etcdserverpb.RangeResponse {
  return { header, kvs: r.kvs as mvccpb.KeyValue[], more: r.more, count: r.count };
}

export function putResponse(r: PutResult, header: Header): etcdserverpb.PutResponse {
  return { header, prevKv: r.prevKv ? toKv(r.prevKv) : undefined };
}

export function deleteRangeResponse(
  r: DeleteRangeResult,
  header: Header,
): etcdserverpb.DeleteRangeResponse {
  return { header, deleted: r.deleted, prevKvs: r.prevKvs as mvccpb.KeyValue[] };
}

export function txnResponse(r: TxnResult, header: Header): etcdserverpb.TxnResponse {
  return { header, succeeded: r.succeeded, responses: r.responses.map(responseOp) };
}

function responseOp(op: ResponseOp): etcdserverpb.ResponseOp {
  const r = op.response;
  switch (r.$case) {
    case "responseRange":
      return {
        response: {
          $case: "responseRange",
          value: rangeResponse(r.value, innerHeader(r.value.header.revision)),
        },
      };
    case "responsePut":
      return {
        response: {
          $case: "responsePut",
          value: putResponse(r.value, innerHeader(r.value.header.revision)),
        },
      };
    case "responseDeleteRange":
      return {
        response: {
          $case: "responseDeleteRange",
          value: deleteRangeResponse(r.value, innerHeader(r.value.header.revision)),
        },
      };
    case "responseTxn":
      return {
        response: {
          $case: "responseTxn",
          value: txnResponse(r.value, innerHeader(r.value.header.revision)),
        },
      };
  }
}
