/**
 * The receiving end of a raw raft lane (raw-frame.ts): checks the HELLO (protocol
 * version, cluster, removed sender, recipient), then steps every BATCH through the same
 * checks as before (raft-batch.ts) and answers each PING with a PONG. A refused lane gets
 * a REFUSE frame with the gRPC status and etcd's message (the sender learns, e.g., that it
 * was removed: member-removal.ts) and is closed. A batch that is not a valid protobuf is
 * dropped with a warning; a lane that breaks the framing is refused.
 */
import type { Socket } from "node:net";
import { EtcdError, peerpb } from "@chainfire/api";
import { status } from "@grpc/grpc-js";
import { PROTOCOL_VERSION } from "./peer-connection.js";
import { type RaftBatchHost, receiveRaftBatch, refuseSender } from "./raft-batch.js";
import {
  decodeHello,
  encodeRefuse,
  FrameError,
  FrameReader,
  FrameType,
  type LaneHello,
  PONG_FRAME,
  RAW_MAGIC,
} from "./raw-frame.js";

/** A lane that sends nothing (not even a PING) for this long is closed. */
export const RECEIVER_IDLE_MS = 15_000;
/** After a REFUSE, the connection is destroyed if the sender has not closed it by then. */
const LINGER_MS = 1_000;

/**
 * Serves a raw lane on `socket`, whose first bytes `first` (starting with
 * {@link RAW_MAGIC}) were already read from it.
 */
export function serveRawLane(socket: Socket, first: Buffer, host: RaftBatchHost): void {
  const log = host.logger;
  const reader = new FrameReader();
  let hello: LaneHello | null = null;
  let closed = false;
  const peer = () => (hello ? hello.from.toString(16) : undefined);

  const refuse = (err: EtcdError) => {
    if (closed) return;
    closed = true;
    socket.off("data", onData);
    socket.end(encodeRefuse(err.code, err.details));
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  };
  const invalid = (what: string) => {
    log.warn({ peer: peer(), remote: socket.remoteAddress, err: what }, "refusing a raft lane");
    refuse(new EtcdError(status.INVALID_ARGUMENT, what));
  };

  const onHello = (payload: Buffer) => {
    let h: LaneHello;
    try {
      h = decodeHello(payload);
    } catch (err) {
      return invalid((err as Error).message);
    }
    if (h.protocolVersion !== PROTOCOL_VERSION) {
      const msg = `peer protocol version ${h.protocolVersion} is not supported (this member speaks ${PROTOCOL_VERSION})`;
      log.warn({ peer: h.from.toString(16) }, msg);
      return refuse(new EtcdError(status.FAILED_PRECONDITION, msg));
    }
    const refused = refuseSender(host, h.clusterId, h.from, h.to);
    if (refused !== null) return refuse(refused);
    hello = h;
  };

  const onBatch = (h: LaneHello, payload: Buffer) => {
    let b: peerpb.RaftBatch;
    try {
      b = peerpb.RaftBatch.decode(payload);
    } catch (err) {
      log.warn({ peer: peer(), err: (err as Error).message }, "dropping a malformed raft batch");
      return;
    }
    if (b.from !== h.from) {
      return refuse(
        new EtcdError(
          status.PERMISSION_DENIED,
          `raft batch from member ${b.from.toString(16)} on a lane of ${h.from.toString(16)}`,
        ),
      );
    }
    const r = receiveRaftBatch(host, b);
    if (typeof r !== "number") refuse(r);
  };

  function onData(chunk: Buffer): void {
    if (closed) return;
    let frames: ReturnType<FrameReader["push"]>;
    try {
      frames = reader.push(chunk);
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      invalid(err.message);
      return;
    }
    for (const f of frames) {
      if (closed) return;
      if (hello === null) {
        if (f.type !== FrameType.Hello) {
          invalid(`expected HELLO, got frame type ${f.type}`);
          return;
        }
        onHello(f.payload);
        continue;
      }
      if (f.type === FrameType.Batch) onBatch(hello, f.payload);
      else if (f.type === FrameType.Ping) socket.write(PONG_FRAME);
      else {
        invalid(`unexpected frame type ${f.type}`);
        return;
      }
    }
  }

  socket.setNoDelay(true);
  socket.setTimeout(RECEIVER_IDLE_MS, () => socket.destroy());
  socket.on("error", () => {});
  socket.on("data", onData);
  onData(first.subarray(RAW_MAGIC.length));
  socket.resume();
}
