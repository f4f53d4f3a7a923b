/**
 * etcdserverpb.KV on a member.
 *
 * - Range: linearizable by default (a batched ReadIndex barrier, then a local read of the
 *   committed state); `serializable` reads locally at once.
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
 * table (services/errors.ts).
 */
import type { etcdserverpb } from "@chainfire/api";
import {
  checkDeleteRequest,
  checkPutRequest,
  checkRangeRequest,
  checkTxnRequest,
  isTxnReadonly,
} from "@chainfire/storage";
import type { handleUnaryCall, ServerErrorResponse, ServerUnaryCall } from "@grpc/grpc-js";
import { rangeResponse, txnResponse } from "../apply/responses.js";
import type { MemberContext } from "../member-context.js";

/**
 * A unary handler for the hot KV path: like interceptors.ts `unaryHandler`, but its
 * AbortSignal (client cancel or member stop) is detached once the call is answered —
 * grpc-js reports every finished call as "cancelled" — and no AbortSignal.any is built
 * per request (both cost measurable CPU per request).
 */
function kvHandler<Req, Res>(
  fn: (request: Req, signal: AbortSignal) => Promise<Res> | Res,
  stopping: AbortSignal,
): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback) => {
    const ac = new AbortController();
    const abort = () => ac.abort();
    if (call.cancelled || stopping.aborted) ac.abort();
    else {
      call.once("cancelled", abort);
      stopping.addEventListener("abort", abort, { once: true });
    }
    const done = () => {
      call.removeListener("cancelled", abort);
      stopping.removeEventListener("abort", abort);
    };
    let result: Promise<Res> | Res;
    try {
      result = fn(call.request, ac.signal);
    } catch (err) {
      done();
      callback(err as ServerErrorResponse);
      return;
    }
    if (!(result instanceof Promise)) {
      done();
      callback(null, result);
      return;
    }
    result.then(
      (res) => {
        done();
        callback(null, res);
      },
      (err: unknown) => {
        done();
        callback(err as ServerErrorResponse);
      },
    );
  };
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
  const stop = ctx.stopping;
  return {
    range: kvHandler<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>(async (req, signal) => {
      checkRangeRequest(req);
      if (!req.serializable) await ctx.readBarrier(signal);
      const res = ctx.store.range(req);
      return rangeResponse(res, ctx.header(res.header.revision));
    }, stop),

    put: kvHandler<etcdserverpb.PutRequest, etcdserverpb.PutResponse>((req, signal) => {
      checkPutRequest(req);
      return ctx.propose({ $case: "put", value: req }, signal);
    }, stop),

    deleteRange: kvHandler<etcdserverpb.DeleteRangeRequest, etcdserverpb.DeleteRangeResponse>(
      (req, signal) => {
        checkDeleteRequest(req);
        return ctx.propose({ $case: "deleteRange", value: req }, signal);
      },
      stop,
    ),

    txn: kvHandler<etcdserverpb.TxnRequest, etcdserverpb.TxnResponse>(async (req, signal) => {
      checkTxnRequest(req);
      if (isTxnReadonly(req)) {
        if (!isTxnSerializable(req)) await ctx.readBarrier(signal);
        const w = ctx.store.beginWrite();
        try {
          const res = w.txn(req);
          return txnResponse(res, ctx.header(ctx.store.revision));
        } finally {
          w.abort();
        }
      }
      return ctx.propose({ $case: "txn", value: req }, signal);
    }, stop),

    compact: kvHandler<etcdserverpb.CompactionRequest, etcdserverpb.CompactionResponse>(
      async (req, signal) => {
        const res = await ctx.propose({ $case: "compaction", value: req }, signal);
        if (req.physical) await ctx.waitPhysicalCompaction(signal);
        return res;
      },
      stop,
    ),
  };
}
