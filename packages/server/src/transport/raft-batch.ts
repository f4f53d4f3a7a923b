/**
 * Checks on raft traffic from a peer, before anything reaches raft: the sender's cluster
 * id (another cluster is refused with "etcdserver: cluster ID mismatch" and an error in
 * the log), a removed sender (removed-peers.ts), the recipient id, and each message's
 * shape (codec.ts). Used by the raw lane receiver (raw-lane-receiver.ts) and the Hello /
 * Snapshot handlers (peer-service.ts).
 */
import { ErrClusterIdMismatch, EtcdError, type peerpb } from "@chainfire/api";
import { type Message, MessageType } from "@chainfire/raft";
import { status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { MalformedMessageError, messageFromWire } from "./codec.js";
import type { LocalIdentity } from "./peer-connection.js";
import { isMemberRemoved, refuseRemoved } from "./removed-peers.js";

/** What receiving raft batches needs from the member. */
export interface RaftBatchHost {
  identity(): LocalIdentity;
  /** Feeds a message from a peer to raft. */
  step(m: Message): void;
  /** Whether `id` was removed from the cluster: its traffic is refused. */
  isRemoved?(id: bigint): boolean;
  readonly logger: Logger;
}

/** The refusal of a peer of another cluster, logged as an error. */
export function refuseCluster(
  logger: Logger,
  local: bigint,
  remote: bigint,
  from: bigint,
): EtcdError {
  logger.error(
    {
      peer: from.toString(16),
      localClusterId: local.toString(16),
      remoteClusterId: remote.toString(16),
    },
    "etcdserver: cluster ID mismatch: refusing a peer of another cluster",
  );
  return new EtcdError(ErrClusterIdMismatch);
}

/**
 * Why traffic claiming to come from `from` of cluster `clusterId` to `to` is refused, or
 * null if it is acceptable.
 */
export function refuseSender(
  host: RaftBatchHost,
  clusterId: bigint,
  from: bigint,
  to: bigint,
): EtcdError | null {
  const id = host.identity();
  if (clusterId !== id.clusterId) return refuseCluster(host.logger, id.clusterId, clusterId, from);
  if (isMemberRemoved(host, from)) return refuseRemoved(host.logger, from);
  if (to !== id.memberId) {
    return new EtcdError(status.PERMISSION_DENIED, `raft batch for member ${to.toString(16)}`);
  }
  return null;
}

/**
 * Steps the messages of `b` (malformed ones, or ones with a wrong sender, recipient or
 * type, are dropped with a warning); returns the refusal instead if the batch's header
 * is refused, and then steps nothing. Returns how many messages the batch carried.
 */
export function receiveRaftBatch(host: RaftBatchHost, b: peerpb.RaftBatch): EtcdError | number {
  const refused = refuseSender(host, b.clusterId, b.from, b.to);
  if (refused !== null) return refused;
  const me = b.to;
  for (const wm of b.messages) {
    let m: Message;
    try {
      m = messageFromWire(wm);
    } catch (err) {
      if (!(err instanceof MalformedMessageError)) throw err;
      host.logger.warn(
        { peer: b.from.toString(16), err: err.message },
        "dropping a malformed raft message",
      );
      continue;
    }
    if (m.from !== b.from || m.to !== me || m.type === MessageType.MsgSnap) {
      host.logger.warn(
        { peer: b.from.toString(16) },
        "dropping a raft message with a wrong sender, recipient or type",
      );
      continue;
    }
    host.step(m);
  }
  return b.messages.length;
}
