/**
 * grpc.health.v1.Health (the standard gRPC health service, from grpc-health-check): the
 * overall service ("") and each etcd service are SERVING while the member knows a leader
 * and is not shutting down, NOT_SERVING otherwise. Load balancers and `grpc_health_probe`
 * use it; etcd registers the same service.
 */
import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import type { Disposable, MemberContext } from "../member-context.js";
import type { ServiceRegistry } from "./interceptors.js";

/** Service names reported besides "" (the whole server). */
export const HEALTH_SERVICE_NAMES = [
  "",
  "etcdserverpb.KV",
  "etcdserverpb.Watch",
  "etcdserverpb.Lease",
  "etcdserverpb.Cluster",
  "etcdserverpb.Maintenance",
  "etcdserverpb.Auth",
] as const;

/**
 * Adds the health service to `server` and keeps its status in step with the member's
 * leader. Dispose to stop listening (the status then stays as it was).
 */
export function registerHealthService(server: ServiceRegistry, ctx: MemberContext): Disposable {
  const health = new HealthImplementation();
  let current: ServingStatus | undefined;
  const update = () => {
    const next: ServingStatus =
      ctx.hasLeader() && !ctx.stopping.aborted ? "SERVING" : "NOT_SERVING";
    if (next === current) return;
    current = next;
    for (const name of HEALTH_SERVICE_NAMES) health.setStatus(name, next);
  };
  update();
  health.addToServer(server);
  const sub = ctx.onLeaderChange(update);
  ctx.stopping.addEventListener("abort", update, { once: true });
  return {
    dispose() {
      sub.dispose();
      ctx.stopping.removeEventListener("abort", update);
    },
  };
}
