/**
 * Records a run: every client operation with invoke/complete times and every fault
 * window, all read from one monotonic clock (`performance.now()`, milliseconds since the
 * recorder was created). Clients call {@link Recorder.invoke} before sending a request
 * and {@link Recorder.ok}/{@link Recorder.fail}/{@link Recorder.unknown} when it ends.
 */
import { performance } from "node:perf_hooks";
import type { FaultWindow, Op } from "./history.js";

/** The fields a client supplies when it invokes an operation. */
export type Invocation = Pick<Op, "client" | "member" | "f" | "key" | "value" | "expect">;

/** The response fields of an ok operation. */
export type Completion = Pick<Op, "rev" | "read" | "readModRev" | "succeeded" | "deleted">;

export class Recorder {
  readonly ops: Op[] = [];
  readonly faults: FaultWindow[] = [];
  /** Free-form events (leader changes seen, restarts, skipped checks), timestamped. */
  readonly events: { at: number; message: string }[] = [];
  private readonly origin = performance.now();

  /** Milliseconds since the recorder was created. */
  now(): number {
    return performance.now() - this.origin;
  }

  invoke(invocation: Invocation): Op {
    const op: Op = { id: this.ops.length, ...invocation, invoke: this.now(), status: "unknown" };
    this.ops.push(op);
    return op;
  }

  ok(op: Op, completion: Completion): void {
    Object.assign(op, completion);
    op.complete = this.now();
    op.status = "ok";
  }

  /** The operation certainly did not take effect. */
  fail(op: Op, error: string): void {
    op.complete = this.now();
    op.status = "fail";
    op.error = error;
  }

  /** The outcome is unknown; the operation stays open (no completion time). */
  unknown(op: Op, error: string): void {
    op.status = "unknown";
    op.error = error;
  }

  /** Opens a fault window; call the returned function when the fault is healed. */
  fault(name: string, detail: string): () => void {
    const window: FaultWindow = { name, detail, start: this.now() };
    this.faults.push(window);
    return () => {
      window.end ??= this.now();
    };
  }

  event(message: string): void {
    this.events.push({ at: this.now(), message });
  }
}
