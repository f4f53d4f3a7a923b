/**
 * The unary fast path answers exactly as grpc-js does: each case is sent over raw HTTP/2
 * to two servers with the same handlers, one plain grpc-js and one with the fast path in
 * front, and everything a client can observe (status, headers, message bytes, trailers,
 * resets) must be equal. The fast path must really serve the unary calls (its counter)
 * and leave streaming methods to grpc-js.
 */
import http2 from "node:http2";
import { etcdserverpb } from "@chainfire/api";
import { Metadata, Server, ServerCredentials, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { attachUnaryFastPath, type FastUnaryCall, UnaryFastPath } from "./fast-unary.js";
import { immediateTrailerStats, immediateTrailersWanted } from "./h2-trailers.js";
import type { ServiceRegistry, ServiceShape } from "./interceptors.js";

const MAX_RECEIVE = 1024;
const KV = etcdserverpb.KVService as unknown as ServiceShape;

/** What the handlers saw (per server). */
interface Seen {
  cancelled: number;
  tokens: string[];
}

// biome-ignore lint/suspicious/noExplicitAny: test handlers of grpc-js's untyped shape
type AnyCall = any;
type Cb = (err: unknown, value?: unknown, trailer?: Metadata) => void;

function kvImpl(seen: Seen): Record<string, unknown> {
  return {
    range(call: AnyCall, cb: Cb) {
      const token = call.metadata.get("token")[0];
      if (token !== undefined) seen.tokens.push(String(token));
      const r = call.request as etcdserverpb.RangeRequest;
      if (r.key.toString() === "fail-status") {
        const md = new Metadata();
        md.set("x-extra", "trailer value");
        return cb({ code: status.FAILED_PRECONDITION, details: "etcdserver: é ü %", metadata: md });
      }
      if (r.key.toString() === "surrogate") {
        return cb({ code: status.INVALID_ARGUMENT, details: "lone \ud800 surrogate" });
      }
      if (r.key.toString() === "fail-plain") return cb(new Error("plain failure"));
      if (r.key.toString() === "throw") throw new Error("thrown");
      if (r.key.toString() === "trailer") {
        const md = new Metadata();
        md.set("x-trailer", "1");
        return cb(null, etcdserverpb.RangeResponse.fromPartial({ count: 7n }), md);
      }
      if (r.key.toString() === "never") {
        call.once("cancelled", () => seen.cancelled++);
        return; // answered only by the deadline or the client's reset
      }
      cb(
        null,
        etcdserverpb.RangeResponse.fromPartial({
          count: BigInt(r.key.length),
          kvs: [
            {
              key: r.key,
              value: Buffer.from(call.getPeer().startsWith("127.0.0.1:") ? "peer-ok" : "x"),
            },
          ],
        }),
      );
    },
    put: (_call: AnyCall, cb: Cb) => cb(null, etcdserverpb.PutResponse.fromPartial({})),
    deleteRange: (_call: AnyCall, cb: Cb) =>
      cb(null, etcdserverpb.DeleteRangeResponse.fromPartial({})),
    txn: (_call: AnyCall, cb: Cb) => cb(null, etcdserverpb.TxnResponse.fromPartial({})),
    compact: (_call: AnyCall, cb: Cb) => cb(null, etcdserverpb.CompactionResponse.fromPartial({})),
  };
}

interface Target {
  server: Server;
  port: number;
  seen: Seen;
  fast?: UnaryFastPath;
}

async function startTarget(withFast: boolean): Promise<Target> {
  const server = new Server({
    "grpc.max_receive_message_length": MAX_RECEIVE,
    "grpc.enable_channelz": 0,
  });
  const seen: Seen = { cancelled: 0, tokens: [] };
  let registry: ServiceRegistry = server;
  let fast: UnaryFastPath | undefined;
  if (withFast) {
    fast = new UnaryFastPath({ maxReceiveMessageLength: MAX_RECEIVE });
    expect(attachUnaryFastPath(server, fast)).toBe(true);
    registry = fast.registry(server);
  }
  registry.addService(KV, kvImpl(seen));
  // A streaming method: must stay with grpc-js.
  registry.addService(etcdserverpb.WatchService as unknown as ServiceShape, {
    watch(call: AnyCall) {
      call.on("data", () =>
        call.write(etcdserverpb.WatchResponse.fromPartial({ watchId: 5n, created: true })),
      );
      call.on("end", () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { server, port, seen, fast };
}

interface Observed {
  headers: Record<string, unknown>;
  trailers: Record<string, unknown>;
  data: string;
  rst?: number;
}

/** One raw call: everything the client can see, minus the date header. */
function rawCall(
  port: number,
  path: string,
  body: Buffer,
  headers: Record<string, string> = {},
  opts: { resetAfterMs?: number } = {},
): Promise<Observed> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const req = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    const out: Observed = { headers: {}, trailers: {}, data: "" };
    const chunks: Buffer[] = [];
    const strip = (h: Record<string, unknown>) => {
      const { date: _date, ...rest } = h;
      return rest;
    };
    req.on("response", (h) => {
      out.headers = strip(h);
    });
    req.on("trailers", (t) => {
      out.trailers = strip(t);
    });
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", () => {});
    req.on("close", () => {
      out.data = Buffer.concat(chunks).toString("hex");
      if (req.rstCode !== undefined && req.rstCode !== 0) out.rst = req.rstCode;
      session.close();
      resolve(out);
    });
    if (opts.resetAfterMs !== undefined) {
      req.write(body);
      setTimeout(() => req.close(http2.constants.NGHTTP2_CANCEL), opts.resetAfterMs);
    } else {
      req.end(body);
    }
  });
}

function frame(payload: Uint8Array, compressed = false): Buffer {
  const head = Buffer.alloc(5);
  head[0] = compressed ? 1 : 0;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

const range = (key: string) =>
  Buffer.from(
    etcdserverpb.RangeRequest.encode({
      ...etcdserverpb.RangeRequest.fromPartial({}),
      key: Buffer.from(key),
    }).finish(),
  );

const RANGE = "/etcdserverpb.KV/Range";
const CASES: Array<[string, string, Buffer, Record<string, string>?]> = [
  ["a plain answer", RANGE, frame(range("abc"))],
  ["metadata (token) reaches the handler", RANGE, frame(range("abc")), { token: "tok-1" }],
  [
    "an error with code, non-ASCII details and trailer metadata",
    RANGE,
    frame(range("fail-status")),
  ],
  ["an error without a code", RANGE, frame(range("fail-plain"))],
  ["a handler that throws", RANGE, frame(range("throw"))],
  ["an answer with trailer metadata", RANGE, frame(range("trailer"))],
  ["no message", RANGE, Buffer.alloc(0)],
  ["a truncated frame header", RANGE, Buffer.from([0, 0, 0])],
  [
    "a frame shorter than its length",
    RANGE,
    Buffer.concat([frame(range("abc")).subarray(0, 5), Buffer.from([1])]),
  ],
  ["two messages", RANGE, Buffer.concat([frame(range("a")), frame(range("b"))])],
  ["a message over the receive limit", RANGE, frame(Buffer.alloc(MAX_RECEIVE + 1))],
  [
    "a second frame cut short",
    RANGE,
    Buffer.concat([frame(range("a")), frame(range("b")).subarray(0, 7)]),
  ],
  [
    "a second frame over the receive limit",
    RANGE,
    Buffer.concat([frame(range("a")), frame(Buffer.alloc(MAX_RECEIVE + 1))]),
  ],
  [
    "an undecodable first message and a second one",
    RANGE,
    Buffer.concat([frame(Buffer.from([0xff, 0xff])), frame(range("b"))]),
  ],
  ["bytes that are no RangeRequest", RANGE, frame(Buffer.from([0xff, 0xff, 0xff]))],
  ["the compressed flag with identity encoding", RANGE, frame(range("abc"), true)],
  ["an invalid grpc-timeout", RANGE, frame(range("abc")), { "grpc-timeout": "soon" }],
  ["a deadline that passes", RANGE, frame(range("never")), { "grpc-timeout": "150m" }],
  ["an unknown method", "/etcdserverpb.KV/Nope", frame(range("abc"))],
  ["gzip-encoded (left to grpc-js)", RANGE, frame(range("abc")), { "grpc-encoding": "gzip" }],
];

describe("unary fast path", () => {
  let plain: Target;
  let fast: Target;

  beforeAll(async () => {
    [plain, fast] = await Promise.all([startTarget(false), startTarget(true)]);
  });

  afterAll(() => {
    plain?.server.forceShutdown();
    fast?.server.forceShutdown();
  });

  it.each(CASES)("%s: the same answer as grpc-js", async (_name, path, body, headers) => {
    const [a, b] = await Promise.all([
      rawCall(plain.port, path, body, headers),
      rawCall(fast.port, path, body, headers),
    ]);
    expect(b).toEqual(a);
  });

  it("serves the unary calls itself and hands streams to grpc-js", async () => {
    const before = fast.fast!.served;
    const trailersBefore = immediateTrailerStats.submitted;
    const a = await rawCall(fast.port, RANGE, frame(range("abc")));
    expect(a.trailers["grpc-status"]).toBe("0");
    expect(a.data).toContain(Buffer.from("peer-ok").toString("hex"));
    expect(fast.fast!.served).toBe(before + 1);
    // On Node 20 (the version we run) its trailers were submitted at once (h2-trailers.ts).
    const immediate = immediateTrailersWanted();
    expect(immediateTrailerStats.submitted).toBe(trailersBefore + (immediate ? 1 : 0));
    const watch = await rawCall(
      fast.port,
      "/etcdserverpb.Watch/Watch",
      frame(etcdserverpb.WatchRequest.encode(etcdserverpb.WatchRequest.fromPartial({})).finish()),
    );
    expect(watch.trailers["grpc-status"]).toBe("0");
    expect(watch.data.length).toBeGreaterThan(10); // a WatchResponse came back
    expect(fast.fast!.served).toBe(before + 1);
  });

  it("resets a call whose status message cannot be encoded, and keeps serving", async () => {
    const out = await rawCall(fast.port, RANGE, frame(range("surrogate")));
    expect(out.rst).toBe(http2.constants.NGHTTP2_INTERNAL_ERROR);
    const next = await rawCall(fast.port, RANGE, frame(range("abc")));
    expect(next.trailers["grpc-status"]).toBe("0");
  });

  it("tells the handler when the client resets the call or the deadline passes", async () => {
    const both = [plain, fast];
    const before = both.map((t) => t.seen.cancelled);
    await Promise.all(
      both.map((t) => rawCall(t.port, RANGE, frame(range("never")), {}, { resetAfterMs: 50 })),
    );
    await Promise.all(
      both.map((t) => rawCall(t.port, RANGE, frame(range("never")), { "grpc-timeout": "50m" })),
    );
    const deadline = Date.now() + 10_000;
    while (both.some((t, i) => t.seen.cancelled < before[i] + 2) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(both.map((t, i) => t.seen.cancelled - before[i])).toEqual([2, 2]);
    expect(fast.seen.tokens).toEqual(plain.seen.tokens);
  });
});

/** Keeps the type of the exported call class in use (handlers receive it). */
export type { FastUnaryCall };
