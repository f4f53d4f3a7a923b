/**
 * etcdserverpb.Maintenance: Status, Alarm, HashKV, Hash, Defragment, Snapshot and
 * MoveLeader from the MemberContext; Downgrade answers UNIMPLEMENTED (there is one
 * Chainfire version). What Hash covers and what Defragment does: docs/operations.md.
 */
import { etcdserverpb } from "@chainfire/api";
import { wrapForEtcdctl } from "@chainfire/storage";
import type { MemberContext } from "../member-context.js";
import { ETCD_API_VERSION } from "../version.js";
import { NotImplementedError, toGrpcError } from "./errors.js";
import { callSignal, unaryHandler } from "./interceptors.js";

/** Bytes per Snapshot message, as etcd sends them. */
export const SNAPSHOT_CHUNK_BYTES = 32 * 1024;

/** The Maintenance service of `ctx`. */
export function maintenanceService(ctx: MemberContext): etcdserverpb.MaintenanceServer {
  const stop = ctx.stopping;
  return {
    status: unaryHandler<etcdserverpb.StatusRequest, etcdserverpb.StatusResponse>(
      () => statusResponse(ctx),
      stop,
    ),

    alarm: unaryHandler<etcdserverpb.AlarmRequest, etcdserverpb.AlarmResponse>(
      async (req, signal) => {
        if (req.action === etcdserverpb.AlarmRequest_AlarmAction.GET) {
          const alarms = ctx
            .alarms()
            .filter((a) => req.alarm === etcdserverpb.AlarmType.NONE || a.alarm === req.alarm);
          return etcdserverpb.AlarmResponse.fromPartial({ header: ctx.header(), alarms });
        }
        return ctx.propose({ $case: "alarm", value: req }, signal);
      },
      stop,
    ),

    hashKv: unaryHandler<etcdserverpb.HashKVRequest, etcdserverpb.HashKVResponse>(async (req) => {
      const r = await ctx.store.hashKV(req.revision);
      return etcdserverpb.HashKVResponse.fromPartial({
        header: ctx.header(r.header.revision),
        hash: r.hash,
        compactRevision: r.compactRevision,
      });
    }, stop),

    moveLeader: unaryHandler<etcdserverpb.MoveLeaderRequest, etcdserverpb.MoveLeaderResponse>(
      async (req, signal) => {
        await ctx.moveLeader(req.targetID, signal);
        return etcdserverpb.MoveLeaderResponse.fromPartial({ header: ctx.header() });
      },
      stop,
    ),

    snapshot: (call) => {
      void sendSnapshot(ctx, call);
    },

    defragment: unaryHandler<etcdserverpb.DefragmentRequest, etcdserverpb.DefragmentResponse>(
      async (_req, signal) => {
        await ctx.defragment(signal);
        return etcdserverpb.DefragmentResponse.fromPartial({ header: ctx.header() });
      },
      stop,
    ),
    hash: unaryHandler<etcdserverpb.HashRequest, etcdserverpb.HashResponse>(async () => {
      const r = await ctx.hash();
      return etcdserverpb.HashResponse.fromPartial({
        header: ctx.header(r.revision),
        hash: r.hash,
      });
    }, stop),
    downgrade: unaryHandler(() => {
      throw new NotImplementedError("Maintenance.Downgrade");
    }),
  };
}

/** Maintenance.Status of `ctx` (also used by tests and the HTTP side). */
export function statusResponse(ctx: MemberContext): etcdserverpb.StatusResponse {
  const s = ctx.status();
  return etcdserverpb.StatusResponse.fromPartial({
    header: ctx.header(),
    version: ETCD_API_VERSION,
    dbSize: s.dbSize,
    dbSizeInUse: s.dbSizeInUse,
    leader: s.leader,
    raftIndex: s.raftIndex,
    raftTerm: s.raftTerm,
    raftAppliedIndex: s.raftAppliedIndex,
    isLearner: s.isLearner,
    errors: s.errors,
  });
}

type SnapshotCall = Parameters<etcdserverpb.MaintenanceServer["snapshot"]>[0];

/**
 * Streams a state snapshot wrapped the way etcdctl expects (padded to 512 bytes + SHA-256),
 * in {@link SNAPSHOT_CHUNK_BYTES} messages. The total size is not known in advance, so
 * `remainingBytes` is a lower bound (the bytes already read past this message) and is 0
 * exactly on the last message. Honors flow control and client cancellation.
 */
async function sendSnapshot(ctx: MemberContext, call: SnapshotCall): Promise<void> {
  const signal = callSignal(call, ctx.stopping);
  let snap: ReturnType<MemberContext["snapshot"]> | undefined;
  try {
    snap = ctx.snapshot();
    let pending = Buffer.alloc(0);
    let first = true;
    const send = async (blob: Buffer, remaining: number): Promise<void> => {
      const msg = etcdserverpb.SnapshotResponse.fromPartial({
        header: first ? ctx.header() : undefined,
        remainingBytes: BigInt(remaining),
        blob,
      });
      first = false;
      if (!call.write(msg)) await drained(call, signal);
    };
    for await (const chunk of wrapForEtcdctl(snap.stream)) {
      if (signal.aborted) break;
      pending = pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([pending, chunk]);
      while (pending.length > SNAPSHOT_CHUNK_BYTES) {
        const blob = pending.subarray(0, SNAPSHOT_CHUNK_BYTES);
        pending = pending.subarray(SNAPSHOT_CHUNK_BYTES);
        await send(blob, pending.length);
      }
    }
    if (signal.aborted) return;
    await send(pending, 0);
    call.end();
  } catch (err) {
    if (!call.cancelled && !call.writableEnded) {
      call.emit("error", toGrpcError(err, ctx.logger, "/etcdserverpb.Maintenance/Snapshot"));
    }
  } finally {
    snap?.close();
  }
}

function drained(call: SnapshotCall, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    call.once("drain", done);
    signal.addEventListener("abort", done, { once: true });
  });
}
