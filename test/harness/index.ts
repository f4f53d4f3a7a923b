/**
 * Test harness: real etcd or Chainfire member processes on loopback, a small etcd v3
 * gRPC client, and polling helpers. See test/README.md.
 */
export { Cluster, type ClusterOptions, type KillSignal, type RestartOptions } from "./cluster.js";
export {
  bytes,
  EtcdGrpcClient,
  type EtcdGrpcClientOptions,
  isServiceError,
  op,
  prefixEnd,
} from "./grpc-client.js";
export {
  CHAINFIRE_MAIN,
  CHAINFIRE_MALLOC_ENV,
  ExitedError,
  type ExitInfo,
  kindAvailable,
  Member,
  type MemberKind,
  type MemberState,
  REPO_ROOT,
} from "./member.js";
export { allocatePorts } from "./ports.js";
export { describeError, pollUntil, StopPolling } from "./wait.js";
