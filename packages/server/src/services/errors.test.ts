import { ErrCompacted, ErrLeaseNotFound, EtcdError } from "@chainfire/api";
import { ProposalDroppedError } from "@chainfire/raft";
import { EngineStateError, LeaseAlreadyExistsError, StorageError } from "@chainfire/storage";
import { status } from "@grpc/grpc-js";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { NotImplementedError, toGrpcError } from "./errors.js";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: "info" }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { logger, lines };
}

describe("toGrpcError: the one table", () => {
  const { logger, lines } = capture();
  const t = (err: unknown) => {
    const e = toGrpcError(err, logger, "/etcdserverpb.KV/Put");
    return { code: e.code, details: e.details };
  };

  it.each([
    [
      new EtcdError(ErrCompacted),
      status.OUT_OF_RANGE,
      "etcdserver: mvcc: required revision has been compacted",
    ],
    [new StorageError("ErrLeaseNotFound"), ErrLeaseNotFound.code, ErrLeaseNotFound.message],
    [
      new StorageError("ErrDuplicateKey"),
      status.INVALID_ARGUMENT,
      "etcdserver: duplicate key given in txn request",
    ],
    [
      new LeaseAlreadyExistsError(5n),
      status.FAILED_PRECONDITION,
      "etcdserver: lease already exists",
    ],
    [new ProposalDroppedError("no leader"), status.UNAVAILABLE, "etcdserver: no leader"],
    [
      new ProposalDroppedError("leadership transfer in progress"),
      status.UNAVAILABLE,
      "etcdserver: leader changed",
    ],
    [
      new ProposalDroppedError("uncommitted entries size limit"),
      status.RESOURCE_EXHAUSTED,
      "etcdserver: too many requests",
    ],
    [
      new NotImplementedError("Lease.LeaseGrant"),
      status.UNIMPLEMENTED,
      "chainfire: Lease.LeaseGrant is not implemented yet",
    ],
    [new DOMException("aborted", "AbortError"), status.CANCELLED, "etcdserver: request canceled"],
    [
      new EngineStateError("engine is reopening"),
      status.UNAVAILABLE,
      "etcdserver: request timed out",
    ],
    [new EngineStateError("engine is closed"), status.UNAVAILABLE, "etcdserver: server stopped"],
    [
      new Error("cannot take a state snapshot", {
        cause: new EngineStateError("engine is reopening"),
      }),
      status.UNAVAILABLE,
      "etcdserver: request timed out",
    ],
    [{ code: status.UNAVAILABLE, details: "forwarded" }, status.UNAVAILABLE, "forwarded"],
  ])("%o → %i %s", (err, code, details) => {
    expect(t(err)).toEqual({ code, details });
  });

  it("answers anything else INTERNAL and logs it once as a bug", () => {
    lines.length = 0;
    expect(t(new RangeError("index out of range"))).toEqual({
      code: status.INTERNAL,
      details: "chainfire: internal error: index out of range",
    });
    expect(t("a string")).toEqual({
      code: status.INTERNAL,
      details: "chainfire: internal error: a string",
    });
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      level: 50,
      method: "/etcdserverpb.KV/Put",
      msg: "bug: unexpected error answering a client request",
    });
  });
});
