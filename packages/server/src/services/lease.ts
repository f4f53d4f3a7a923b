/**
 * etcdserverpb.Lease on a member (etcd's v3rpc lease.go + v3_server.go), on top of the
 * member's Lessor (lease/lessor.ts):
 *
 * - LeaseGrant: ID 0 lets the member choose (a cluster-unique positive int64, picked by
 *   the proposer so every member applies the same); a TTL above etcd's MaxLeaseTTL is
 *   refused here, before anything is proposed ("etcdserver: too large lease TTL"); below
 *   the minimum it is raised at apply (lease/options.ts minLeaseTtl). Proposed through
 *   the log; "etcdserver: lease already exists" for a taken id.
 * - LeaseRevoke: through the log; deletes the attached keys in one revision (DELETE watch
 *   events); "etcdserver: requested lease not found".
 * - LeaseKeepAlive: a bidirectional stream; each request is renewed by the leader
 *   (forwarded from any other member) and answered in order with the granted TTL, or TTL
 *   0 for an unknown or expired lease. A failure other than "not found" ends the stream
 *   with its status (clients reconnect, possibly to another member); the client
 *   half-closing ends it normally.
 * - LeaseTimeToLive: answered by the leader (TTL -1 for an unknown lease; keys when asked).
 * - LeaseLeases: the applied lease table after a read barrier (linearizable).
 */
import { ErrLeaseTTLTooLarge, EtcdError, etcdserverpb } from "@chainfire/api";
import type { ServerDuplexStream } from "@grpc/grpc-js";
import { MAX_LEASE_TTL } from "../apply/applier.js";
import type { MemberContext } from "../member-context.js";
import { toGrpcError } from "./errors.js";
import { callSignal, unaryHandler } from "./interceptors.js";

const KEEP_ALIVE_METHOD = "/etcdserverpb.Lease/LeaseKeepAlive";

/** Requests read ahead on one keep-alive stream before it stops reading. */
const MAX_QUEUED_KEEP_ALIVES = 64;

type KeepAliveCall = ServerDuplexStream<
  etcdserverpb.LeaseKeepAliveRequest,
  etcdserverpb.LeaseKeepAliveResponse
>;

/** The Lease service of `ctx` (what services/index.ts registers). */
export function leaseService(ctx: MemberContext): etcdserverpb.LeaseServer {
  const logger = ctx.logger.child({ svc: "lease" });
  return {
    leaseGrant: unaryHandler(async (req: etcdserverpb.LeaseGrantRequest, signal) => {
      if (req.TTL > MAX_LEASE_TTL) throw new EtcdError(ErrLeaseTTLTooLarge);
      return ctx.propose({ $case: "leaseGrant", value: req }, signal);
    }, ctx.stopping),

    leaseRevoke: unaryHandler(
      (req: etcdserverpb.LeaseRevokeRequest, signal) =>
        ctx.propose({ $case: "leaseRevoke", value: { ID: req.ID } }, signal),
      ctx.stopping,
    ),

    leaseTimeToLive: unaryHandler(async (req: etcdserverpb.LeaseTimeToLiveRequest, signal) => {
      const answer = await ctx.lessor.timeToLive(req.ID, req.keys, signal);
      return etcdserverpb.LeaseTimeToLiveResponse.fromPartial({ ...answer, header: ctx.header() });
    }, ctx.stopping),

    leaseLeases: unaryHandler(async (_req: etcdserverpb.LeaseLeasesRequest, signal) => {
      await ctx.readBarrier(signal);
      return etcdserverpb.LeaseLeasesResponse.fromPartial({
        header: ctx.header(),
        leases: ctx.leases.list().map((l) => ({ ID: l.id })),
      });
    }, ctx.stopping),

    leaseKeepAlive: (call: KeepAliveCall) => serveKeepAlive(ctx, call, logger),
  };
}

/** Resolves when `call` can take more writes, or when the call or the member ends. */
function drained(call: KeepAliveCall, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off("drain", done);
      call.off("close", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    if (signal.aborted) return resolve();
    call.once("drain", done);
    call.once("close", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * One keep-alive stream: requests answered one at a time, in order. Reading pauses while
 * {@link MAX_QUEUED_KEEP_ALIVES} requests wait, and while gRPC holds unsent answers.
 */
function serveKeepAlive(
  ctx: MemberContext,
  call: KeepAliveCall,
  logger: MemberContext["logger"],
): void {
  const signal = callSignal(call, ctx.stopping);
  const queue: bigint[] = [];
  let running = false;
  let ended = false;
  let failed = false;
  const gone = () => failed || call.cancelled || call.destroyed || call.writableEnded;

  const fail = (err: unknown) => {
    if (gone()) return;
    failed = true;
    call.emit("error", toGrpcError(err, logger, KEEP_ALIVE_METHOD));
  };

  const run = async () => {
    running = true;
    try {
      while (queue.length > 0 && !gone()) {
        const id = queue.shift() as bigint;
        if (queue.length < MAX_QUEUED_KEEP_ALIVES / 2) call.resume();
        // The header is taken before the renewal, as etcd does: a keep-alive answered
        // at revision r never follows a revocation of the lease at or below r.
        const header = ctx.header();
        const TTL = await ctx.lessor.keepAlive(id, signal);
        if (gone()) return;
        const res = etcdserverpb.LeaseKeepAliveResponse.fromPartial({ header, ID: id, TTL });
        // A client that sends keep-alives and does not read the answers: stop taking its
        // requests until gRPC has sent what it holds (unbounded memory otherwise).
        if (!call.write(res)) await drained(call, signal);
      }
      if (ended && !gone()) call.end();
    } catch (err) {
      fail(err);
    } finally {
      running = false;
    }
  };

  call.on("data", (req: etcdserverpb.LeaseKeepAliveRequest) => {
    if (gone()) return;
    queue.push(req.ID);
    if (queue.length >= MAX_QUEUED_KEEP_ALIVES) call.pause();
    if (!running) void run();
  });
  call.on("end", () => {
    ended = true;
    if (!running && !gone()) call.end();
  });
}
