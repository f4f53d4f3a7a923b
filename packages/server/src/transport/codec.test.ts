import { raftpb } from "@chainfire/api";
import { EntryType, type Message, MessageType, newMessage } from "@chainfire/raft";
import { describe, expect, it } from "vitest";
import { MalformedMessageError, messageFromWire, messageToWire } from "./codec.js";

describe("raft message codec", () => {
  it("round-trips messages through the wire encoding", () => {
    const msgs: Message[] = [
      newMessage({
        type: MessageType.MsgApp,
        to: 0xffff_ffff_ffff_fff0n,
        from: 2n,
        term: 7,
        logTerm: 6,
        index: 41,
        commit: 40,
        entries: [
          { term: 7, index: 42, type: EntryType.Normal, data: Buffer.from("put") },
          { term: 7, index: 43, type: EntryType.ConfChange, data: Buffer.from([1, 2, 3]) },
        ],
      }),
      newMessage({
        type: MessageType.MsgAppResp,
        to: 2n,
        from: 3n,
        term: 7,
        reject: true,
        rejectHint: 9,
        index: 41,
      }),
      newMessage({
        type: MessageType.MsgHeartbeat,
        to: 2n,
        from: 3n,
        term: 7,
        context: Buffer.from("ctx"),
      }),
      newMessage({
        type: MessageType.MsgSnap,
        to: 2n,
        from: 3n,
        term: 7,
        snapshot: {
          data: new Uint8Array(0),
          metadata: {
            index: 100,
            term: 6,
            confState: {
              voters: [1n, 2n, 3n],
              learners: [4n],
              votersOutgoing: [],
              learnersNext: [],
              autoLeave: false,
            },
          },
        },
      }),
    ];
    for (const m of msgs) {
      const bytes = raftpb.Message.encode(messageToWire(m)).finish();
      const back = messageFromWire(raftpb.Message.decode(bytes));
      const norm = (x: Message) => ({
        ...x,
        context: Buffer.from(x.context),
        entries: x.entries.map((e) => ({ ...e, data: Buffer.from(e.data) })),
        ...(x.snapshot ? { snapshot: { ...x.snapshot, data: Buffer.from(x.snapshot.data) } } : {}),
      });
      expect(norm(back)).toEqual(norm(m));
    }
  });

  it("refuses unknown types and numbers past 2^53", () => {
    const base = messageToWire(newMessage({ type: MessageType.MsgHeartbeat, to: 1n, from: 2n }));
    expect(() => messageFromWire({ ...base, type: 99 as raftpb.MessageType })).toThrow(
      MalformedMessageError,
    );
    expect(() => messageFromWire({ ...base, term: 1n << 60n })).toThrow(MalformedMessageError);
    expect(() =>
      messageFromWire({
        ...base,
        entries: [{ term: 1n, index: 1n, type: 7 as raftpb.EntryType, data: Buffer.alloc(0) }],
      }),
    ).toThrow(MalformedMessageError);
  });
});
