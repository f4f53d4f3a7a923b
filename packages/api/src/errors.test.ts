import { status } from "@grpc/grpc-js";
import { castGrpcErrorMessage, EtcdLeaseInvalidError, EtcdPermissionDeniedError } from "etcd3";
import { describe, expect, it } from "vitest";
import * as errors from "./errors.js";
import {
  ErrCompacted,
  ErrLeaseNotFound,
  EtcdError,
  etcdErrorFromStatus,
  etcdErrors,
  findEtcdError,
  isEtcdError,
} from "./errors.js";
import { DefaultMaxRequestBytes, DefaultMaxTxnOps, DefaultQuotaBackendBytes } from "./limits.js";

describe("etcd error table", () => {
  it("lists every exported Err* constant once, under its own name", () => {
    const exported = Object.entries(errors).filter(([k]) => k.startsWith("Err"));
    expect(exported.map(([k]) => k).sort()).toEqual(etcdErrors.map((e) => e.name).sort());
    for (const [name, spec] of exported) expect(spec).toMatchObject({ name });
    expect(etcdErrors.length).toBe(62);
  });

  it("has unique messages, all in etcd's 'etcdserver: ' form", () => {
    const messages = etcdErrors.map((e) => e.message);
    expect(new Set(messages).size).toBe(messages.length);
    for (const m of messages) expect(m).toMatch(/^etcdserver: \S/);
  });

  it("uses etcd v3.5's codes for the errors clients branch on", () => {
    const table = Object.fromEntries(etcdErrors.map((e) => [e.name, status[e.code]]));
    expect(table).toMatchObject({
      ErrCompacted: "OUT_OF_RANGE",
      ErrFutureRev: "OUT_OF_RANGE",
      ErrLeaseNotFound: "NOT_FOUND",
      ErrMemberNotFound: "NOT_FOUND",
      ErrNoSpace: "RESOURCE_EXHAUSTED",
      ErrTooManyRequests: "RESOURCE_EXHAUSTED",
      ErrPermissionDenied: "PERMISSION_DENIED",
      ErrInvalidAuthToken: "UNAUTHENTICATED",
      ErrNoLeader: "UNAVAILABLE",
      ErrNotLeader: "FAILED_PRECONDITION",
      ErrNotCapable: "UNAVAILABLE",
      ErrNotSupportedForLearner: "UNAVAILABLE",
      ErrCorrupt: "DATA_LOSS",
      ErrCanceled: "CANCELLED",
      ErrDeadlineExceeded: "DEADLINE_EXCEEDED",
      ErrRequestTooLarge: "INVALID_ARGUMENT",
    });
    expect(ErrCompacted).toEqual({
      name: "ErrCompacted",
      code: 11,
      message: "etcdserver: mvcc: required revision has been compacted",
    });
  });

  it("produces the messages the etcd3 client recognises", () => {
    expect(castGrpcErrorMessage(ErrLeaseNotFound.message)).toBeInstanceOf(EtcdLeaseInvalidError);
    expect(castGrpcErrorMessage(errors.ErrPermissionDenied.message)).toBeInstanceOf(
      EtcdPermissionDeniedError,
    );
  });
});

describe("EtcdError", () => {
  it("carries the code and exact text, for grpc-js to send as a status", () => {
    const cause = new Error("disk");
    const err = new EtcdError(ErrCompacted, { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ name: "EtcdError", code: 11, details: ErrCompacted.message });
    expect(err.message).toBe(ErrCompacted.message);
    expect(err.cause).toBe(cause);
    expect(err.spec).toBe(ErrCompacted);
    expect(err.is(ErrCompacted)).toBe(true);
    expect(isEtcdError(err, ErrLeaseNotFound)).toBe(false);
    expect(isEtcdError(err)).toBe(true);
    expect(isEtcdError(new Error(ErrCompacted.message))).toBe(false);
  });

  it("is rebuilt from a received status", () => {
    const known = etcdErrorFromStatus({ code: status.OUT_OF_RANGE, details: ErrCompacted.message });
    expect(known?.is(ErrCompacted)).toBe(true);
    const unknown = etcdErrorFromStatus({
      code: status.INTERNAL,
      details: "etcdserver: new thing",
    });
    expect(unknown).toMatchObject({ code: status.INTERNAL, message: "etcdserver: new thing" });
    expect(unknown?.spec).toBeUndefined();
    expect(etcdErrorFromStatus({ code: status.UNAVAILABLE, details: "connect ECONNREFUSED" })).toBe(
      undefined,
    );
    expect(findEtcdError("etcdserver: no leader")).toBe(errors.ErrNoLeader);
  });
});

describe("limits", () => {
  it("match etcd's defaults", () => {
    expect(DefaultMaxRequestBytes).toBe(1.5 * 1024 * 1024);
    expect(DefaultMaxTxnOps).toBe(128);
    expect(DefaultQuotaBackendBytes).toBe(2 ** 31);
  });
});
