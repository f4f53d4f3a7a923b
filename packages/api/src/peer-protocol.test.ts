// Round trips of Chainfire's own peer protocol (raftpb, peerpb): every message
// through an independent encoder (protobufjs reading our .proto files) and back,
// plus a few realistic messages through the generated code alone.
import { describe, expect, it } from "vitest";
import { checkAll, type GeneratedModules, loadOurProtos } from "./__tests__/wire-check.js";
import * as peerpb from "./gen/chainfire/peerpb/peer.js";
import * as raftpb from "./gen/chainfire/raftpb/raft.js";

const modules: GeneratedModules = { "chainfire.raftpb": raftpb, "chainfire.peerpb": peerpb };

describe("peer protocol", () => {
  it("every raftpb and peerpb message round-trips against protobufjs in both directions", () => {
    const { checked, problems } = checkAll(loadOurProtos("chainfire/peerpb/peer.proto"), modules);
    expect(checked).toBe(19); // 9 in raftpb, 10 in peerpb
    expect(problems).toEqual([]);
  });

  it("numbers the raft message types in etcd raft's order", () => {
    const names = Object.entries(raftpb.MessageType)
      .filter(([, v]) => typeof v === "number" && v >= 0)
      .map(([k]) => k);
    expect(names).toEqual([
      "MsgHup",
      "MsgBeat",
      "MsgProp",
      "MsgApp",
      "MsgAppResp",
      "MsgVote",
      "MsgVoteResp",
      "MsgSnap",
      "MsgHeartbeat",
      "MsgHeartbeatResp",
      "MsgUnreachable",
      "MsgSnapStatus",
      "MsgCheckQuorum",
      "MsgTransferLeader",
      "MsgTimeoutNow",
      "MsgReadIndex",
      "MsgReadIndexResp",
      "MsgPreVote",
      "MsgPreVoteResp",
    ]);
  });

  it("round-trips a batch of appends with full 64-bit ids", () => {
    const batch = peerpb.RaftBatch.fromPartial({
      clusterId: 0xcdef_0123_4567_89abn,
      from: 0xffff_ffff_ffff_fff1n,
      to: 2n,
      messages: [
        {
          type: raftpb.MessageType.MsgApp,
          to: 2n,
          from: 0xffff_ffff_ffff_fff1n,
          term: 7n,
          logTerm: 6n,
          index: 41n,
          commit: 40n,
          entries: [
            { term: 7n, index: 42n, type: raftpb.EntryType.EntryNormal, data: Buffer.from("put") },
            {
              term: 7n,
              index: 43n,
              type: raftpb.EntryType.EntryConfChangeV2,
              data: Buffer.from(
                raftpb.ConfChangeV2.encode(
                  raftpb.ConfChangeV2.fromPartial({
                    transition: raftpb.ConfChangeTransition.ConfChangeTransitionJointExplicit,
                    changes: [{ type: raftpb.ConfChangeType.ConfChangeAddLearnerNode, nodeId: 4n }],
                  }),
                ).finish(),
              ),
            },
          ],
        },
        {
          type: raftpb.MessageType.MsgHeartbeat,
          to: 2n,
          term: 7n,
          commit: 43n,
          context: Buffer.from([1]),
        },
      ],
    });
    const decoded = peerpb.RaftBatch.decode(peerpb.RaftBatch.encode(batch).finish());
    expect(decoded).toEqual(batch);
    const cc = raftpb.ConfChangeV2.decode(decoded.messages[0].entries[1].data);
    expect(cc.changes[0]).toEqual({
      type: raftpb.ConfChangeType.ConfChangeAddLearnerNode,
      nodeId: 4n,
    });
  });

  it("round-trips the first and last chunks of a snapshot transfer", () => {
    const first = peerpb.SnapshotChunk.fromPartial({
      clusterId: 1n,
      from: 1n,
      to: 3n,
      message: {
        type: raftpb.MessageType.MsgSnap,
        to: 3n,
        from: 1n,
        term: 5n,
        snapshot: {
          metadata: {
            index: 1000n,
            term: 5n,
            confState: { voters: [1n, 2n, 3n], learners: [4n], autoLeave: false },
          },
        },
      },
      data: Buffer.alloc(64 * 1024, 7),
      offset: 0n,
      totalSize: 65_600n,
    });
    const last = peerpb.SnapshotChunk.fromPartial({
      clusterId: 1n,
      from: 1n,
      to: 3n,
      data: Buffer.alloc(64, 9),
      offset: 65_536n,
      last: true,
      sha256: Buffer.alloc(32, 0xab),
    });
    for (const chunk of [first, last]) {
      expect(peerpb.SnapshotChunk.decode(peerpb.SnapshotChunk.encode(chunk).finish())).toEqual(
        chunk,
      );
    }
    expect(last.message).toBeUndefined();
  });

  it("round-trips a forwarded request, its error response and the handshake", () => {
    const req = peerpb.ForwardRequest.fromPartial({
      id: 99n,
      clusterId: 1n,
      from: 2n,
      method: "LeaseKeepAlive",
      request: Buffer.from([8, 1]),
      timeoutMs: 5000,
    });
    const res = peerpb.ForwardResponse.fromPartial({
      id: 99n,
      error: { code: 9, message: "etcdserver: not leader" },
    });
    const hello = peerpb.HelloResponse.fromPartial({
      clusterId: 1n,
      memberId: 2n,
      name: "node02",
      peerUrls: ["https://node02:2380"],
      clientUrls: ["https://node02:2379"],
      version: "3.5.13",
      protocolVersion: 1,
      members: [{ id: 2n, name: "node02", peerUrls: ["https://node02:2380"], isLearner: false }],
    });
    expect(peerpb.ForwardRequest.decode(peerpb.ForwardRequest.encode(req).finish())).toEqual(req);
    expect(peerpb.ForwardResponse.decode(peerpb.ForwardResponse.encode(res).finish())).toEqual(res);
    expect(peerpb.HelloResponse.decode(peerpb.HelloResponse.encode(hello).finish())).toEqual(hello);
  });

  it("defines the Peer service's methods and streaming shapes", () => {
    const shape = Object.fromEntries(
      Object.entries(peerpb.PeerService).map(([k, m]) => [
        k,
        `${m.path} ${m.requestStream ? "stream" : "unary"}→${m.responseStream ? "stream" : "unary"}`,
      ]),
    );
    expect(shape).toEqual({
      hello: "/chainfire.peerpb.Peer/Hello unary→unary",
      raft: "/chainfire.peerpb.Peer/Raft stream→unary",
      snapshot: "/chainfire.peerpb.Peer/Snapshot stream→unary",
      forward: "/chainfire.peerpb.Peer/Forward unary→unary",
      forwardStream: "/chainfire.peerpb.Peer/ForwardStream stream→stream",
    });
  });
});
