/**
 * The unary fast path: unary calls answered straight from the HTTP/2 stream, without
 * grpc-js's per-call machinery.
 *
 * Profiles of a member under load (docs/performance.md) put most of a serializable
 * Range's CPU, and about a third of the leader's during puts, in grpc-js's server call
 * layers (interceptor chain, channelz bookkeeping, the stream decoder, Metadata built for
 * every call, Readable/Writable wrappers), not in our handlers. This module serves the
 * unary methods (KV, Lease except keep-alive, Cluster, Maintenance except Snapshot, Auth,
 * Health.Check) with the same handlers, wrapped the same way (metrics, error table, auth,
 * learner rule), on a minimal call object; streaming methods, compressed requests and
 * anything unexpected still go to grpc-js on the same connection.
 *
 * What a client sees is what grpc-js answers, field for field: response headers
 * (`content-type: application/grpc+proto`, grpc-js's encoding headers), the framed message,
 * trailers `grpc-status: 0` / `grpc-message: OK`; errors trailers-only with the status code
 * and the percent-encoded message; grpc-js's own texts for a missing or second request
 * message, an undecodable request, a request over the receive limit, an invalid
 * `grpc-timeout`, and an expired deadline ("Deadline exceeded"). Metadata (tokens,
 * `hasleader`) is built only when a handler asks for it.
 *
 * Hook: grpc-js creates one `http2` server per connection injector (`createHttp2Server`,
 * a method of its Server class in the version we pin) and registers its `stream`
 * listener there. {@link attachUnaryFastPath} wraps that method on our Server instance
 * and puts this dispatcher in front of grpc-js's listener. If the method is missing (a
 * grpc-js upgrade), nothing is attached and every call goes through grpc-js as before.
 * `CHAINFIRE_UNARY_FAST_PATH=0` turns the fast path off (A/B measurements).
 */
import { EventEmitter } from "node:events";
import {
  type Http2Server,
  constants as http2constants,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
import { TLSSocket } from "node:tls";
import { Metadata, type Server, status } from "@grpc/grpc-js";
import { encodeTrailers, submitTrailersNow } from "./h2-trailers.js";
import type { ServiceRegistry, ServiceShape } from "./interceptors.js";

type Callback = (err: unknown, value?: unknown, trailer?: Metadata) => void;
type UnaryHandler = (call: FastUnaryCall, callback: Callback) => unknown;

interface FastMethod {
  readonly path: string;
  readonly deserialize: (b: Buffer) => unknown;
  readonly serialize: (v: unknown) => Buffer;
  readonly handler: UnaryHandler;
}

/** The method fields of a grpc-js service definition this reads. */
interface MethodDefinition {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  originalName?: string;
  requestDeserialize?: (b: Buffer) => unknown;
  responseSerialize?: (v: unknown) => Buffer;
}

const RESPONSE_HEADERS = {
  ":status": 200,
  "content-type": "application/grpc+proto",
  "grpc-accept-encoding": "identity,deflate,gzip",
  "grpc-encoding": "identity",
};
const OK_TRAILERS = { "grpc-status": "0", "grpc-message": "OK" };
const OK_TRAILERS_ENCODED = encodeTrailers(OK_TRAILERS);
/** grpc-js's grpc-timeout syntax and units. */
const DEADLINE = /(\d{1,8})\s*([HMSmun])/;
const UNIT_MS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 1e-3,
  n: 1e-6,
};
/** Headers grpc-js keeps out of the metadata a handler sees. */
const NOT_METADATA = [
  "grpc-timeout",
  "grpc-encoding",
  "grpc-accept-encoding",
  "accept-encoding",
  "te",
  "content-type",
];

/** Resets a stream we cannot answer (never throws: this runs in callbacks). */
function abandon(stream: ServerHttp2Stream): void {
  try {
    stream.close(http2constants.NGHTTP2_INTERNAL_ERROR);
  } catch {
    // already gone
  }
}

/** Whether the fast path is wanted (CHAINFIRE_UNARY_FAST_PATH=0 turns it off). */
export function unaryFastPathEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.CHAINFIRE_UNARY_FAST_PATH !== "0";
}

export class UnaryFastPath {
  readonly #methods = new Map<string, FastMethod>();
  readonly #maxReceive: number;
  /** Calls answered here (tests, debugging). */
  served = 0;

  /** `maxReceiveMessageLength`: grpc-js's `grpc.max_receive_message_length` (-1: none). */
  constructor(opts: { maxReceiveMessageLength: number }) {
    this.#maxReceive = opts.maxReceiveMessageLength;
  }

  /** A registry that records the unary methods of every service added through it. */
  registry(server: ServiceRegistry): ServiceRegistry {
    return {
      addService: (definition: ServiceShape, impl: Record<string, unknown>) => {
        server.addService(definition, impl);
        for (const [name, m] of Object.entries(definition as Record<string, MethodDefinition>)) {
          if (m.requestStream || m.responseStream) continue;
          const handler = impl[name] ?? (m.originalName ? impl[m.originalName] : undefined);
          if (typeof handler !== "function" || !m.requestDeserialize || !m.responseSerialize) {
            continue;
          }
          this.#methods.set(m.path, {
            path: m.path,
            deserialize: m.requestDeserialize,
            serialize: m.responseSerialize,
            handler: handler as UnaryHandler,
          });
        }
      },
    };
  }

  /** Serves `stream` when it is a plain unary call of a known method; false otherwise. */
  handle(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): boolean {
    const method = this.#methods.get(headers[":path"] ?? "");
    if (method === undefined) return false;
    const ct = headers["content-type"];
    if (typeof ct !== "string" || !ct.startsWith("application/grpc")) return false;
    const enc = headers["grpc-encoding"];
    if (enc !== undefined && enc !== "identity") return false;
    this.served++;
    new FastUnaryCall(method, stream, headers, this.#maxReceive).start();
    return true;
  }
}

/**
 * Puts `fast` in front of grpc-js on every HTTP/2 server `server` creates from now on
 * (call before `createConnectionInjector` / `bindAsync`). Returns false when this grpc-js
 * has no hook (then nothing changes).
 */
export function attachUnaryFastPath(server: Server, fast: UnaryFastPath): boolean {
  const s = server as unknown as { createHttp2Server?: (creds: unknown) => Http2Server };
  const create = s.createHttp2Server;
  if (typeof create !== "function") return false;
  s.createHttp2Server = function (this: unknown, creds: unknown): Http2Server {
    const h2 = create.call(this, creds);
    const grpcListeners = h2.listeners("stream") as Array<(...args: unknown[]) => void>;
    h2.removeAllListeners("stream");
    h2.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, ...rest) => {
      if (fast.handle(stream, headers)) return;
      for (const l of grpcListeners) l.call(h2, stream, headers, ...rest);
    });
    return h2;
  };
  return true;
}

/**
 * One unary call: what our handlers read of grpc-js's ServerUnaryCall (request, metadata,
 * cancelled and the "cancelled" event, peer, auth context, deadline, path).
 */
export class FastUnaryCall extends EventEmitter {
  request: unknown;
  cancelled = false;
  readonly #method: FastMethod;
  readonly #stream: ServerHttp2Stream;
  readonly #headers: IncomingHttpHeaders;
  readonly #maxReceive: number;
  #metadata: Metadata | undefined;
  #deadline = Number.POSITIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  #chunks: Buffer[] = [];
  #bytes = 0;
  /** Length of the first frame's message, once its header is in (-1 before). */
  #firstLen = -1;
  #done = false;

  constructor(
    method: FastMethod,
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    maxReceive: number,
  ) {
    super();
    this.#method = method;
    this.#stream = stream;
    this.#headers = headers;
    this.#maxReceive = maxReceive;
  }

  get metadata(): Metadata {
    if (this.#metadata === undefined) {
      const md = Metadata.fromHttp2Headers(this.#headers);
      for (const h of NOT_METADATA) md.remove(h);
      this.#metadata = md;
    }
    return this.#metadata;
  }

  getPath(): string {
    return this.#method.path;
  }

  getDeadline(): number {
    return this.#deadline;
  }

  getHost(): string {
    return this.#headers[":authority"] ?? this.#headers.host ?? "";
  }

  getPeer(): string {
    const socket = this.#stream.session?.socket;
    if (!socket?.remoteAddress) return "unknown";
    return socket.remotePort
      ? `${socket.remoteAddress}:${socket.remotePort}`
      : socket.remoteAddress;
  }

  getAuthContext(): { transportSecurityType?: string; sslPeerCertificate?: unknown } {
    const socket = this.#stream.session?.socket;
    if (!(socket instanceof TLSSocket) || !socket.authorized) return {};
    const cert = socket.getPeerCertificate();
    return { transportSecurityType: "ssl", sslPeerCertificate: cert.raw ? cert : undefined };
  }

  /** Responses carry no custom headers; accepted for grpc-js compatibility. */
  sendMetadata(_md: Metadata): void {}

  start(): void {
    const stream = this.#stream;
    stream.on("error", () => {}); // a reset stream: "close" follows
    stream.once("close", () => this.#onClose());
    const timeout = this.#headers["grpc-timeout"];
    if (timeout !== undefined) {
      const m = DEADLINE.exec(String(timeout));
      if (m === null) {
        this.#sendStatus(status.INTERNAL, `Invalid grpc-timeout value "${timeout}"`);
        return;
      }
      const ms = (Number(m[1]) * UNIT_MS[m[2]]) | 0;
      this.#deadline = Date.now() + ms;
      this.#timer = setTimeout(() => {
        this.#sendStatus(status.DEADLINE_EXCEEDED, "Deadline exceeded");
        this.cancelled = true;
        this.emit("cancelled", "cancelled");
      }, ms);
    }
    stream.on("data", (chunk: Buffer) => this.#onData(chunk));
    stream.once("end", () => this.#onEnd());
  }

  /**
   * Frames are decoded as they arrive, like grpc-js's decoder: a length over the receive
   * limit is refused as soon as its header is in, and a second message is refused as soon
   * as it is complete, so at most two frames are ever buffered.
   */
  #onData(chunk: Buffer): void {
    if (this.#done) return;
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    if (this.#firstLen < 0) {
      if (this.#bytes < 5) return;
      this.#firstLen = this.#frameLength(0);
      if (this.#tooLarge(this.#firstLen)) return;
    }
    const second = 5 + this.#firstLen;
    if (this.#bytes < second + 5) return;
    const len2 = this.#frameLength(second);
    if (this.#tooLarge(len2)) return;
    if (this.#bytes < second + 5 + len2) return;
    // grpc-js decodes the first message, then refuses the second.
    if (this.#decodeFirst()) {
      this.#sendStatus(
        status.UNIMPLEMENTED,
        `Received a second request message for server streaming method ${this.#method.path}`,
      );
    }
  }

  #onEnd(): void {
    if (this.#done) return;
    if (this.#firstLen < 0 || this.#bytes < 5 + this.#firstLen) {
      // Nothing, or a frame cut short (grpc-js waits for the rest, then sees no message).
      this.#sendStatus(
        status.UNIMPLEMENTED,
        `Received no request message for server streaming method ${this.#method.path}`,
      );
      return;
    }
    if (!this.#decodeFirst()) return;
    try {
      this.#method.handler(this, (err, value, trailer) => this.#respond(err, value, trailer));
    } catch {
      // Our handlers never throw (the instrumentation catches); grpc-js's answer if one did.
      this.#sendStatus(status.UNKNOWN, "Unknown error");
    }
  }

  /** The big-endian length of the frame whose header starts at `at` (buffered). */
  #frameLength(at: number): number {
    if (this.#chunks[0].length < at + 5) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0].readUInt32BE(at + 1);
  }

  #tooLarge(len: number): boolean {
    if (this.#maxReceive === -1 || len <= this.#maxReceive) return false;
    this.#sendStatus(
      status.RESOURCE_EXHAUSTED,
      `Received message larger than max (${len} vs ${this.#maxReceive})`,
    );
    return true;
  }

  /** Sets `request` from the first frame; false (answered) when it does not decode. */
  #decodeFirst(): boolean {
    const body = this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks);
    this.#chunks = [];
    try {
      // The compressed flag with identity encoding is read as uncompressed (grpc-js).
      this.request = this.#method.deserialize(body.subarray(5, 5 + this.#firstLen));
      return true;
    } catch {
      this.#sendStatus(status.INTERNAL, "Error deserializing request");
      return false;
    }
  }

  #respond(err: unknown, value?: unknown, trailer?: Metadata): void {
    if (this.#done) return;
    if (err) {
      const e = err as { code?: unknown; details?: unknown; message?: unknown; metadata?: unknown };
      let code: number = status.UNKNOWN;
      let details = typeof e.message === "string" ? e.message : "Unknown Error";
      if (typeof e.code === "number" && Number.isInteger(e.code)) {
        code = e.code;
        if (typeof e.details === "string") details = e.details;
      }
      const md = trailer ?? (e.metadata instanceof Metadata ? e.metadata : undefined);
      this.#sendStatus(code, details, md);
      return;
    }
    let message: Buffer;
    try {
      message = this.#method.serialize(value);
    } catch {
      this.#sendStatus(status.INTERNAL, "Error serializing response");
      return;
    }
    const stream = this.#stream;
    this.#finish();
    if (stream.destroyed || stream.closed) return;
    const frame = Buffer.allocUnsafe(message.length + 5);
    frame[0] = 0;
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    try {
      // The usual OK trailers are submitted at once (h2-trailers.ts); trailers with the
      // handler's metadata go through Node's sendTrailers.
      // This runs inside the session's write (a native callback): nothing may throw out.
      stream.once("wantTrailers", () => {
        try {
          if (trailer === undefined && submitTrailersNow(stream, OK_TRAILERS_ENCODED)) return;
          stream.sendTrailers(
            trailer ? { ...OK_TRAILERS, ...trailer.toHttp2Headers() } : OK_TRAILERS,
          );
        } catch {
          abandon(stream);
        }
      });
      stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
      stream.end(frame);
    } catch {
      abandon(stream); // the session went away meanwhile
    }
  }

  /** A trailers-only answer (grpc-js's for every error before a response was sent). */
  #sendStatus(code: number, details: string, md?: Metadata): void {
    if (this.#done) return;
    const stream = this.#stream;
    this.#finish();
    if (stream.destroyed || stream.closed) return;
    try {
      stream.respond(
        {
          "grpc-status": String(code),
          "grpc-message": encodeURI(details),
          ":status": 200,
          "content-type": "application/grpc+proto",
          ...md?.toHttp2Headers(),
        },
        { endStream: true },
      );
      stream.resume(); // discard what the client still sends
    } catch {
      abandon(stream); // the session went away, or details no URI can encode
    }
  }

  #finish(): void {
    this.#done = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #onClose(): void {
    if (this.#done) return;
    this.#finish();
    this.cancelled = true;
    this.emit("cancelled", "cancelled");
  }
}

/**
 * The registry to register client services through: `server` itself when the fast path
 * is off or cannot attach (logged), else one that also feeds a fast path in front of it.
 */
export function withUnaryFastPath(
  server: Server,
  maxReceiveMessageLength: number,
  logger: { warn(msg: string): void },
): ServiceRegistry {
  if (!unaryFastPathEnabled()) return server;
  const fast = new UnaryFastPath({ maxReceiveMessageLength });
  if (!attachUnaryFastPath(server, fast)) {
    logger.warn("this grpc-js has no createHttp2Server hook: unary fast path off");
    return server;
  }
  return fast.registry(server);
}
