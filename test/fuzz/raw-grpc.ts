/**
 * gRPC calls over raw HTTP/2 (node:http2), so a test can send any bytes as a request:
 * frames with a wrong length, the compressed flag set, garbage protobuf. Nothing between
 * the test and the member validates or rewrites anything.
 *
 * ```ts
 * const conn = RawGrpcConnection.open("127.0.0.1:2379");
 * const out = await conn.call("/etcdserverpb.KV/Range", [grpcFrame(bytes)], { timeoutMs: 5000 });
 * // out.kind: "status" (trailers or trailers-only answer) | "reset" | "hang" | "error"
 * conn.close();
 * ```
 */
import http2 from "node:http2";

/** How one raw call ended. */
export type RawOutcome =
  | {
      kind: "status";
      /** grpc-status from the trailers (or the trailers-only headers). */
      code: number;
      message: string;
      /** Payload bytes received before the trailers. */
      responseBytes: number;
      /** Length-prefixed messages received (complete ones). */
      messages: Buffer[];
      /** More than maxCollectBytes arrived: `messages` holds only the first ones. */
      truncated: boolean;
    }
  | { kind: "reset"; rstCode: number }
  | { kind: "hang"; afterMs: number }
  | { kind: "error"; error: string };

/** Options of {@link RawGrpcConnection.call}. */
export interface RawCallOptions {
  /** The call must end within this many milliseconds, else the outcome is "hang". */
  timeoutMs: number;
  /** Close our side after writing (default true). False: a stream left open (a watch). */
  endStream?: boolean;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Stop collecting messages after this many bytes (the rest is still drained). */
  maxCollectBytes?: number;
}

/** A gRPC message frame: compressed flag, 4-byte big-endian length, the payload. */
export function grpcFrame(
  payload: Uint8Array,
  opts: { compressed?: boolean; length?: number } = {},
) {
  const head = Buffer.alloc(5);
  head[0] = opts.compressed ? 1 : 0;
  head.writeUInt32BE(opts.length ?? payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** Splits gRPC length-prefixed messages out of a byte stream (complete ones only). */
function splitMessages(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at + 5 <= data.length) {
    const len = data.readUInt32BE(at + 1);
    if (at + 5 + len > data.length) break;
    out.push(data.subarray(at + 5, at + 5 + len));
    at += 5 + len;
  }
  return out;
}

/** One HTTP/2 connection to a member's client port. */
export class RawGrpcConnection {
  readonly session: http2.ClientHttp2Session;
  /** The error code of the server's GOAWAY, once one arrived. */
  goawayCode: number | undefined;
  #error: Error | undefined;

  private constructor(readonly address: string) {
    // Node's default session memory (10 MiB) would make this client refuse its own
    // streams (ENHANCE_YOUR_CALM) while several near-2-MiB frames are in flight.
    this.session = http2.connect(`http://${address}`, { maxSessionMemory: 1024 });
    this.session.on("error", (e) => {
      this.#error = e;
    });
    this.session.on("goaway", (code) => {
      this.goawayCode = code;
    });
  }

  /** Opens a connection to `host:port`. */
  static open(address: string): RawGrpcConnection {
    return new RawGrpcConnection(address);
  }

  /** Whether the connection is still usable. */
  get usable(): boolean {
    return (
      !this.session.closed &&
      !this.session.destroyed &&
      this.#error === undefined &&
      this.goawayCode === undefined
    );
  }

  /** Opens a stream to `path` and writes `chunks`; see {@link RawOutcome}. */
  call(path: string, chunks: readonly Buffer[], opts: RawCallOptions): Promise<RawOutcome> {
    return new Promise((resolve) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.session.request({
          ":method": "POST",
          ":path": path,
          "content-type": "application/grpc",
          te: "trailers",
          ...opts.headers,
        });
      } catch (e) {
        resolve({ kind: "error", error: String(e) });
        return;
      }
      const received: Buffer[] = [];
      let bytes = 0;
      let headers: http2.IncomingHttpHeaders = {};
      let settled = false;
      const finish = (o: RawOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // Only a call that did not end is cancelled: a client that resets every stream
        // it opens is what Node's HTTP/2 server answers with ENHANCE_YOUR_CALM (the
        // "rapid reset" defence), and the fuzz run would measure that instead.
        if (o.kind === "hang" && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
        resolve(o);
      };
      const timer = setTimeout(
        () => finish({ kind: "hang", afterMs: opts.timeoutMs }),
        opts.timeoutMs,
      );
      const fromHeaders = (h: http2.IncomingHttpHeaders): RawOutcome | undefined => {
        const code = h["grpc-status"];
        if (code === undefined) return undefined;
        const data = Buffer.concat(received);
        return {
          kind: "status",
          code: Number(code),
          message: decodeURIComponent(String(h["grpc-message"] ?? "")),
          responseBytes: bytes,
          messages: splitMessages(data),
          truncated: opts.maxCollectBytes !== undefined && bytes > opts.maxCollectBytes,
        };
      };
      stream.on("response", (h) => {
        headers = h;
        const o = fromHeaders(h); // trailers-only answer
        if (o && h[":status"] !== undefined && stream.readableEnded) finish(o);
      });
      stream.on("data", (d: Buffer) => {
        bytes += d.length;
        if (opts.maxCollectBytes === undefined || bytes <= opts.maxCollectBytes) received.push(d);
      });
      stream.on("trailers", (t) => {
        const o = fromHeaders(t);
        if (o) finish(o);
      });
      stream.on("end", () => {
        const o = fromHeaders(headers);
        if (o) finish(o);
      });
      stream.on("close", () => {
        const o = fromHeaders(headers);
        if (o) finish(o);
        else finish({ kind: "reset", rstCode: stream.rstCode ?? -1 });
      });
      stream.on("error", (e) => {
        if (stream.rstCode !== undefined) return; // "close" reports it
        finish({ kind: "error", error: String(e) });
      });
      for (const c of chunks) stream.write(c);
      if (opts.endStream !== false) stream.end();
    });
  }

  /**
   * Opens a stream, writes `chunks` and leaves it open (abandoned); returns it. With
   * `read: false` it never reads what the member answers.
   */
  abandon(
    path: string,
    chunks: readonly Buffer[],
    opts: { read?: boolean } = {},
  ): http2.ClientHttp2Stream | undefined {
    try {
      const s = this.session.request({
        ":method": "POST",
        ":path": path,
        "content-type": "application/grpc",
        te: "trailers",
      });
      s.on("error", () => {});
      if (opts.read === false) s.pause();
      else s.resume();
      for (const c of chunks) s.write(c);
      return s;
    } catch {
      return undefined;
    }
  }

  /** Destroys the connection and every stream on it. Idempotent. */
  close(): void {
    if (!this.session.destroyed) this.session.destroy();
  }
}
