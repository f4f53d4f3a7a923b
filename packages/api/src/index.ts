/**
 * @chainfire/api: the wire protocol of Chainfire.
 *
 * - `etcdserverpb`, `mvccpb`, `authpb`: etcd's v3 client API (etcd v3.5), generated
 *   from `proto/etcd/**` by ts-proto. Messages, enums, grpc-js service
 *   definitions (`KVService`, `WatchService`, ...) and clients (`KVClient`, ...).
 * - `raftpb`, `peerpb`: Chainfire's own member-to-member protocol.
 * - etcd's client-visible errors ({@link EtcdError}, `ErrCompacted`, ...) and limits.
 *
 * See README.md for how to build messages and serve a service.
 *
 * @module
 */

export * from "./errors.js";
export * as internalpb from "./gen/chainfire/internalpb/internal.js";
export * as peerpb from "./gen/chainfire/peerpb/peer.js";
export * as raftpb from "./gen/chainfire/raftpb/raft.js";
export * as authpb from "./gen/etcd/authpb/auth.js";
export * as etcdserverpb from "./gen/etcd/etcdserverpb/rpc.js";
export * as mvccpb from "./gen/etcd/mvccpb/kv.js";
export * from "./limits.js";
