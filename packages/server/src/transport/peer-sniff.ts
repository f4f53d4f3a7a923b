/**
 * One peer port for two protocols: an accepted connection (decrypted, for https://) is
 * looked at before anyone reads it. If it starts with the raw lane magic (raw-frame.ts)
 * it is a raft lane; anything else (the HTTP/2 preface of a gRPC client) goes back,
 * unread, to the gRPC server. A connection that sends too few bytes to decide is closed.
 */
import type { Socket } from "node:net";
import { RAW_MAGIC } from "./raw-frame.js";

/** A connection that has not said which protocol it speaks after this long is closed. */
export const SNIFF_TIMEOUT_MS = 10_000;

export interface SniffHandlers {
  /** A gRPC (HTTP/2) connection; nothing has been consumed from it. */
  grpc(socket: Socket): void;
  /** A raw lane; `first` holds the bytes read so far, magic included. */
  raw(socket: Socket, first: Buffer): void;
}

/** Reads the first bytes of `socket` and hands it to the matching handler. */
export function sniffConnection(socket: Socket, handlers: SniffHandlers): void {
  let seen: Buffer | null = null;
  socket.setNoDelay(true);
  const timer = setTimeout(() => socket.destroy(), SNIFF_TIMEOUT_MS);
  timer.unref();
  const done = () => {
    clearTimeout(timer);
    socket.off("data", onData);
    socket.off("error", onError);
    socket.off("close", onClose);
    socket.pause();
  };
  function onError(): void {
    clearTimeout(timer);
  }
  function onClose(): void {
    clearTimeout(timer);
  }
  function onData(chunk: Buffer): void {
    const buf: Buffer = seen === null ? chunk : Buffer.concat([seen, chunk]);
    const n = Math.min(buf.length, RAW_MAGIC.length);
    const rawSoFar = buf.subarray(0, n).equals(RAW_MAGIC.subarray(0, n));
    if (rawSoFar && n < RAW_MAGIC.length) {
      seen = buf; // too short to decide yet
      return;
    }
    done();
    if (rawSoFar) handlers.raw(socket, buf);
    else {
      socket.unshift(buf);
      handlers.grpc(socket);
    }
  }
  socket.on("data", onData);
  socket.on("error", onError);
  socket.on("close", onClose);
}
