import { EventEmitter } from "node:events";
import { type peerpb, raftpb } from "@chainfire/api";
import { describe, expect, it } from "vitest";
import { type BatchSink, isControlMessage, MAX_BATCH_BYTES, PeerLane } from "./peer-lane.js";

/** A stream that records writes and pushes back while `full` is set. */
class FakeStream extends EventEmitter implements BatchSink {
  readonly writes: peerpb.RaftBatch[] = [];
  full = false;
  ended = false;
  write(b: peerpb.RaftBatch): boolean {
    this.writes.push(b);
    return !this.full;
  }
  end(): void {
    this.ended = true;
  }
}

const header = () => ({ clusterId: 1n, from: 2n, to: 3n });
const msg = (type: raftpb.MessageType, dataBytes = 0): raftpb.Message =>
  raftpb.Message.fromPartial({
    type,
    to: 3n,
    from: 2n,
    entries: dataBytes > 0 ? [{ data: Buffer.alloc(dataBytes) }] : [],
  });
const open = (lane: PeerLane, s: FakeStream) => lane.open(s, header);

describe("peer lanes", () => {
  it("sends heartbeats, votes and ReadIndex on the control lane, appends on the bulk lane", () => {
    const T = raftpb.MessageType;
    for (const t of [
      T.MsgHeartbeat,
      T.MsgHeartbeatResp,
      T.MsgVote,
      T.MsgPreVoteResp,
      T.MsgReadIndex,
    ]) {
      expect(isControlMessage(msg(t)), T[t]).toBe(true);
    }
    for (const t of [T.MsgApp, T.MsgAppResp, T.MsgProp, T.MsgTransferLeader]) {
      expect(isControlMessage(msg(t)), T[t]).toBe(false);
    }
  });

  it("writes everything queued as one batch, with the link's header", () => {
    const lane = new PeerLane();
    lane.push([msg(raftpb.MessageType.MsgApp, 10), msg(raftpb.MessageType.MsgApp, 10)]);
    const s = new FakeStream();
    open(lane, s);
    expect(s.writes).toHaveLength(1);
    expect(s.writes[0]).toMatchObject({ clusterId: 1n, from: 2n, to: 3n });
    expect(s.writes[0].messages).toHaveLength(2);
    expect(lane.queued).toBe(0);
  });

  it("splits batches past MAX_BATCH_BYTES and waits for drain when pushed back", () => {
    const lane = new PeerLane();
    const s = new FakeStream();
    open(lane, s);
    s.full = true;
    const big = Math.ceil(MAX_BATCH_BYTES / 2);
    lane.push([1, 2, 3, 4].map(() => msg(raftpb.MessageType.MsgApp, big)));
    lane.flush(header);
    // First batch: two messages reach the bound; then the stream pushes back.
    expect(s.writes).toHaveLength(1);
    expect(s.writes[0].messages).toHaveLength(2);
    expect(lane.queued).toBe(2);
    lane.flush(header); // still blocked: nothing more
    expect(s.writes).toHaveLength(1);
    s.full = false;
    s.emit("drain");
    expect(s.writes).toHaveLength(2);
    expect(lane.queued).toBe(0);
  });

  it("drops its queue and ends the stream on close; a stale drain writes nothing", () => {
    const lane = new PeerLane();
    const s = new FakeStream();
    open(lane, s);
    s.full = true;
    lane.push([msg(raftpb.MessageType.MsgApp, 1)]);
    lane.flush(header);
    lane.push([msg(raftpb.MessageType.MsgApp, 1)]);
    lane.close();
    expect(s.ended).toBe(true);
    expect(lane.queued).toBe(0);
    s.emit("drain");
    expect(s.writes).toHaveLength(1);
  });
});
