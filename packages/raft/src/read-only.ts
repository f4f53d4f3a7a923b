import type { ReadOnlyOption } from "./config.js";
import type { JointConfig } from "./quorum/joint.js";
import type { AckedIndexer } from "./quorum/quorum.js";
import type { Message, NodeId } from "./types.js";
import { EMPTY_BYTES } from "./util.js";

/** A read-index request waiting for the leader to confirm its leadership. */
export interface ReadIndexRequest {
  /** The MsgReadIndex (local, or forwarded by a follower). */
  req: Message;
  /** The commit index when the request arrived: the read may be served at this index. */
  index: number;
}

/**
 * The leader's queue of ReadIndex requests (thesis §6.4), batched by heartbeat rounds.
 *
 * Each request gets a position in an ever-growing sequence; heartbeats carry the highest
 * position issued so far as their context, and followers echo it. Once a quorum has
 * echoed position p, every request up to p is confirmed: the leader was still leader
 * after they arrived, so their recorded commit index is safe to read at. One heartbeat
 * round thus confirms every read that was waiting when it was sent.
 *
 * Invariant: positions of `unconfirmedReads` are confirmedReads+1 .. confirmedReads+length.
 */
export class ReadOnly implements AckedIndexer {
  /** The highest position each node has acknowledged. */
  private readonly acks = new Map<NodeId, number>();
  private unconfirmedReads: ReadIndexRequest[] = [];
  private confirmedReads = 0;

  constructor(readonly option: ReadOnlyOption) {}

  /** Queues a request that may be served at `commitIndex` once confirmed. */
  addRequest(commitIndex: number, req: Message): void {
    this.unconfirmedReads.push({ req, index: commitIndex });
  }

  /** Records that `from` echoed heartbeat context `ctx`. */
  recvAck(from: NodeId, ctx: Uint8Array): void {
    const pos = decodePosition(ctx);
    if (pos < 0) return;
    const prev = this.acks.get(from) ?? 0;
    if (pos > prev) this.acks.set(from, pos);
  }

  /** AckedIndexer over the echoed positions. */
  ackedIndex(id: NodeId): number | undefined {
    return this.acks.get(id);
  }

  /** The requests a quorum of `voters` has now confirmed, oldest first (removed from the queue). */
  maybeAdvance(voters: JointConfig): ReadIndexRequest[] {
    const confirmed = voters.committedIndex(this);
    if (confirmed <= this.confirmedReads) return [];
    const n = Math.min(confirmed - this.confirmedReads, this.unconfirmedReads.length);
    const done = this.unconfirmedReads.splice(0, n);
    this.confirmedReads += n;
    return done;
  }

  /** How many requests are waiting for confirmation. */
  pendingCount(): number {
    return this.unconfirmedReads.length;
  }

  /** The context for the next heartbeat: the latest position, or empty if nothing waits. */
  heartbeatCtx(): Uint8Array {
    if (this.unconfirmedReads.length === 0) return EMPTY_BYTES;
    return encodePosition(this.confirmedReads + this.unconfirmedReads.length);
  }
}

const TWO_32 = 2 ** 32;

/** 8 bytes little-endian. Invariant: pos < 2^53. */
function encodePosition(pos: number): Uint8Array {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, pos % TWO_32, true);
  dv.setUint32(4, Math.floor(pos / TWO_32), true);
  return b;
}

/** The position in a heartbeat context, or -1 if it is not one. */
function decodePosition(ctx: Uint8Array): number {
  if (ctx.byteLength !== 8) return -1;
  const dv = new DataView(ctx.buffer, ctx.byteOffset, 8);
  return dv.getUint32(4, true) * TWO_32 + dv.getUint32(0, true);
}
