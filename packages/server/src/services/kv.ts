/**
 * etcdserverpb.KV on a member.
 *
 * - Range: linearizable by default (a batched ReadIndex barrier, then a local read of the
 *   committed state); `serializable` reads locally at once. A range (or read-only txn)
 *   whose KeyValues would pass --max-response-bytes fails with RESOURCE_EXHAUSTED while
 *   it is read, so memory stays bounded.
 * - Txn: at most --max-txn-ops compares / success ops / failure ops (etcd's check).
 * - Put, DeleteRange, Txn, Compact: validated completely here, with etcd's errors, before
 *   anything is proposed (bad input changes nothing and costs no log entry); then proposed
 *   and answered from this member's own apply result. The request size limit
 *   (--max-request-bytes, "etcdserver: request is too large") is checked on the encoded
 *   proposal.
 * - A read-only Txn is served like a read, without the log (as etcd does): a barrier
 *   unless every range in it is serializable, then the txn on the committed state.
 * - Compact with `physical` waits until the compacted history is removed.
 *
 * Handlers throw; the wrapper of registerClientServices answers through the one error
 * table (services/errors.ts). No AbortSignal per call (see `kvHandler`).
 */
import { ErrCanceled, EtcdError, type etcdserverpb } from "@chainfire/api";
import {
  checkDeleteRequest,
  checkPutRequest,
  checkRangeRequest,
  checkTxnRequest,
  isTxnReadonly,
  type ReadBudget,
} from "@chainfire/storage";
import type { handleUnaryCall, ServerErrorResponse, ServerUnaryCall } from "@grpc/grpc-js";
import { rangeResponse, txnResponse } from "../apply/responses.js";
import type { MemberContext } from "../member-context.js";

/** What a KV handler may look at on its call. */
interface KvCall {
  /** The client cancelled (or its deadline passed) before the answer. */
  readonly cancelled: boolean;
}

/**
 * A unary handler for the hot KV path: no AbortSignal, no listener per call (an
 * AbortController and its listeners cost measurable CPU per request, and grpc-js reports
 * every finished call as "cancelled"). A proposal cannot be taken back anyway: once
 * proposed it is applied or times out (the proposer's request timeout), and the member's
 * stop fails every waiter with "etcdserver: server stopped"; an answer to a call the
 * client cancelled is dropped by grpc-js. Reads check `call.cancelled` after their
 * barrier, so a cancelled read does not scan.
 */
function kvHandler<Req, Res>(
  fn: (request: Req, call: KvCall) => Promise<Res> | Res,
): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback) => {
    let result: Promise<Res> | Res;
    try {
      result = fn(call.request, call);
    } catch (err) {
      callback(err as ServerErrorResponse);
      return;
    }
    if (!(result instanceof Promise)) {
      callback(null, result);
      return;
    }
    result.then(
      (res) => callback(null, res),
      (err: unknown) => callback(err as ServerErrorResponse),
    );
  };
}

/** After a read barrier: a call the client gave up on is not served. */
function checkNotCancelled(call: KvCall): void {
  if (call.cancelled) throw new EtcdError(ErrCanceled);
}

/** Whether every range of a read-only txn (nested ones too) is serializable. */
function isTxnSerializable(r: etcdserverpb.TxnRequest): boolean {
  for (const op of [...r.success, ...r.failure]) {
    const q = op.request;
    if (q?.$case === "requestRange" && !q.value.serializable) return false;
    if (q?.$case === "requestTxn" && !isTxnSerializable(q.value)) return false;
  }
  return true;
}

/** The KV service of `ctx`. */
export function kvService(ctx: MemberContext): etcdserverpb.KVServer {
  return {
    range: kvHandler<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>((req, call) => {
      checkRangeRequest(req);
      if (req.serializable) {
        // The lean path: a local read, no promise.
        const res = ctx.store.range(req, readBudget(ctx));
        return rangeResponse(res, ctx.header(res.header.revision));
      }
      return ctx.readBarrier().then(() => {
        checkNotCancelled(call);
        const res = ctx.store.range(req, readBudget(ctx));
        return rangeResponse(res, ctx.header(res.header.revision));
      });
    }),

    put: kvHandler<etcdserverpb.PutRequest, etcdserverpb.PutResponse>((req) => {
      checkPutRequest(req);
      return ctx.propose({ $case: "put", value: req });
    }),

    deleteRange: kvHandler<etcdserverpb.DeleteRangeRequest, etcdserverpb.DeleteRangeResponse>(
      (req) => {
        checkDeleteRequest(req);
        return ctx.propose({ $case: "deleteRange", value: req });
      },
    ),

    txn: kvHandler<etcdserverpb.TxnRequest, etcdserverpb.TxnResponse>((req, call) => {
      checkTxnRequest(req, ctx.options.maxTxnOps);
      if (isTxnReadonly(req)) {
        if (isTxnSerializable(req)) return readonlyTxn(ctx, req);
        return ctx.readBarrier().then(() => {
          checkNotCancelled(call);
          return readonlyTxn(ctx, req);
        });
      }
      return ctx.propose({ $case: "txn", value: req });
    }),

    compact: kvHandler<etcdserverpb.CompactionRequest, etcdserverpb.CompactionResponse>(
      async (req) => {
        const res = await ctx.propose({ $case: "compaction", value: req });
        if (req.physical) await ctx.waitPhysicalCompaction(ctx.stopping);
        return res;
      },
    ),
  };
}

/** The response budget of one read (--max-response-bytes). */
function readBudget(ctx: MemberContext): ReadBudget {
  return { remaining: ctx.options.maxResponseBytes };
}

/** A read-only txn on the committed state (no log entry). */
function readonlyTxn(ctx: MemberContext, req: etcdserverpb.TxnRequest): etcdserverpb.TxnResponse {
  const w = ctx.store.beginWrite();
  try {
    const res = w.txn(req, { budget: readBudget(ctx), maxOps: ctx.options.maxTxnOps });
    return txnResponse(res, ctx.header(ctx.store.revision));
  } finally {
    w.abort();
  }
}
