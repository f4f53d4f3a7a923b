/**
 * One lane of a peer link: a queue of raft messages and the connection (a raw lane,
 * raw-lane-sender.ts) they are written to, as RaftBatch messages of at most
 * {@link MAX_BATCH_BYTES} of entry data. When the socket pushes back (`write` returns
 * false) the lane stops writing until `drain`; messages meanwhile wait in the queue.
 *
 * A link has two lanes (peer-connection.ts): bulk (MsgApp, MsgAppResp, and everything not
 * control) and control (heartbeats, votes, ReadIndex, TimeoutNow), each on its own
 * connection, so a heartbeat never waits behind megabytes of appends queued here or in
 * the bulk connection's socket buffers.
 */
import { type peerpb, raftpb } from "@chainfire/api";

/** A RaftBatch is split past this many bytes of entry data. */
export const MAX_BATCH_BYTES = 4 * 1024 * 1024;

const CONTROL_TYPES = new Set<raftpb.MessageType>([
  raftpb.MessageType.MsgHeartbeat,
  raftpb.MessageType.MsgHeartbeatResp,
  raftpb.MessageType.MsgVote,
  raftpb.MessageType.MsgVoteResp,
  raftpb.MessageType.MsgPreVote,
  raftpb.MessageType.MsgPreVoteResp,
  raftpb.MessageType.MsgTimeoutNow,
  raftpb.MessageType.MsgReadIndex,
  raftpb.MessageType.MsgReadIndexResp,
]);

/** Whether `m` travels on the control lane. */
export function isControlMessage(m: raftpb.Message): boolean {
  return CONTROL_TYPES.has(m.type);
}

/** Where a lane writes its batches (a raw lane connection: raw-lane-sender.ts). */
export interface BatchSink {
  /** Writes one batch; false means "stop until drain". */
  write(b: peerpb.RaftBatch): boolean;
  /** Sends what was written in this event-loop turn now (optional). */
  flushNow?(): void;
  once(event: "drain", listener: () => void): unknown;
  end(): void;
}

/** The header every RaftBatch of a link carries. */
export interface BatchHeader {
  clusterId: bigint;
  from: bigint;
  to: bigint;
}

export class PeerLane {
  #queue: raftpb.Message[] = [];
  #stream: BatchSink | null = null;
  #blocked = false;

  /** Messages waiting to be written. */
  get queued(): number {
    return this.#queue.length;
  }

  /** The stream this lane writes to (null while the link is down). */
  get stream(): BatchSink | null {
    return this.#stream;
  }

  push(msgs: readonly raftpb.Message[]): void {
    for (const m of msgs) this.#queue.push(m);
  }

  /** Attaches a freshly opened stream and writes what is queued. */
  open(stream: BatchSink, header: () => BatchHeader): void {
    this.#stream = stream;
    this.#blocked = false;
    this.flush(header);
  }

  /** Detaches and ends the stream, drops the queue. */
  close(): void {
    const s = this.#stream;
    this.#stream = null;
    this.#blocked = false;
    this.#queue = [];
    if (s) s.end();
  }

  /** Writes queued messages until the queue is empty or the socket pushes back. */
  flush(header: () => BatchHeader): void {
    const stream = this.#stream;
    if (stream === null || this.#queue.length === 0) return;
    const { clusterId, from, to } = header();
    while (this.#queue.length > 0 && !this.#blocked) {
      let bytes = 0;
      let n = 0;
      while (n < this.#queue.length && (n === 0 || bytes < MAX_BATCH_BYTES)) {
        for (const e of this.#queue[n].entries) bytes += e.data.length + 24;
        n++;
      }
      const messages = n === this.#queue.length ? this.#queue : this.#queue.slice(0, n);
      this.#queue = n === this.#queue.length ? [] : this.#queue.slice(n);
      const ok = stream.write({ clusterId, from, to, messages });
      if (!ok) {
        this.#blocked = true;
        stream.once("drain", () => {
          if (this.#stream !== stream) return;
          this.#blocked = false;
          this.flush(header);
        });
      }
    }
  }
}
