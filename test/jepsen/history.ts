/**
 * The client history of one run: every operation a client issued, with its invoke and
 * complete times read from one monotonic clock (`performance.now()` in the harness
 * process, milliseconds since the run began) and its outcome.
 *
 * Outcomes follow Jepsen: `ok` (the server answered success), `fail` (the operation
 * certainly did not take effect: a read that failed, or a request that never reached a
 * member), `unknown` (a write that timed out or lost its connection: it may or may not
 * have taken effect, at any time after its invoke). Clients never retry writes.
 *
 * Revisions are plain numbers here: a test cluster never writes 2^53 revisions.
 */

/** Operation kinds of the KV workloads. */
export type OpKind = "get" | "put" | "cas" | "del";

/** How an operation ended. */
export type OpStatus = "ok" | "fail" | "unknown";

/** One client operation on one key. */
export interface Op {
  /** Unique within the history, in invoke order. */
  id: number;
  /** The logical client (a sequential process) that issued it. */
  client: number;
  /** Index of the member it was sent to. */
  member: number;
  f: OpKind;
  key: string;
  /** put/cas: the value written (unique per key within a history). */
  value?: string;
  /** cas: the expected mod_revision (Txn compare MOD(key) == expect; 0 = absent). */
  expect?: number;
  /** Milliseconds since the run began, monotonic. */
  invoke: number;
  /** Milliseconds since the run began; absent while in flight and for unknown ops. */
  complete?: number;
  status: OpStatus;
  /** Header revision of the response (ok and cas-failed responses). */
  rev?: number;
  /** get, and a cas whose compare failed: the value read (null: key absent). */
  read?: string | null;
  /** get, and a cas whose compare failed: mod_revision read (0: key absent). */
  readModRev?: number;
  /** cas: whether the compare succeeded. */
  succeeded?: boolean;
  /** del: number of keys deleted. */
  deleted?: number;
  /** Error text of fail/unknown outcomes. */
  error?: string;
}

/** A fault window: what the nemesis did, from when to when (same clock as ops). */
export interface FaultWindow {
  name: string;
  /** Human-readable detail: which members, which rule. */
  detail: string;
  start: number;
  /** Absent when the fault was never healed (a bug in the run; reported). */
  end?: number;
}

/** Whether `op` is a write (put, cas, del). */
export function isWrite(op: Op): boolean {
  return op.f !== "get";
}

/** Whether the operation certainly took effect and wrote (ok put/del, successful cas). */
export function wroteOk(op: Op): boolean {
  if (op.status !== "ok") return false;
  if (op.f === "put") return true;
  if (op.f === "cas") return op.succeeded === true;
  if (op.f === "del") return (op.deleted ?? 0) > 0;
  return false;
}

/** One line describing `op`, for checker explanations. */
export function describeOp(op: Op): string {
  const time = `[${op.invoke.toFixed(1)}, ${op.complete === undefined ? "∞" : op.complete.toFixed(1)}]`;
  const head = `#${op.id} c${op.client}@n${op.member + 1} ${time}`;
  const out = (() => {
    if (op.status !== "ok") return `${op.status}${op.error ? ` (${op.error})` : ""}`;
    switch (op.f) {
      case "get":
        return `→ ${JSON.stringify(op.read)} mod=${op.readModRev} rev=${op.rev}`;
      case "put":
        return `→ rev=${op.rev}`;
      case "del":
        return `→ deleted=${op.deleted} rev=${op.rev}`;
      case "cas":
        return op.succeeded
          ? `→ ok rev=${op.rev}`
          : `→ failed, read ${JSON.stringify(op.read)} mod=${op.readModRev} rev=${op.rev}`;
    }
  })();
  const args =
    op.f === "get" || op.f === "del"
      ? op.key
      : op.f === "put"
        ? `${op.key}=${op.value}`
        : `${op.key} if mod==${op.expect} then =${op.value}`;
  return `${head} ${op.f}(${args}) ${out}`;
}
