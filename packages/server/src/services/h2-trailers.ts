/**
 * Trailers without Node's extra event-loop turns.
 *
 * A gRPC answer ends with trailers (`grpc-status`), and a client completes the call only
 * when they arrive. Node's `ServerHttp2Stream.sendTrailers` does not submit them: it
 * schedules the submission with `setImmediate` (lib/internal/http2/core.js, "so we don't do
 * it on nghttp2 stack"), and the session writes what was submitted from its next native
 * immediate. 'wantTrailers' itself is emitted while the session writes the message (inside
 * nghttp2's data source callback). So the trailers of an answer leave one or two event-loop
 * iterations after its message; on a loaded member each iteration may run a whole raft
 * Ready, and every unary call waits for it. Measured with a bare `node:http2` server whose
 * loop spins 1 ms per iteration: p50 2.5 ms with `sendTrailers`, 1.2-1.4 ms with the
 * trailers submitted here or with no trailers at all (docs/performance.md).
 *
 * nghttp2 documents submitting trailers from inside that callback
 * (`nghttp2_submit_trailer`), which is where 'wantTrailers' runs; so
 * {@link submitTrailersNow} does the work of Node's deferred step at once: submit through
 * the stream's native handle, clear the stream's "has trailers" flag, let the stream close
 * itself when done. It needs three Node internals, found by their descriptions and checked
 * on first use, and the header-list encoding of Node 20 (`name\0value\0flags`); on any other
 * Node major, or if a piece is missing, it returns false and the caller uses
 * `sendTrailers` (the differential test in fast-unary.test.ts compares the bytes either
 * way). `CHAINFIRE_H2_IMMEDIATE_TRAILERS=0` turns it off (A/B measurements).
 */
import type { ServerHttp2Stream } from "node:http2";

/** Node's STREAM_FLAGS_HAS_TRAILERS (lib/internal/http2/core.js, Node 20). */
const STREAM_FLAGS_HAS_TRAILERS = 0x20;

interface Internals {
  readonly handle: symbol;
  readonly state: symbol;
  readonly maybeDestroy: symbol;
}

interface NativeStreamHandle {
  trailers(list: [string, number]): number;
}

/** Trailers submitted at once so far (tests, debugging). */
export const immediateTrailerStats = { submitted: 0 };

/**
 * Whether immediate trailers are to be tried: on Node 20 (whose internals this was written
 * against) unless `CHAINFIRE_H2_IMMEDIATE_TRAILERS=0`.
 */
export function immediateTrailersWanted(
  env: NodeJS.ProcessEnv = process.env,
  nodeVersion: string = process.versions.node,
): boolean {
  return env.CHAINFIRE_H2_IMMEDIATE_TRAILERS !== "0" && nodeVersion.split(".")[0] === "20";
}

/** undefined: not probed yet; null: unavailable (use sendTrailers). */
let internals: Internals | null | undefined = immediateTrailersWanted() ? undefined : null;

function probe(stream: ServerHttp2Stream): Internals | null {
  const own = Object.getOwnPropertySymbols(stream);
  const handle = own.find((s) => s.description === "kHandle");
  const state = own.find((s) => s.description === "state");
  let maybeDestroy: symbol | undefined;
  for (let p = Object.getPrototypeOf(stream); p && !maybeDestroy; p = Object.getPrototypeOf(p)) {
    maybeDestroy = Object.getOwnPropertySymbols(p).find((s) => s.description === "kMaybeDestroy");
  }
  if (!handle || !state || !maybeDestroy) return null;
  const s = stream as unknown as Record<symbol, unknown>;
  const h = s[handle] as Partial<NativeStreamHandle> | undefined;
  const st = s[state] as { flags?: unknown } | undefined;
  if (typeof h?.trailers !== "function" || typeof st?.flags !== "number") return null;
  if (typeof s[maybeDestroy] !== "function") return null;
  return { handle, state, maybeDestroy };
}

/** Whether {@link submitTrailersNow} can work in this process (probed on `stream`). */
export function immediateTrailersAvailable(stream: ServerHttp2Stream): boolean {
  if (internals === undefined) internals = probe(stream);
  return internals !== null;
}

/**
 * Encodes trailers the way Node 20's `mapToHeaders` does for `handle.trailers`: each field
 * as `name\0value\0` plus a flags byte (0: may be indexed), and the count. Names must be
 * lower-case and values plain strings: only for fixed trailers built by this server.
 */
export function encodeTrailers(fields: Readonly<Record<string, string>>): [string, number] {
  let list = "";
  let n = 0;
  for (const [name, value] of Object.entries(fields)) {
    list += `${name}\0${value}\0\0`;
    n++;
  }
  return [list, n];
}

/**
 * Submits `encoded` as the trailers of `stream`, from its 'wantTrailers' listener. Returns
 * false, having done nothing, when the internals are unavailable: call `sendTrailers`.
 */
export function submitTrailersNow(stream: ServerHttp2Stream, encoded: [string, number]): boolean {
  if (internals === undefined) internals = probe(stream);
  if (internals === null) return false;
  if (stream.destroyed) return true; // nothing to send (Node's deferred step returns too)
  const s = stream as unknown as Record<symbol, unknown>;
  const handle = s[internals.handle] as NativeStreamHandle | undefined;
  if (!handle) return true; // closed meanwhile: nothing can be sent
  (s[internals.state] as { flags: number }).flags &= ~STREAM_FLAGS_HAS_TRAILERS;
  const ret = handle.trailers(encoded);
  if (ret < 0) stream.destroy(new Error(`HTTP/2 trailers not submitted (nghttp2 error ${ret})`));
  else {
    immediateTrailerStats.submitted++;
    (s[internals.maybeDestroy] as () => void).call(stream);
  }
  return true;
}
