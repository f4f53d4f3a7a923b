/**
 * The sending end of a raw raft lane (raw-frame.ts): one TCP connection (TLS for an
 * https:// peer URL) that starts with the HELLO frame and then carries BATCH frames.
 * It looks like the writable stream a {@link PeerLane} writes to: `write` returns false
 * when the socket's buffer is full and "drain" follows.
 *
 * Dead-connection detection: a PING goes out every {@link PING_INTERVAL_MS}; the receiver
 * answers each with a PONG. A lane that hears nothing for {@link LANE_SILENCE_MS} (a
 * black-holed network, a peer stopped or gone without a FIN or RST) is closed, and the
 * link reconnects.
 */
import { EventEmitter } from "node:events";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { EtcdError, type peerpb } from "@chainfire/api";
import { isTlsUrl } from "../config-urls.js";
import type { TlsMaterial } from "../tls/tls-material.js";
import type { BatchSink } from "./peer-lane.js";
import {
  decodeRefuse,
  encodeBatch,
  encodeHello,
  FrameReader,
  FrameType,
  type LaneHello,
  PING_FRAME,
} from "./raw-frame.js";

/** How often a lane sends a PING. */
export const PING_INTERVAL_MS = 1_000;
/** A lane that hears no PONG (nor anything) for this long is closed. */
export const LANE_SILENCE_MS = 5_000;

/** How a lane ended: null when closed by us. */
export type LaneCloseHandler = (err: Error | null) => void;

export class RawLaneStream extends EventEmitter implements BatchSink {
  readonly #socket: Socket;
  readonly #reader = new FrameReader();
  readonly #onClose: LaneCloseHandler;
  readonly #timer: NodeJS.Timeout;
  #lastHeard = performance.now();
  #done = false;
  #corked = false;
  /** The REFUSE the receiver sent, reported when the connection closes. */
  #refusal: Error | null = null;

  /**
   * Dials `url` and sends `hello`. Throws if `url` is https:// and there is no peer TLS;
   * every later failure comes once through `onClose`.
   */
  constructor(
    url: string,
    tls: TlsMaterial | undefined,
    hello: LaneHello,
    onClose: LaneCloseHandler,
    timing: { pingMs: number; silenceMs: number } = {
      pingMs: PING_INTERVAL_MS,
      silenceMs: LANE_SILENCE_MS,
    },
  ) {
    super();
    this.#onClose = onClose;
    const u = new URL(url);
    const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
    if (isTlsUrl(url)) {
      if (tls === undefined) {
        throw new Error(
          `cannot dial ${url}: it uses https:// but this member has no peer TLS ` +
            "(--peer-cert-file/--peer-key-file or --peer-auto-tls)",
        );
      }
      this.#socket = tlsConnect({ ...tls.connectOptions(), host, port: Number(u.port || 443) });
    } else {
      this.#socket = netConnect({ host, port: Number(u.port || 80) });
    }
    const s = this.#socket;
    s.setNoDelay(true);
    s.on("data", (chunk: Buffer) => this.#onData(chunk));
    s.on("drain", () => this.emit("drain"));
    s.on("error", (err) => this.#finish(err));
    s.on("close", () => this.#finish(new Error("raft lane closed by the peer")));
    s.write(encodeHello(hello));
    this.#timer = setInterval(() => {
      if (performance.now() - this.#lastHeard > timing.silenceMs) {
        this.#finish(new Error(`raft lane silent for ${timing.silenceMs / 1000} s`));
        return;
      }
      s.write(PING_FRAME);
    }, timing.pingMs);
    this.#timer.unref();
  }

  /**
   * Sends one batch; false when the socket buffers too much (wait for "drain"). Writes of
   * one event-loop turn leave together, in one system call, at the end of the turn.
   */
  write(b: peerpb.RaftBatch): boolean {
    if (this.#done) return true;
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      process.nextTick(this.#uncork);
    }
    return this.#socket.write(encodeBatch(b));
  }

  /** Uncorks now what this turn's writes corked (the end-of-turn uncork then does nothing). */
  flushNow(): void {
    this.#uncork();
  }

  readonly #uncork = () => {
    if (!this.#corked) return;
    this.#corked = false;
    this.#socket.uncork();
  };

  /** Closes the lane (written data is flushed if the peer reads it soon). Idempotent. */
  end(): void {
    if (this.#done) return;
    this.#done = true;
    clearInterval(this.#timer);
    const s = this.#socket;
    s.end();
    setTimeout(() => s.destroy(), 1_000).unref();
  }

  #onData(chunk: Buffer): void {
    if (this.#done) return;
    this.#lastHeard = performance.now();
    let frames: ReturnType<FrameReader["push"]>;
    try {
      frames = this.#reader.push(chunk);
    } catch (err) {
      this.#finish(err as Error);
      return;
    }
    for (const f of frames) {
      if (f.type === FrameType.Refuse && this.#refusal === null) {
        try {
          const { code, message } = decodeRefuse(f.payload);
          this.#refusal = new EtcdError(code as EtcdError["code"], message);
        } catch (err) {
          this.#refusal = err as Error;
        }
      }
      // PONG: nothing to do but having heard from the peer.
    }
  }

  #finish(err: Error): void {
    if (this.#done) return;
    this.#done = true;
    clearInterval(this.#timer);
    this.#socket.destroy();
    this.#onClose(this.#refusal ?? err);
  }
}
