/**
 * The one table that turns what a service caught into the gRPC status a client receives
 * (STYLE.md "Errors" 4). Every client-facing handler ends in {@link toGrpcError}; nothing
 * else builds a status from an error.
 *
 * | caught                                     | status                                    |
 * | ------------------------------------------ | ----------------------------------------- |
 * | `EtcdError` (@chainfire/api)               | its code and etcd's exact message         |
 * | `StorageError` (@chainfire/storage)        | the api table entry of the same name      |
 * | `LeaseAlreadyExistsError`                  | ErrLeaseExist                             |
 * | raft `ProposalDroppedError`                | by reason: ErrNoLeader, ErrLeaderChanged, ErrTooManyRequests |
 * | `NotImplementedError` (below)              | UNIMPLEMENTED, "chainfire: X is not implemented yet" |
 * | an aborted signal (`AbortError`)           | ErrCanceled                               |
 * | storage's `EngineStateError`, also as an error's `cause` (database closing, or reopened by a defragment) | ErrStopped / ErrTimeout (clients retry) |
 * | a gRPC status object (forwarded call)      | passed through                            |
 * | anything else                              | INTERNAL "chainfire: internal error: …", logged once as a bug |
 *
 * A handler never throws past the table: a bug answers INTERNAL and the member keeps
 * serving (STYLE.md "Errors" 5).
 */

import {
  ErrCanceled,
  ErrLeaderChanged,
  ErrLeaseExist,
  ErrNoLeader,
  ErrStopped,
  ErrTimeout,
  ErrTooManyRequests,
  EtcdError,
  type EtcdErrorSpec,
  etcdErrors,
} from "@chainfire/api";
import { ProposalDroppedError } from "@chainfire/raft";
import { EngineStateError, LeaseAlreadyExistsError, StorageError } from "@chainfire/storage";
import type { ServerErrorResponse } from "@grpc/grpc-js";
import { Metadata, status } from "@grpc/grpc-js";
import type { Logger } from "pino";

/**
 * An RPC or feature that exists in etcd's API but not (yet) in Chainfire. Answers
 * UNIMPLEMENTED with a message naming it, so a client sees a clear, non-retryable error.
 * Throw it from MemberContext methods that are still stubs, too.
 */
export class NotImplementedError extends Error {
  override readonly name = "NotImplementedError";
  /** `what` names the missing piece, e.g. "Maintenance.Downgrade". */
  constructor(readonly what: string) {
    super(`chainfire: ${what} is not implemented yet`);
  }
}

/** A gRPC status as grpc-js's callbacks and `call.emit("error")` accept it. */
export type GrpcError = ServerErrorResponse & { code: status; details: string };

const byName: ReadonlyMap<string, EtcdErrorSpec> = new Map(etcdErrors.map((e) => [e.name, e]));

/** The etcd error a raft proposal-drop reason stands for (clients retry all three). */
function proposalDropped(err: ProposalDroppedError): EtcdErrorSpec {
  if (err.reason.includes("transfer")) return ErrLeaderChanged;
  if (err.reason.includes("size limit")) return ErrTooManyRequests;
  return ErrNoLeader;
}

function fromSpec(spec: EtcdErrorSpec): GrpcError {
  return grpcError(spec.code, spec.message);
}

/** Builds a status object (an Error, so grpc-js and loggers both read it well). */
export function grpcError(code: status, details: string): GrpcError {
  return Object.assign(new Error(details), { code, details, metadata: new Metadata() });
}

/**
 * Translates `err` (see the module table). `method` ("etcdserverpb.KV/Put") goes into
 * the bug log line; `logger` receives that line.
 */
export function toGrpcError(err: unknown, logger: Logger, method: string): GrpcError {
  if (err instanceof EtcdError) return grpcError(err.code, err.message);
  if (err instanceof StorageError) {
    const spec = byName.get(err.errorName);
    return spec ? fromSpec(spec) : grpcError(err.code as number as status, err.message);
  }
  if (err instanceof LeaseAlreadyExistsError) return fromSpec(ErrLeaseExist);
  if (err instanceof ProposalDroppedError) return fromSpec(proposalDropped(err));
  if (err instanceof NotImplementedError) return grpcError(status.UNIMPLEMENTED, err.message);
  if (isAbortError(err)) return fromSpec(ErrCanceled);
  // Also when wrapped (a state snapshot that met a defragment's reopen, for one).
  const engineState =
    err instanceof EngineStateError
      ? err
      : err instanceof Error && err.cause instanceof EngineStateError
        ? err.cause
        : undefined;
  if (engineState !== undefined) {
    return fromSpec(engineState.message.includes("reopening") ? ErrTimeout : ErrStopped);
  }
  if (isStatusLike(err)) {
    return grpcError(err.code, err.details);
  }
  const e = err instanceof Error ? err : new Error(String(err));
  logger.error({ err: e, method }, "bug: unexpected error answering a client request");
  return grpcError(status.INTERNAL, `chainfire: internal error: ${e.message}`);
}

function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === "AbortError" || err.name === "TimeoutError");
}

/** A status received from another gRPC call (e.g. a request forwarded to the leader). */
function isStatusLike(err: unknown): err is { code: status; details: string } {
  if (typeof err !== "object" || err === null) return false;
  const e = err as { code?: unknown; details?: unknown };
  return (
    typeof e.code === "number" &&
    Number.isInteger(e.code) &&
    e.code > 0 &&
    e.code <= 16 &&
    typeof e.details === "string"
  );
}
