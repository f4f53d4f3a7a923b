/**
 * The gRPC server side of the peer protocol (peerpb.Peer): Hello and the Snapshot stream
 * (raft messages travel on raw lanes: raw-lane-receiver.ts). Every message from the
 * network is checked before it reaches raft: the sender's cluster id (a peer of another
 * cluster is refused with FAILED_PRECONDITION "etcdserver: cluster ID mismatch" and an
 * error in the log), the recipient id, and the message's shape (see codec.ts).
 * Forward/ForwardStream: forward.ts.
 */
import { createHash } from "node:crypto";
import { EtcdError, peerpb } from "@chainfire/api";
import type { Message } from "@chainfire/raft";
import { MessageType } from "@chainfire/raft";
import type { StagedSnapshot } from "@chainfire/storage";
import {
  type ServerReadableStream,
  type ServerUnaryCall,
  type sendUnaryData,
  status,
} from "@grpc/grpc-js";
import type { Logger } from "pino";
import { messageFromWire } from "./codec.js";
import { type ForwardHandler, forwardHandlers } from "./forward.js";
import { type LocalIdentity, PROTOCOL_VERSION } from "./peer-connection.js";
import { refuseCluster } from "./raft-batch.js";
import { isMemberRemoved, refuseRemoved } from "./removed-peers.js";

/** What the peer service needs from the member. */
export interface PeerServiceHost {
  identity(): LocalIdentity;
  members(): peerpb.MemberInfo[];
  /** A peer introduced itself (Hello): a link waiting to reconnect to it may go now. */
  onPeerHello(id: bigint): void;
  /** Feeds a message from a peer to raft (malformed or unexpected ones are dropped there). */
  step(m: Message): void;
  /** Writes a received state snapshot next to the database and verifies it (no effect yet). */
  stageSnapshot(data: AsyncIterable<Uint8Array>): Promise<StagedSnapshot>;
  /**
   * Installs a staged snapshot sent with `msg` (a MsgSnap), then steps `msg`. Resolves
   * with the applied index installed (or already had, for a stale snapshot).
   */
  installSnapshot(staged: StagedSnapshot, msg: Message): Promise<bigint>;
  /** Whether `id` was removed from the cluster: its Hello and Raft stream are refused. */
  isRemoved?(id: bigint): boolean;
  /** Serves requests other members forward to the leader (forward.ts); optional. */
  readonly forward?: ForwardHandler;
  readonly logger: Logger;
}

/** The Peer service implementation for `host`. */
export function createPeerService(host: PeerServiceHost): peerpb.PeerServer {
  const log = host.logger;
  return {
    hello(
      call: ServerUnaryCall<peerpb.HelloRequest, peerpb.HelloResponse>,
      callback: sendUnaryData<peerpb.HelloResponse>,
    ) {
      const id = host.identity();
      const req = call.request;
      if (req.clusterId !== 0n && req.clusterId !== id.clusterId) {
        return callback(refuseCluster(log, id.clusterId, req.clusterId, req.memberId));
      }
      if (isMemberRemoved(host, req.memberId)) return callback(refuseRemoved(log, req.memberId));
      if (req.memberId !== 0n) host.onPeerHello(req.memberId);
      callback(
        null,
        peerpb.HelloResponse.fromPartial({
          clusterId: id.clusterId,
          memberId: id.memberId,
          name: id.name,
          peerUrls: id.peerUrls,
          clientUrls: id.clientUrls,
          version: id.version,
          protocolVersion: PROTOCOL_VERSION,
          members: host.members(),
        }),
      );
    },

    raft(
      _call: ServerReadableStream<peerpb.RaftBatch, peerpb.RaftAck>,
      callback: sendUnaryData<peerpb.RaftAck>,
    ) {
      // Since protocol version 2 raft messages travel on raw lanes (raw-lane-receiver.ts).
      callback(
        new EtcdError(
          status.UNIMPLEMENTED,
          `raft messages travel on raw peer lanes (peer protocol ${PROTOCOL_VERSION})`,
        ),
      );
    },

    snapshot(
      call: ServerReadableStream<peerpb.SnapshotChunk, peerpb.SnapshotAck>,
      callback: sendUnaryData<peerpb.SnapshotAck>,
    ) {
      receiveSnapshot(host, call).then(
        (ack) => callback(null, ack),
        (err: unknown) => {
          const e = err as Error & { code?: number };
          log.warn({ err: e.message }, "snapshot transfer from the leader failed");
          callback(e.code !== undefined ? e : Object.assign(e, { code: status.ABORTED }));
        },
      );
    },

    // Requests only the leader serves (lease keep-alives, TimeToLive): see forward.ts.
    ...forwardHandlers(host),
  };
}

class SnapshotStreamError extends Error {
  readonly code = status.INVALID_ARGUMENT;
}

async function receiveSnapshot(
  host: PeerServiceHost,
  call: ServerReadableStream<peerpb.SnapshotChunk, peerpb.SnapshotAck>,
): Promise<peerpb.SnapshotAck> {
  const it = (call as AsyncIterable<peerpb.SnapshotChunk>)[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) throw new SnapshotStreamError("empty snapshot stream");
  const c0 = first.value;
  const id = host.identity();
  if (c0.clusterId !== id.clusterId) {
    throw refuseCluster(host.logger, id.clusterId, c0.clusterId, c0.from);
  }
  if (c0.to !== id.memberId || c0.message === undefined) {
    throw new SnapshotStreamError("bad first snapshot chunk");
  }
  let msg: Message;
  try {
    msg = messageFromWire(c0.message);
  } catch (err) {
    throw new SnapshotStreamError(`bad snapshot message: ${(err as Error).message}`);
  }
  if (msg.type !== MessageType.MsgSnap || msg.from !== c0.from || msg.to !== id.memberId) {
    throw new SnapshotStreamError("the first snapshot chunk must carry a MsgSnap");
  }
  let received = 0;
  let verified = false;
  const hash = createHash("sha256");
  async function* data(): AsyncGenerator<Uint8Array> {
    // The first chunk may carry data too.
    let c: peerpb.SnapshotChunk | undefined = c0;
    while (c !== undefined) {
      if (BigInt(received) !== c.offset)
        throw new SnapshotStreamError("snapshot chunk out of order");
      if (c.data.length > 0) {
        hash.update(c.data);
        received += c.data.length;
        yield c.data;
      }
      if (c.last) {
        if (!hash.digest().equals(c.sha256))
          throw new SnapshotStreamError("snapshot checksum mismatch");
        verified = true;
        return;
      }
      const n = await it.next();
      c = n.done ? undefined : n.value;
    }
    throw new SnapshotStreamError("snapshot stream ended before its last chunk");
  }
  const gen = data();
  // The stager reads the state up to its own trailer; the rest (our last chunk) is
  // drained here, so never let it close the generator early.
  const view: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => ({
      next: () => gen.next(),
      return: async () => ({ done: true, value: undefined }),
    }),
  };
  const staged = await host.stageSnapshot(view);
  try {
    for (let n = await gen.next(); !n.done; n = await gen.next()) {
      // bytes past the state's trailer: counted and hashed, otherwise ignored
    }
    if (!verified) throw new SnapshotStreamError("snapshot stream not fully read");
  } catch (err) {
    await staged.discard();
    throw err;
  }
  const index = await host.installSnapshot(staged, msg);
  return { receivedBytes: BigInt(received), index };
}
