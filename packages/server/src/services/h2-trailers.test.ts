/**
 * Trailers submitted from 'wantTrailers' through Node's stream handle (h2-trailers.ts): a
 * plain node:http2 client receives exactly the trailers and the message, on many calls of
 * one session, sequential and concurrent, and a call the client resets before the answer
 * does not disturb the session. Byte-for-byte equality with grpc-js is fast-unary.test.ts.
 */
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  encodeTrailers,
  immediateTrailerStats,
  immediateTrailersAvailable,
  immediateTrailersWanted,
  submitTrailersNow,
} from "./h2-trailers.js";

const TRAILERS = { "grpc-status": "0", "grpc-message": "OK" };
const ENCODED = encodeTrailers(TRAILERS);

describe("immediate HTTP/2 trailers", () => {
  let server: http2.Http2Server;
  let port: number;
  let available: boolean | undefined;
  let sessionErrors = 0;

  beforeAll(async () => {
    server = http2.createServer();
    server.on("session", (s) => s.on("error", () => sessionErrors++));
    server.on("stream", (stream, headers) => {
      available ??= immediateTrailersAvailable(stream);
      const body: Buffer[] = [];
      stream.on("data", (c: Buffer) => body.push(c));
      stream.on("end", () => {
        if (headers[":path"] === "/hold") return; // the client resets it
        stream.once("wantTrailers", () => {
          if (!submitTrailersNow(stream, ENCODED)) stream.sendTrailers(TRAILERS);
        });
        stream.respond({ ":status": 200 }, { waitForTrailers: true });
        stream.end(Buffer.concat([Buffer.from("echo:"), ...body]));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function call(
    session: http2.ClientHttp2Session,
    body: string,
  ): Promise<{ data: string; trailers: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const req = session.request({ ":method": "POST", ":path": "/x" });
      let data = "";
      let trailers: Record<string, unknown> = {};
      req.setEncoding("utf8");
      req.on("data", (c: string) => {
        data += c;
      });
      req.on("trailers", (t) => {
        trailers = { ...t };
      });
      req.on("error", reject);
      req.on("close", () => resolve({ data, trailers }));
      req.end(body);
    });
  }

  it("is wanted on Node 20 only, unless turned off", () => {
    expect(immediateTrailersWanted({}, "20.20.2")).toBe(true);
    expect(immediateTrailersWanted({ CHAINFIRE_H2_IMMEDIATE_TRAILERS: "0" }, "20.20.2")).toBe(
      false,
    );
    expect(immediateTrailersWanted({}, "22.1.0")).toBe(false);
  });

  it("encodes fields the way Node 20's mapToHeaders does", () => {
    expect(ENCODED).toEqual(["grpc-status\u00000\u0000\u0000grpc-message\u0000OK\u0000\u0000", 2]);
  });

  it("delivers message and trailers on sequential and concurrent calls of one session", async () => {
    const before = immediateTrailerStats.submitted;
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      for (let i = 0; i < 50; i++) {
        const r = await call(session, `s${i}`);
        expect(r.data).toBe(`echo:s${i}`);
        expect(r.trailers).toMatchObject(TRAILERS);
      }
      const many = await Promise.all(Array.from({ length: 50 }, (_, i) => call(session, `c${i}`)));
      many.forEach((r, i) => {
        expect(r.data).toBe(`echo:c${i}`);
        expect(r.trailers).toMatchObject(TRAILERS);
      });
      // A call reset by the client before any answer; the session keeps serving.
      const held = session.request({ ":method": "POST", ":path": "/hold" });
      held.on("error", () => {});
      held.end("x");
      held.close(http2.constants.NGHTTP2_CANCEL);
      const after = await call(session, "after");
      expect(after.trailers).toMatchObject(TRAILERS);
    } finally {
      session.close();
    }
    // Node 20 is the version we run; the variable turns it off for A/B measurements.
    const expected = immediateTrailersWanted();
    expect(available).toBe(expected);
    expect(immediateTrailerStats.submitted - before).toBe(available ? 101 : 0);
    expect(sessionErrors).toBe(0);
  });
});
