/**
 * Every client-facing gRPC service of a member, registered on the member's client
 * server in one call:
 *
 * ```ts
 * const server = new Server(clientServerOptions(ctx.options));
 * const services = registerClientServices(server, ctx);
 * // ... bind, serve; on close: services.dispose(); server.forceShutdown();
 * ```
 *
 * Each handler is wrapped (interceptors.ts): request counters, the error table
 * (errors.ts) for anything thrown, and etcd's learner rule (a learner serves only
 * Maintenance.Status and serializable KV.Range; everything else answers "etcdserver: rpc
 * not supported for learner").
 *
 * | service                      | state                                                        |
 * | ---------------------------- | ------------------------------------------------------------ |
 * | etcdserverpb.KV              | services/kv.ts (core)                                        |
 * | etcdserverpb.Maintenance     | Status, Alarm, HashKV, Snapshot, MoveLeader; rest UNIMPLEMENTED |
 * | etcdserverpb.Cluster         | MemberList, MemberAdd/Remove/Update/Promote via the context  |
 * | grpc.health.v1.Health        | SERVING while the member has a leader                        |
 * | etcdserverpb.Watch           | services/watch.ts (core)                                     |
 * | etcdserverpb.Lease           | services/lease.ts (the member's Lessor, lease/)              |
 * | etcdserverpb.Auth            | services/auth.ts (auth/ holds the store, tokens, checks)     |
 *
 * While auth is on, every handler is first authorized (auth-gate.ts: the caller's token
 * or certificate, etcd's per-method rules), inside the instrumentation.
 */
import { ErrNotSupportedForLearner, EtcdError, etcdserverpb } from "@chainfire/api";
import type { ChannelOptions } from "@grpc/grpc-js";
import type { Disposable, MemberContext } from "../member-context.js";
import type { MemberOptions } from "../member-options.js";
import { authService } from "./auth.js";
import { authorizeService } from "./auth-gate.js";
import { clusterService } from "./cluster.js";
import { registerHealthService } from "./health.js";
import {
  type InstrumentOptions,
  instrumentedRegistry,
  instrumentService,
  type ServiceRegistry,
  type ServiceShape,
} from "./interceptors.js";
import { kvService } from "./kv.js";
import { leaseService } from "./lease.js";
import { maintenanceService } from "./maintenance.js";
import { watchService } from "./watch.js";

/** etcd's allowance on top of --max-request-bytes for gRPC framing (grpcOverheadBytes). */
export const GRPC_OVERHEAD_BYTES = 512 * 1024;

/**
 * grpc-js options for the client server, as etcd sets its gRPC server: receive up to
 * --max-request-bytes plus framing overhead (a larger request fails before it is decoded;
 * requests in between get "etcdserver: request is too large" from the service), send
 * without a limit (reads are bounded before they are built: --max-response-bytes), at
 * most --max-concurrent-streams streams per connection (HTTP/2 SETTINGS; nghttp2 refuses
 * streams beyond it with RST_STREAM REFUSED_STREAM).
 */
export function clientServerOptions(
  options: Pick<MemberOptions, "maxRequestBytes" | "maxConcurrentStreams">,
): ChannelOptions {
  return {
    "grpc.max_receive_message_length": options.maxRequestBytes + GRPC_OVERHEAD_BYTES,
    "grpc.max_send_message_length": -1,
    "grpc.max_concurrent_streams": options.maxConcurrentStreams,
    // Nothing reads channelz; its bookkeeping costs per call and per message.
    "grpc.enable_channelz": 0,
  };
}

/**
 * Registers KV, Maintenance, Cluster, Watch, Lease, Auth and Health on
 * `server`. Dispose to release the context listeners (the health service's).
 */
export function registerClientServices(server: ServiceRegistry, ctx: MemberContext): Disposable {
  const opts: InstrumentOptions = {
    logger: ctx.logger.child({ svc: "grpc" }),
    metrics: ctx.metrics,
    gate: (path, request) => learnerGate(ctx, path, request),
    hasLeader: () => ctx.hasLeader(),
  };
  const add = (definition: ServiceShape, impl: object) =>
    server.addService(
      definition,
      instrumentService(
        definition,
        authorizeService(definition, impl as Record<string, unknown>, () => ctx.auth),
        opts,
      ),
    );

  add(etcdserverpb.KVService, kvService(ctx));
  add(etcdserverpb.MaintenanceService, maintenanceService(ctx));
  add(etcdserverpb.ClusterService, clusterService(ctx));
  add(etcdserverpb.WatchService, watchService(ctx));
  add(etcdserverpb.LeaseService, leaseService(ctx));
  add(etcdserverpb.AuthService, authService(ctx));
  // The health service bypasses the learner gate: probes must work on learners too.
  return registerHealthService(instrumentedRegistry(server, { ...opts, gate: undefined }), ctx);
}

/** etcd's rule (v3rpc interceptor.go): a learner serves Status and serializable Range only. */
function learnerGate(ctx: MemberContext, path: string, request: unknown): EtcdError | undefined {
  if (!ctx.isLearner()) return undefined;
  if (path === "/etcdserverpb.Maintenance/Status") return undefined;
  if (path === "/etcdserverpb.KV/Range" && (request as { serializable?: boolean })?.serializable) {
    return undefined;
  }
  return new EtcdError(ErrNotSupportedForLearner);
}
