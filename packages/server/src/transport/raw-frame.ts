/**
 * The wire format of the raw raft lanes (docs/architecture.md, "Peer transport"): a codec
 * with no I/O, buffers in and frames out.
 *
 * A lane connection starts with the 4 bytes {@link RAW_MAGIC} (never the start of the
 * HTTP/2 preface "PRI * HTTP/2.0", so one peer port serves both), then frames both ways:
 *
 *     u32 little-endian payload length | u8 frame type | payload
 *
 * Sender → receiver: HELLO (first, once), BATCH (a peerpb.RaftBatch protobuf), PING.
 * Receiver → sender: PONG (answer to each PING), REFUSE (u32le gRPC status code, UTF-8
 * message; the receiver closes the connection after it).
 */

import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { peerpb } from "@chainfire/api";

/** First bytes of a raw lane connection ("CFRL"). */
export const RAW_MAGIC = Buffer.from("CFRL", "latin1");

/** A frame past this many payload bytes is refused (gRPC's limit on the peer port). */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

export enum FrameType {
  Hello = 1,
  Batch = 2,
  Ping = 3,
  Pong = 4,
  Refuse = 5,
}

/** Which lane of a peer link a connection carries. */
export enum LaneKind {
  Control = 0,
  Bulk = 1,
}

/** The HELLO frame: who sends, to whom, in which cluster, on which lane. */
export interface LaneHello {
  protocolVersion: number;
  lane: LaneKind;
  clusterId: bigint;
  from: bigint;
  to: bigint;
}

const HEADER_BYTES = 5;
const HELLO_BYTES = 2 + 3 * 8;

/** A frame that violates the format (the connection is closed). */
export class FrameError extends Error {
  override readonly name = "FrameError";
}

function frame(type: FrameType, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out[4] = type;
  out.set(payload, HEADER_BYTES);
  return out;
}

export function encodeHello(h: LaneHello): Buffer {
  const p = Buffer.allocUnsafe(HELLO_BYTES);
  p[0] = h.protocolVersion;
  p[1] = h.lane;
  p.writeBigUInt64LE(h.clusterId, 2);
  p.writeBigUInt64LE(h.from, 10);
  p.writeBigUInt64LE(h.to, 18);
  return Buffer.concat([RAW_MAGIC, frame(FrameType.Hello, p)]);
}

export function decodeHello(p: Buffer): LaneHello {
  if (p.length !== HELLO_BYTES) throw new FrameError(`bad HELLO frame (${p.length} bytes)`);
  const lane = p[1];
  if (lane !== LaneKind.Control && lane !== LaneKind.Bulk) {
    throw new FrameError(`unknown lane ${lane}`);
  }
  return {
    protocolVersion: p[0],
    lane,
    clusterId: p.readBigUInt64LE(2),
    from: p.readBigUInt64LE(10),
    to: p.readBigUInt64LE(18),
  };
}

/** One BATCH frame in one buffer: the protobuf is encoded behind a reserved header. */
export function encodeBatch(b: peerpb.RaftBatch): Uint8Array {
  const w = new BinaryWriter();
  w.fixed32(0).uint32(FrameType.Batch); // a varint below 128 is one byte
  peerpb.RaftBatch.encode(b, w);
  const out = w.finish();
  new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(
    0,
    out.byteLength - HEADER_BYTES,
    true,
  );
  return out;
}

export const PING_FRAME = frame(FrameType.Ping, new Uint8Array(0));
export const PONG_FRAME = frame(FrameType.Pong, new Uint8Array(0));

export function encodeRefuse(code: number, message: string): Buffer {
  const text = Buffer.from(message, "utf8");
  const p = Buffer.allocUnsafe(4 + text.length);
  p.writeUInt32LE(code, 0);
  text.copy(p, 4);
  return frame(FrameType.Refuse, p);
}

export function decodeRefuse(p: Buffer): { code: number; message: string } {
  if (p.length < 4) throw new FrameError("bad REFUSE frame");
  return { code: p.readUInt32LE(0), message: p.subarray(4).toString("utf8") };
}

/** One decoded frame; `payload` may share memory with the received chunk. */
export interface Frame {
  type: number;
  payload: Buffer;
}

/**
 * Splits received bytes into frames. Push each chunk; complete frames come out in order,
 * a partial one waits for the next chunk. Throws {@link FrameError} on a frame past
 * {@link MAX_FRAME_BYTES} (the stream cannot be trusted after that).
 */
export class FrameReader {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Bytes the pending frame needs in all (its header first). */
  #need = 0;

  push(chunk: Buffer): Frame[] {
    let buf = chunk;
    if (this.#pendingBytes > 0) {
      // Large frames arrive in many chunks: join them once, when the frame is complete.
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.length;
      if (this.#pendingBytes < this.#need) return [];
      buf = Buffer.concat(this.#pending, this.#pendingBytes);
      this.#pending = [];
      this.#pendingBytes = 0;
    }
    const out: Frame[] = [];
    let pos = 0;
    while (buf.length - pos >= HEADER_BYTES) {
      const len = buf.readUInt32LE(pos);
      if (len > MAX_FRAME_BYTES) {
        throw new FrameError(`frame of ${len} bytes is over the ${MAX_FRAME_BYTES} limit`);
      }
      if (buf.length - pos < HEADER_BYTES + len) break;
      out.push({
        type: buf[pos + 4],
        payload: buf.subarray(pos + HEADER_BYTES, pos + HEADER_BYTES + len),
      });
      pos += HEADER_BYTES + len;
    }
    const rest = buf.length - pos;
    if (rest > 0) {
      this.#pending = [buf.subarray(pos)];
      this.#pendingBytes = rest;
      this.#need = rest >= HEADER_BYTES ? HEADER_BYTES + buf.readUInt32LE(pos) : HEADER_BYTES;
    }
    return out;
  }
}
