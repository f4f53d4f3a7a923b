/**
 * The raw raft lanes end to end on loopback: framing, the receiver's refusals as the
 * sender sees them, malformed input dropped with a warning, PING/PONG dead-lane
 * detection, and one port serving both raw lanes and gRPC.
 */
import { connect, createServer, type Server, Socket } from "node:net";
import { Writable } from "node:stream";
import { ErrClusterIdMismatch, peerpb, raftpb } from "@chainfire/api";
import type { Message } from "@chainfire/raft";
import {
  credentials,
  Server as GrpcServer,
  Metadata,
  ServerCredentials,
  status,
} from "@grpc/grpc-js";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { isMemberRemovedError } from "../member-removal.js";
import { PROTOCOL_VERSION } from "./peer-connection.js";
import { createPeerService } from "./peer-service.js";
import { sniffConnection } from "./peer-sniff.js";
import {
  encodeBatch,
  encodeHello,
  FrameError,
  FrameReader,
  FrameType,
  LaneKind,
  MAX_FRAME_BYTES,
  PING_FRAME,
} from "./raw-frame.js";
import { serveRawLane } from "./raw-lane-receiver.js";
import { type LaneCloseHandler, RawLaneStream } from "./raw-lane-sender.js";

const CLUSTER = 0x10n;
const ME = 0x2n;
const PEER = 0x3n;
const HELLO = {
  protocolVersion: PROTOCOL_VERSION,
  lane: LaneKind.Bulk,
  clusterId: CLUSTER,
  from: PEER,
  to: ME,
};

/** A receiving member: records stepped messages and warnings. */
function receiverHost(removed: bigint[] = []) {
  const stepped: Message[] = [];
  const logs: Array<{ msg: string }> = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(JSON.parse(String(chunk)));
      cb();
    },
  });
  return {
    stepped,
    logs,
    host: {
      identity: () => ({
        clusterId: CLUSTER,
        memberId: ME,
        name: "me",
        peerUrls: [],
        clientUrls: [],
        version: "test",
      }),
      step: (m: Message) => stepped.push(m),
      isRemoved: (id: bigint) => removed.includes(id),
      logger: pino({ level: "warn" }, sink),
    },
  };
}

const servers: Array<{ close(): void }> = [];
const sockets = new Set<Socket>();
afterEach(() => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  for (const s of servers.splice(0)) s.close();
});

/** A loopback listener handing every connection to `onSocket`; resolves with its URL. */
async function listen(onSocket: (s: Socket) => void): Promise<string> {
  const server: Server = createServer((s) => {
    sockets.add(s);
    onSocket(s);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address() as { port: number };
  return `http://127.0.0.1:${addr.port}`;
}

async function rawServer(host: ReturnType<typeof receiverHost>["host"]): Promise<string> {
  return listen((s) =>
    sniffConnection(s, {
      grpc: (sock) => sock.destroy(),
      raw: (sock, first) => serveRawLane(sock, first, host),
    }),
  );
}

function dial(
  url: string,
  hello: Partial<{ protocolVersion: number; clusterId: bigint; from: bigint; to: bigint }> = {},
  timing?: { pingMs: number; silenceMs: number },
): { lane: RawLaneStream; closed: Promise<Error | null> } {
  let onClose!: LaneCloseHandler;
  const closed = new Promise<Error | null>((resolve) => {
    onClose = resolve;
  });
  const lane = new RawLaneStream(
    url,
    undefined,
    {
      protocolVersion: PROTOCOL_VERSION,
      lane: LaneKind.Bulk,
      clusterId: CLUSTER,
      from: PEER,
      to: ME,
      ...hello,
    },
    onClose,
    timing,
  );
  return { lane, closed };
}

const app = (index: number, over: Partial<raftpb.Message> = {}) =>
  raftpb.Message.fromPartial({
    type: raftpb.MessageType.MsgApp,
    from: PEER,
    to: ME,
    term: 1n,
    index: BigInt(index),
    entries: [{ term: 1n, index: BigInt(index + 1), data: Buffer.from(`e${index}`) }],
    ...over,
  });
const batch = (messages: raftpb.Message[], over: Partial<peerpb.RaftBatch> = {}) =>
  peerpb.RaftBatch.fromPartial({ clusterId: CLUSTER, from: PEER, to: ME, messages, ...over });

async function until(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("raw frame codec", () => {
  it("reassembles frames split at every byte boundary and keeps their order", () => {
    const frames = Buffer.concat([
      encodeBatch(batch([app(1)])),
      PING_FRAME,
      encodeBatch(batch([app(2), app(3)])),
    ]);
    for (let cut = 1; cut < frames.length; cut++) {
      const r = new FrameReader();
      const out = [...r.push(frames.subarray(0, cut)), ...r.push(frames.subarray(cut))];
      expect(out.map((f) => f.type)).toEqual([FrameType.Batch, FrameType.Ping, FrameType.Batch]);
      const b = peerpb.RaftBatch.decode(out[2].payload);
      expect(b.messages.map((m) => m.index)).toEqual([2n, 3n]);
    }
  });

  it("refuses a frame past the size limit", () => {
    const head = Buffer.alloc(5);
    head.writeUInt32LE(MAX_FRAME_BYTES + 1, 0);
    expect(() => new FrameReader().push(head)).toThrow(FrameError);
  });
});

describe("raw raft lanes", () => {
  it("delivers batches in order to raft and answers PINGs", async () => {
    const r = receiverHost();
    const url = await rawServer(r.host);
    const { lane, closed } = dial(url);
    for (let i = 0; i < 50; i++) lane.write(batch([app(i)]));
    await until("50 messages", () => r.stepped.length === 50);
    expect(r.stepped.map((m) => m.index)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    lane.end();
    expect(await Promise.race([closed, "open"])).toBe("open");

    // A PING is answered with a PONG (what keeps a sender's lane open).
    const raw = connect(Number(new URL(url).port), "127.0.0.1");
    sockets.add(raw);
    const reader = new FrameReader();
    const pong = new Promise<number>((resolve) =>
      raw.on("data", (chunk: Buffer) => {
        for (const f of reader.push(chunk)) resolve(f.type);
      }),
    );
    raw.write(Buffer.concat([encodeHello(HELLO), PING_FRAME]));
    expect(await pong).toBe(FrameType.Pong);
  });

  it("flushNow sends this turn's batches at once; a later write in the turn waits for its end", async () => {
    const r = receiverHost();
    const url = await rawServer(r.host);
    const { lane } = dial(url);
    lane.write(batch([app(0)]));
    await until("the first message", () => r.stepped.length === 1);
    const uncork = Socket.prototype.uncork;
    const sockets: Socket[] = [];
    const spy = vi.spyOn(Socket.prototype, "uncork").mockImplementation(function (this: Socket) {
      sockets.push(this);
      uncork.call(this);
    });
    try {
      lane.write(batch([app(1)]));
      expect(sockets).toHaveLength(0); // corked until the end of the turn
      lane.flushNow();
      expect(sockets).toHaveLength(1);
      expect(sockets[0].writableCorked).toBe(0);
      lane.flushNow(); // nothing corked: nothing to do
      expect(sockets).toHaveLength(1);
      lane.write(batch([app(2)]));
      expect(sockets[0].writableCorked).toBe(1);
      await new Promise((resolve) => process.nextTick(resolve));
      expect(sockets).toHaveLength(2);
      expect(sockets[1]).toBe(sockets[0]);
      expect(sockets[0].writableCorked).toBe(0);
    } finally {
      spy.mockRestore();
    }
    await until("three messages", () => r.stepped.length === 3);
    expect(r.stepped.map((m) => m.index)).toEqual([0, 1, 2]);
    lane.end();
  });

  it("refuses another cluster with etcd's cluster ID mismatch, logged as an error", async () => {
    const r = receiverHost();
    const { lane, closed } = dial(await rawServer(r.host), { clusterId: 0x99n });
    lane.write(batch([app(1)], { clusterId: 0x99n }));
    const err = (await closed) as { code?: number; details?: string };
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toBe(ErrClusterIdMismatch.message);
    expect(r.stepped).toHaveLength(0);
    expect(r.logs.some((l) => l.msg.includes("cluster ID mismatch"))).toBe(true);
  });

  it("tells a removed member it was removed; refuses a wrong recipient or version", async () => {
    const removed = receiverHost([PEER]);
    const e1 = await dial(await rawServer(removed.host)).closed;
    expect(isMemberRemovedError(e1)).toBe(true);

    const r = receiverHost();
    const url = await rawServer(r.host);
    const e2 = (await dial(url, { to: 0x77n }).closed) as { code?: number };
    expect(e2.code).toBe(status.PERMISSION_DENIED);
    const e3 = (await dial(url, { protocolVersion: 1 }).closed) as { code?: number };
    expect(e3.code).toBe(status.FAILED_PRECONDITION);
    expect(isMemberRemovedError(e3)).toBe(false);
    expect(r.stepped).toHaveLength(0);
  });

  it("refuses a batch once its sender has been removed while the lane was open", async () => {
    const removedIds: bigint[] = [];
    const r = receiverHost(removedIds);
    const { lane, closed } = dial(await rawServer(r.host));
    lane.write(batch([app(1)]));
    await until("first message", () => r.stepped.length === 1);
    removedIds.push(PEER);
    lane.write(batch([app(2)]));
    expect(isMemberRemovedError(await closed)).toBe(true);
    expect(r.stepped).toHaveLength(1);
  });

  it("drops malformed messages and undecodable batches with a warning, keeps the lane", async () => {
    const r = receiverHost();
    const url = await rawServer(r.host);
    const { lane, closed } = dial(url);
    lane.write(
      batch([
        app(1, { type: 999 as raftpb.MessageType }), // unknown type
        app(2, { from: 0x55n }), // wrong sender
        app(3, { type: raftpb.MessageType.MsgSnap }), // snapshots take the gRPC path
        app(4),
      ]),
    );
    await until("message 4", () => r.stepped.length === 1);
    // A BATCH frame whose payload is not a protobuf (a truncated length-delimited field),
    // then a good one, on a lane of our own making.
    const garbage = Buffer.from([3, 0, 0, 0, FrameType.Batch, 0x22, 0x7f, 0x01]);
    const raw = connect(Number(new URL(url).port), "127.0.0.1");
    sockets.add(raw);
    raw.write(Buffer.concat([encodeHello(HELLO), garbage, encodeBatch(batch([app(5)]))]));
    await until("messages 4 and 5", () => r.stepped.length === 2);
    expect(r.stepped.map((m) => m.index)).toEqual([4, 5]);
    const warnings = r.logs.map((l) => l.msg);
    expect(warnings).toContain("dropping a malformed raft message");
    expect(warnings).toContain("dropping a raft message with a wrong sender, recipient or type");
    expect(warnings).toContain("dropping a malformed raft batch");
    lane.end();
    expect(await Promise.race([closed, "open"])).toBe("open");
  });

  it("closes a lane that hears no PONG (a black-holed peer)", async () => {
    // Accepts and reads, never answers: what a peer behind a dropping firewall looks like.
    const url = await listen((s) => s.resume());
    const started = Date.now();
    const err = await dial(url, {}, { pingMs: 50, silenceMs: 400 }).closed;
    expect(err?.message).toMatch(/silent/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  });

  it("serves gRPC (Hello) and raw lanes on one port", async () => {
    const r = receiverHost();
    const grpc = new GrpcServer();
    grpc.addService(
      peerpb.PeerService,
      createPeerService({
        ...r.host,
        members: () => [],
        onPeerHello: () => {},
        stageSnapshot: () => Promise.reject(new Error("no snapshots here")),
        installSnapshot: () => Promise.reject(new Error("no snapshots here")),
      }),
    );
    const injector = grpc.createConnectionInjector(ServerCredentials.createInsecure());
    servers.push({ close: () => grpc.forceShutdown() });
    const url = await listen((s) =>
      sniffConnection(s, {
        grpc: (sock) => injector.injectConnection(sock),
        raw: (sock, first) => serveRawLane(sock, first, r.host),
      }),
    );
    const client = new peerpb.PeerClient(url.replace("http://", ""), credentials.createInsecure());
    try {
      const resp = await new Promise<peerpb.HelloResponse>((resolve, reject) =>
        client.hello(
          peerpb.HelloRequest.fromPartial({ clusterId: CLUSTER, memberId: PEER }),
          new Metadata(),
          { deadline: Date.now() + 30_000 },
          (e, res) => (e ? reject(e) : resolve(res!)),
        ),
      );
      expect(resp.memberId).toBe(ME);
      expect(resp.protocolVersion).toBe(PROTOCOL_VERSION);
    } finally {
      client.close();
    }
    const { lane } = dial(url);
    lane.write(batch([app(7)]));
    await until("the raw lane's message", () => r.stepped.length === 1);
    lane.end();
  });
});
