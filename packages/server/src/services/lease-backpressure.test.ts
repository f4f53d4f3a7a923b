/**
 * LeaseKeepAlive against a client that does not read: the stream stops taking requests
 * while gRPC holds unsent answers (before, answers piled up in the member without bound:
 * 400,000 unread keep-alives grew a member from 100 MB to 670 MB RSS).
 */
import { EventEmitter } from "node:events";
import { etcdserverpb } from "@chainfire/api";
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { MemberContext } from "../member-context.js";
import { leaseService } from "./lease.js";

/** The parts of a grpc-js duplex call the keep-alive handler uses. */
class FakeCall extends EventEmitter {
  cancelled = false;
  destroyed = false;
  writableEnded = false;
  paused = false;
  /** What write() returns: false = gRPC's buffer is full. */
  accepting = true;
  readonly written: etcdserverpb.LeaseKeepAliveResponse[] = [];
  write(res: etcdserverpb.LeaseKeepAliveResponse): boolean {
    this.written.push(res);
    return this.accepting;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  end(): void {
    this.writableEnded = true;
  }
}

/** Lets queued promise callbacks run (the handler's loop awaits between answers). */
const flush = () => new Promise<void>((r) => setImmediate(r));

describe("LeaseKeepAlive backpressure", () => {
  it("answers nothing more while gRPC's buffer is full, and goes on after 'drain'", async () => {
    const ctx = {
      logger: pino({ level: "silent" }),
      stopping: new AbortController().signal,
      header: () => etcdserverpb.ResponseHeader.fromPartial({ revision: 1n }),
      lessor: { keepAlive: async () => 10n },
    } as unknown as MemberContext;
    const call = new FakeCall();
    leaseService(ctx).leaseKeepAlive(call as never);
    call.accepting = false;
    for (let i = 1; i <= 200; i++) call.emit("data", { ID: BigInt(i) });
    await flush();
    await flush();
    // One answer was handed to gRPC and not taken: nothing else is answered, and reading
    // stopped once the request queue filled up.
    expect(call.written.length).toBe(1);
    expect(call.paused).toBe(true);
    call.accepting = true;
    call.emit("drain");
    for (let i = 0; i < 20 && call.written.length < 200; i++) await flush();
    expect(call.written.map((r) => r.ID)).toEqual(
      Array.from({ length: 200 }, (_, i) => BigInt(i + 1)),
    );
  });
});
