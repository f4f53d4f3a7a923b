import { EtcdError, etcdErrors, isEtcdError } from "@chainfire/api";
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { backoffDelay, sleep } from "./backoff.js";
import {
  AbortError,
  CompactedError,
  DeadlineExceededError,
  errorClassFor,
  fromStatus,
  LeaseNotFoundError,
  NoLeaderError,
  OtherStatusError,
  OutOfRangeError,
  PermissionDeniedError,
  UnavailableError,
} from "./errors.js";

describe("typed errors", () => {
  it("maps every etcd error to a class with etcd's code and exact message", () => {
    for (const spec of etcdErrors) {
      const err = fromStatus({ code: spec.code, details: spec.message });
      expect(err).toBeInstanceOf(errorClassFor(spec));
      expect(err).toBeInstanceOf(EtcdError);
      expect(err.message).toBe(spec.message);
      expect(err.code).toBe(spec.code);
      expect(isEtcdError(err, spec)).toBe(true);
    }
  });

  it("gives the applications' errors their own classes", () => {
    const of = (message: string) => fromStatus({ code: status.UNKNOWN, details: message });
    expect(of("etcdserver: mvcc: required revision has been compacted")).toBeInstanceOf(
      CompactedError,
    );
    expect(of("etcdserver: mvcc: required revision has been compacted")).toBeInstanceOf(
      OutOfRangeError,
    );
    expect(of("etcdserver: requested lease not found")).toBeInstanceOf(LeaseNotFoundError);
    expect(of("etcdserver: no leader")).toBeInstanceOf(NoLeaderError);
    expect(of("etcdserver: no leader")).toBeInstanceOf(UnavailableError);
    expect(of("etcdserver: permission denied")).toBeInstanceOf(PermissionDeniedError);
  });

  it("types transport errors by code and names the endpoint", () => {
    const e = fromStatus(
      { code: status.UNAVAILABLE, details: "No connection established" },
      "http://a:1",
    );
    expect(e).toBeInstanceOf(UnavailableError);
    expect(e.message).toBe("http://a:1: No connection established");
    expect(
      fromStatus({ code: status.DEADLINE_EXCEEDED, details: "Deadline exceeded" }),
    ).toBeInstanceOf(DeadlineExceededError);
    expect(fromStatus({ code: status.INTERNAL, details: "boom" })).toBeInstanceOf(OtherStatusError);
    // Unknown etcd text keeps its code.
    const unknown = fromStatus({ code: status.UNAVAILABLE, details: "etcdserver: something new" });
    expect(unknown).toBeInstanceOf(UnavailableError);
    expect(unknown.spec).toBeUndefined();
  });

  it("backs off exponentially with full jitter, capped", () => {
    expect(backoffDelay(0, {}, () => 0.999)).toBeLessThan(50);
    expect(backoffDelay(3, {}, () => 0.999)).toBe(399);
    expect(backoffDelay(30, {}, () => 0.999)).toBe(1998);
    expect(backoffDelay(5, { initialMs: 10, maxMs: 100 }, () => 0.5)).toBe(50);
    expect(backoffDelay(5, {}, () => 0)).toBe(0);
  });

  it("sleep rejects with AbortError on abort", async () => {
    const c = new AbortController();
    const p = sleep(60_000, c.signal);
    c.abort("why");
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).cause).toBe("why");
  });
});
