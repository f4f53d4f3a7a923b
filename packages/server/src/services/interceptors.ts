/**
 * Wrapping every client-facing handler: go-grpc-prometheus's request counters
 * (`grpc_server_started_total`, `grpc_server_handled_total`, what etcd's dashboards
 * plot) and a last line of defence, so a handler that throws or rejects answers through
 * the error table (errors.ts) instead of grpc-js's bare "Unknown error".
 *
 * Handlers may be plain grpc-js handlers or `async` functions; a rejected promise from a
 * unary handler is answered like a thrown error.
 */

import { ErrNoLeader, EtcdError } from "@chainfire/api";
import {
  type handleUnaryCall,
  type ServerErrorResponse,
  type ServerUnaryCall,
  status,
} from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { MemberMetrics } from "../metrics.js";
import { toGrpcError } from "./errors.js";

/** The fields of a grpc-js or proto-loader method definition we read. */
interface MethodShape {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  /** proto-loader's lowerCamel name, which grpc-js also accepts as the handler's key. */
  readonly originalName?: string;
}

/** A service definition: method name → method (grpc-js and proto-loader both fit). */
export type ServiceShape = Readonly<Record<string, MethodShape>>;

/** Anything with grpc-js's `addService` (a `Server`, or a wrapper around one). */
export interface ServiceRegistry {
  // biome-ignore lint/suspicious/noExplicitAny: grpc-js's own signature is untyped here
  addService(service: any, implementation: any): void;
}

/** go-grpc-prometheus's grpc_type label. */
export type GrpcType = "unary" | "client_stream" | "server_stream" | "bidi_stream";

export interface InstrumentOptions {
  logger: Logger;
  /** Counters to feed; none when undefined. */
  metrics?: MemberMetrics;
  /**
   * Checked before the handler runs (for streams, before any message is read; `request`
   * is then undefined): an error to answer with instead, or undefined to proceed. Used
   * for etcd's learner rule.
   */
  gate?: (path: string, request: unknown) => unknown;
  /**
   * Whether the member knows a leader. When given, a call whose metadata carries
   * `hasleader=true` (clientv3's WithRequireLeader; etcdctl and our SDK set it) is refused
   * with "etcdserver: no leader" at once while there is none, as etcd's interceptors do,
   * instead of waiting for a leader until the request times out.
   */
  hasLeader?: () => boolean;
}

/** Whether a call asked to be refused when the member has no leader. */
function requiresLeader(call: unknown): boolean {
  const md = (call as { metadata?: { get(key: string): unknown[] } }).metadata;
  return md?.get("hasleader")[0] === "true";
}

/** Go's names of the gRPC codes, as go-grpc-prometheus writes them in grpc_code. */
const CODE_NAMES: Record<number, string> = {
  0: "OK",
  1: "Canceled",
  2: "Unknown",
  3: "InvalidArgument",
  4: "DeadlineExceeded",
  5: "NotFound",
  6: "AlreadyExists",
  7: "PermissionDenied",
  8: "ResourceExhausted",
  9: "FailedPrecondition",
  10: "Aborted",
  11: "OutOfRange",
  12: "Unimplemented",
  13: "Internal",
  14: "Unavailable",
  15: "DataLoss",
  16: "Unauthenticated",
};

/** `grpc_code` label for a status code. */
export function codeName(code: number): string {
  return CODE_NAMES[code] ?? "Unknown";
}

/** The grpc_type of a method. */
export function grpcType(m: MethodShape): GrpcType {
  if (m.requestStream) return m.responseStream ? "bidi_stream" : "client_stream";
  return m.responseStream ? "server_stream" : "unary";
}

/** "/etcdserverpb.KV/Range" → ["etcdserverpb.KV", "Range"]. */
export function splitPath(path: string): [service: string, method: string] {
  const [, service = "", method = ""] = path.split("/");
  return [service, method];
}

/**
 * A registry that instruments every service added through it (used for
 * grpc-health-check's `addToServer`, which calls `addService` itself).
 */
export function instrumentedRegistry(
  server: ServiceRegistry,
  opts: InstrumentOptions,
): ServiceRegistry {
  return {
    addService(service: ServiceShape, implementation: Record<string, unknown>) {
      server.addService(service, instrumentService(service, implementation, opts));
    },
  };
}

/** Wraps each handler of `impl` (see the module comment). */
export function instrumentService(
  definition: ServiceShape,
  impl: Record<string, unknown>,
  opts: InstrumentOptions,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(definition)) {
    const handler = impl[name] ?? (method.originalName ? impl[method.originalName] : undefined);
    if (typeof handler !== "function") continue;
    out[name] = wrapHandler(method, handler as Handler, opts);
  }
  return out;
}

// biome-ignore lint/suspicious/noExplicitAny: handlers of every call type
type Handler = (call: any, callback?: any) => unknown;

type Callback = (err: unknown, value?: unknown, trailer?: unknown, flags?: number) => void;

function wrapHandler(method: MethodShape, handler: Handler, opts: InstrumentOptions): Handler {
  const type = grpcType(method);
  const [grpc_service, grpc_method] = splitPath(method.path);
  const labels = { grpc_type: type, grpc_service, grpc_method };
  const { metrics, logger, gate, hasLeader } = opts;
  // One label object per code, built once (not one object per request).
  const byCode: Array<typeof labels & { grpc_code: string }> = [];
  const handled = (code: number) => {
    if (metrics === undefined) return;
    const l = (byCode[code] ??= { ...labels, grpc_code: codeName(code) });
    metrics.grpcHandled.inc(l);
  };

  if (type === "unary" || type === "client_stream") {
    return (call: unknown, callback: Callback) => {
      metrics?.grpcStarted.inc(labels);
      let answered = false;
      const reply: Callback = (err, value, trailer, flags) => {
        if (answered) return;
        answered = true;
        const e = err == null ? null : toGrpcError(err, logger, method.path);
        handled(e === null ? status.OK : e.code);
        callback(e, value, trailer, flags);
      };
      try {
        if (hasLeader !== undefined && !hasLeader() && requiresLeader(call)) {
          return reply(new EtcdError(ErrNoLeader));
        }
        const refused = gate?.(method.path, (call as { request?: unknown }).request);
        if (refused !== undefined) return reply(refused);
        const r = handler(call, reply);
        if (isPromise(r)) r.catch((err: unknown) => reply(err));
      } catch (err) {
        reply(err);
      }
    };
  }

  return (call: StreamCall) => {
    metrics?.grpcStarted.inc(labels);
    let code: number | undefined;
    let counted = false;
    const count = (c: number) => {
      if (counted) return;
      counted = true;
      handled(c);
    };
    call.on("error", (err: { code?: unknown }) => {
      code = typeof err?.code === "number" ? err.code : status.UNKNOWN;
    });
    call.once("finish", () => count(code ?? status.OK));
    call.once("cancelled", () => count(status.CANCELLED));
    const fail = (err: unknown) => {
      if (call.destroyed || call.writableEnded) return;
      call.emit("error", toGrpcError(err, logger, method.path));
    };
    try {
      if (hasLeader !== undefined && !hasLeader() && requiresLeader(call)) {
        return fail(new EtcdError(ErrNoLeader));
      }
      const refused = gate?.(method.path, undefined);
      if (refused !== undefined) return fail(refused);
      const r = handler(call);
      if (isPromise(r)) r.catch(fail);
    } catch (err) {
      fail(err);
    }
  };
}

interface StreamCall {
  on(event: string, listener: (...args: never[]) => void): unknown;
  once(event: string, listener: (...args: never[]) => void): unknown;
  emit(event: string, ...args: unknown[]): boolean;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
}

function isPromise(v: unknown): v is Promise<unknown> {
  return typeof v === "object" && v !== null && typeof (v as Promise<unknown>).then === "function";
}

/** The parts of a grpc-js server call the helpers below use. */
export interface CancellableCall {
  readonly cancelled: boolean;
  once(event: "cancelled", listener: () => void): unknown;
}

/**
 * An AbortSignal that fires when the client cancels `call` or when `stopping` (the
 * member's shutdown signal) fires, for passing to MemberContext methods.
 */
export function callSignal(call: CancellableCall, stopping?: AbortSignal): AbortSignal {
  const ac = new AbortController();
  if (call.cancelled) ac.abort();
  else call.once("cancelled", () => ac.abort());
  return stopping === undefined ? ac.signal : AbortSignal.any([ac.signal, stopping]);
}

/**
 * A grpc-js unary handler from an async function: resolves → OK with the response,
 * rejects/throws → the error goes to the callback (and through the error table when the
 * service is registered by `registerClientServices`).
 */
export function unaryHandler<Req, Res>(
  fn: (request: Req, signal: AbortSignal) => Promise<Res> | Res,
  stopping?: AbortSignal,
): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback) => {
    // Errors are raw here; the wrapper of registerClientServices translates them.
    const fail = (err: unknown) => callback(err as ServerErrorResponse);
    let result: Promise<Res>;
    try {
      result = Promise.resolve(fn(call.request, callSignal(call, stopping)));
    } catch (err) {
      fail(err);
      return;
    }
    result.then((res) => callback(null, res), fail);
  };
}
