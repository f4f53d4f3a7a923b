/**
 * The client port: TCP listeners that hand each connection to the gRPC server, repairing
 * one incompatibility on the way.
 *
 * etcd's Go client v3.4 (Debian's etcdctl) dials Maintenance calls (`endpoint status`,
 * `snapshot save`, `defrag`, `hashkv`, `move-leader`, `alarm`) with the whole endpoint
 * URL as the HTTP/2 `:authority` ("http://10.0.0.1:2379"). Go's server ignores that;
 * Node's (nghttp2) rejects the characters "/" and answers RST_STREAM PROTOCOL_ERROR, so
 * those commands would fail against a grpc-js server bound the usual way.
 *
 * So each connection is first watched for its opening frames. The listener sends the
 * server's SETTINGS itself (the client sends nothing else until it has them), reads the
 * client's preface, SETTINGS, the ACK of ours (removed: the gRPC server never sent those
 * SETTINGS) and the first request's HEADERS, then:
 *
 * - if the first request's :authority is valid (every modern client), the buffered bytes
 *   are put back and the socket itself is handed to the gRPC server: Node's native HTTP/2
 *   path, no per-byte cost;
 * - otherwise the connection is served through {@link AuthorityRepairStream}, which
 *   rewrites invalid :authority values (same length, valid characters) in every request's
 *   header block (client-listener-hpack.ts). Only these old-client connections pay for a
 *   JavaScript stream.
 *
 * A connection that sends no request within {@link DECIDE_AFTER_MS} (an idle channel)
 * is handed over natively once the ACK has been removed.
 */
import type { Server as NetServer, Socket } from "node:net";
import { Duplex } from "node:stream";
import { TLSSocket } from "node:tls";
import { type Server as GrpcServer, ServerCredentials } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { HpackAuthorityFixer, HpackError } from "./client-listener-hpack.js";
import { rememberTlsIdentity } from "./tls/connection-identity.js";
import { createUrlServer, listenOnUrl } from "./tls/listen.js";
import type { TlsMaterial } from "./tls/tls-material.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
/** An empty SETTINGS frame: the server's connection preface, all defaults. */
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
const FRAME_HEADER = 9;
const T_HEADERS = 1;
const T_SETTINGS = 4;
const T_PING = 6;
const T_CONTINUATION = 9;
const F_ACK = 0x1;
const F_END_HEADERS = 0x4;
const F_PADDED = 0x8;
const F_PRIORITY = 0x20;
/** Largest frame payload we emit (the HTTP/2 default SETTINGS_MAX_FRAME_SIZE). */
const MAX_FRAME = 16_384;
/** Largest header block we reassemble. */
const MAX_HEADER_BLOCK = 1 << 20;
/** An idle connection is handed over natively after this long. */
export const DECIDE_AFTER_MS = 2_000;
/** Bytes buffered before a decision is forced. */
const MAX_SNIFF_BYTES = 256 * 1024;

/** Running client listeners. */
export interface ClientListener {
  /** The bound URLs (the actual port when 0 was asked for). */
  readonly urls: readonly string[];
  /** Connections served through the repairing stream so far (tests, debugging). */
  readonly repairedConnections: number;
  /**
   * Stops accepting and drops connections not yet handed over; resolves at once.
   * Connections already handed over belong to the gRPC server: its shutdown closes them.
   * Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Listens on every URL (`http://host:port`, or `https://host:port` with `opts.tls`: TLS
 * ends here and the sniffing below runs on the decrypted stream) and hands connections
 * to `server` (which needs no `bindAsync`). All or nothing: a failed bind closes the
 * others.
 */
export async function listenForClients(
  server: GrpcServer,
  urls: readonly string[],
  opts: { logger?: Logger; decideAfterMs?: number; tls?: TlsMaterial } = {},
): Promise<ClientListener> {
  const { logger, decideAfterMs = DECIDE_AFTER_MS, tls } = opts;
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  const listeners: NetServer[] = [];
  const sniffing = new Set<Socket>();
  const bound: string[] = [];
  let repaired = 0;
  const onConnection = (socket: Socket) => {
    socket.setNoDelay(true);
    sniffing.add(socket);
    sniff(socket, decideAfterMs, (how, buffered, ackPending) => {
      sniffing.delete(socket);
      if (how === "native") {
        if (buffered.length > 0) socket.unshift(buffered);
        injector.injectConnection(socket);
        return;
      }
      repaired++;

      logger?.debug(
        { remote: `${socket.remoteAddress}:${socket.remotePort}` },
        "client sends an invalid HTTP/2 :authority (etcd client v3.4); repairing it",
      );
      const tag = socket instanceof TLSSocket ? rememberTlsIdentity(socket) : undefined;
      injector.injectConnection(new AuthorityRepairStream(socket, buffered, ackPending, tag));
    });
  };
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      for (const s of sniffing) s.destroy();
      sniffing.clear();
      // Stop listening now. Not waiting for net.Server's "close": that fires only when
      // every accepted connection has ended, and the handed-over ones end with the gRPC
      // server's shutdown, which comes after this.
      for (const l of listeners) if (l.listening) l.close();
    })();
    return closed;
  };
  try {
    for (const url of urls) {
      const listener = createUrlServer(url, tls, onConnection, logger);
      listeners.push(listener);
      bound.push(await listenOnUrl(listener, url));
    }
  } catch (err) {
    await close();
    throw new Error(`cannot listen for clients on ${urls.join(",")}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return {
    urls: bound,
    get repairedConnections() {
      return repaired;
    },
    close,
  };
}

type Decision = (how: "native" | "repair", buffered: Buffer, ackPending: boolean) => void;

/** Watches a new connection's first frames and decides how to serve it (module comment). */
function sniff(socket: Socket, decideAfterMs: number, decide: Decision): void {
  let buf: Buffer = Buffer.alloc(0);
  let done = false;
  let ackRemoved = false;
  socket.write(EMPTY_SETTINGS);
  const finish = (how: "native" | "repair") => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    socket.off("readable", onReadable);
    socket.off("end", onEnd);
    socket.off("error", onError);
    decide(how, buf, !ackRemoved);
  };
  // A client that resets the connection while we watch it (etcdctl exiting with idle
  // connections does): drop it. Unhandled, the error would end the process.
  const onError = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    socket.destroy();
  };
  socket.on("error", onError);
  const onEnd = () => finish("native");
  const timer = setTimeout(() => finish(ackRemoved ? "native" : "repair"), decideAfterMs);
  timer.unref();
  const onReadable = () => {
    for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read()) {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    }
    if (done) return;
    // Not HTTP/2 with prior knowledge: let the HTTP/2 server reject it.
    const head = Math.min(buf.length, PREFACE.length);
    if (!buf.subarray(0, head).equals(PREFACE.subarray(0, head))) return finish("native");
    if (buf.length < PREFACE.length) return;
    let off = PREFACE.length;
    let headers: { block: Buffer[]; complete: boolean } | undefined;
    let ping = false;
    while (off + FRAME_HEADER <= buf.length) {
      const len = buf.readUIntBE(off, 3);
      const type = buf[off + 3]!;
      const flags = buf[off + 4]!;
      if (off + FRAME_HEADER + len > buf.length) break;
      if (type === T_SETTINGS && flags & F_ACK && !ackRemoved) {
        buf = Buffer.concat([buf.subarray(0, off), buf.subarray(off + FRAME_HEADER + len)]);
        ackRemoved = true;
        continue;
      }
      if (type === T_PING && !(flags & F_ACK)) ping = true;
      if (type === T_HEADERS && headers === undefined) {
        let block: Buffer;
        try {
          block = headerBlock(buf, off, len, flags);
        } catch (err) {
          // Padding or priority longer than the frame: nghttp2 answers PROTOCOL_ERROR.
          // (Thrown from this socket handler, it would have ended the process.)
          if (!(err instanceof HpackError)) throw err;
          return finish("native");
        }
        headers = { block: [block], complete: !!(flags & F_END_HEADERS) };
      } else if (type === T_CONTINUATION && headers !== undefined && !headers.complete) {
        headers.block.push(buf.subarray(off + FRAME_HEADER, off + FRAME_HEADER + len));
        headers.complete = !!(flags & F_END_HEADERS);
      }
      off += FRAME_HEADER + len;
    }
    if (headers?.complete) {
      let needsRepair = true;
      try {
        needsRepair = new HpackAuthorityFixer().fix(Buffer.concat(headers.block)).changed;
      } catch (err) {
        if (!(err instanceof HpackError)) throw err;
        needsRepair = false; // malformed: nghttp2 will say so
      }
      if (needsRepair) return finish("repair");
      if (ackRemoved) return finish("native");
    }
    if (ping && ackRemoved) return finish("native");
    if (buf.length > MAX_SNIFF_BYTES) finish(ackRemoved ? "native" : "repair");
  };
  socket.on("readable", onReadable);
  socket.on("end", onEnd);
}

/** The header block fragment of a HEADERS frame (without padding and priority fields). */
function headerBlock(buf: Buffer, off: number, len: number, flags: number): Buffer {
  let start = off + FRAME_HEADER;
  let end = start + len;
  if (flags & F_PADDED) {
    const pad = buf[start]!;
    start += 1;
    end -= pad;
  }
  if (flags & F_PRIORITY) start += 5;
  if (end < start) throw new HpackError("HEADERS padding exceeds the frame");
  return buf.subarray(start, end);
}

/**
 * A connection whose client → server bytes pass through an HTTP/2 frame parser that
 * repairs :authority in every header block (and drops the ACK of the listener's own
 * SETTINGS if it has not arrived yet). Server → client bytes pass unchanged.
 */
export class AuthorityRepairStream extends Duplex {
  readonly #socket: Socket;
  readonly #fixer = new HpackAuthorityFixer();
  #pending: Buffer = Buffer.alloc(0);
  #prefaceSeen = false;
  #dropAck: boolean;
  readonly #tag: Buffer | undefined;
  /** A HEADERS frame waiting for its CONTINUATIONs. */
  #open:
    | {
        streamId: number;
        flags: number;
        priority: Buffer | undefined;
        block: Buffer[];
        size: number;
      }
    | undefined;

  /**
   * `tag`: an HPACK header field appended to every header block (the connection's TLS
   * identity token, tls/connection-identity.ts).
   */
  constructor(socket: Socket, buffered: Buffer, ackPending: boolean, tag?: Buffer) {
    super();
    this.#tag = tag;
    this.#socket = socket;
    this.#dropAck = ackPending;
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("end", () => this.push(null));
    // A reset by the client just ends the connection (nothing to report upward).
    socket.on("error", () => this.destroy());
    socket.on("close", () => this.destroy());
    if (buffered.length > 0) this.#onData(buffered);
  }

  get remoteAddress(): string | undefined {
    return this.#socket.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.#socket.remotePort;
  }

  override _read(): void {
    this.#socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#socket.write(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#socket.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.#socket.destroy();
    cb(err);
  }

  #onData(chunk: Buffer): void {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const out: Buffer[] = [];
    try {
      this.#parse(out);
    } catch (err) {
      // A malformed header block: close the connection, as nghttp2 would (with a
      // COMPRESSION_ERROR). A bug of ours is rethrown.
      if (!(err instanceof HpackError)) throw err;
      this.destroy();
      return;
    }
    if (out.length > 0 && !this.push(out.length === 1 ? out[0] : Buffer.concat(out))) {
      this.#socket.pause();
    }
  }

  #parse(out: Buffer[]): void {
    let p = this.#pending;
    if (!this.#prefaceSeen) {
      if (p.length < PREFACE.length) return;
      out.push(p.subarray(0, PREFACE.length));
      p = p.subarray(PREFACE.length);
      this.#prefaceSeen = true;
    }
    while (p.length >= FRAME_HEADER) {
      const len = p.readUIntBE(0, 3);
      // Larger than the SETTINGS_MAX_FRAME_SIZE we run with: a FRAME_SIZE_ERROR for
      // nghttp2, and not worth buffering up to 16 MiB for.
      if (len > MAX_FRAME) throw new HpackError(`frame of ${len} bytes`);
      if (p.length < FRAME_HEADER + len) break;
      const frame = p.subarray(0, FRAME_HEADER + len);
      p = p.subarray(FRAME_HEADER + len);
      this.#frame(frame, out);
    }
    this.#pending = p;
  }

  #frame(frame: Buffer, out: Buffer[]): void {
    const len = frame.length - FRAME_HEADER;
    const type = frame[3]!;
    const flags = frame[4]!;
    const streamId = frame.readUInt32BE(5) & 0x7fffffff;
    if (type === T_SETTINGS && flags & F_ACK && this.#dropAck) {
      this.#dropAck = false;
      return;
    }
    if (type === T_HEADERS) {
      const start = FRAME_HEADER + (flags & F_PADDED ? 1 : 0);
      const priority = flags & F_PRIORITY ? frame.subarray(start, start + 5) : undefined;
      const block = headerBlock(frame, 0, len, flags);
      this.#open = { streamId, flags, priority, block: [block], size: block.length };
    } else if (type === T_CONTINUATION && this.#open !== undefined) {
      this.#open.block.push(frame.subarray(FRAME_HEADER));
      this.#open.size += len;
      if (this.#open.size > MAX_HEADER_BLOCK) throw new HpackError("header block too large");
      this.#open.flags |= flags & F_END_HEADERS;
    } else {
      out.push(frame);
      return;
    }
    if (!(this.#open.flags & F_END_HEADERS)) return;
    const open = this.#open;
    this.#open = undefined;
    const { block } = this.#fixer.fix(Buffer.concat(open.block));
    const tagged = this.#tag ? Buffer.concat([block, this.#tag]) : block;
    emitHeaders(open.streamId, open.flags, open.priority, tagged, out);
  }
}

/** HEADERS (+ CONTINUATION) frames for a block, without padding, each ≤ MAX_FRAME. */
function emitHeaders(
  streamId: number,
  flags: number,
  priority: Buffer | undefined,
  block: Uint8Array,
  out: Buffer[],
): void {
  const first = priority ? MAX_FRAME - 5 : MAX_FRAME;
  let pos = Math.min(block.length, first);
  const last = pos === block.length;
  const keep = flags & ~(F_PADDED | F_END_HEADERS) & (0x1 | F_PRIORITY); // END_STREAM, PRIORITY
  out.push(
    frameHeader(pos + (priority ? 5 : 0), T_HEADERS, keep | (last ? F_END_HEADERS : 0), streamId),
  );
  if (priority) out.push(priority);
  out.push(Buffer.from(block.subarray(0, pos)));
  while (pos < block.length) {
    const n = Math.min(MAX_FRAME, block.length - pos);
    const end = pos + n === block.length;
    out.push(frameHeader(n, T_CONTINUATION, end ? F_END_HEADERS : 0, streamId));
    out.push(Buffer.from(block.subarray(pos, pos + n)));
    pos += n;
  }
}

function frameHeader(len: number, type: number, flags: number, streamId: number): Buffer {
  const h = Buffer.alloc(FRAME_HEADER);
  h.writeUIntBE(len, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId, 5);
  return h;
}
