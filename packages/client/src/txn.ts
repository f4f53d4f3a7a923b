/**
 * Transactions: compares, operations and a fluent builder.
 *
 * ```ts
 * const result = await client
 *   .txn()
 *   .if(compare.modRevision("config", "==", rev))
 *   .then(op.put("config", next), op.get("config"))
 *   .else(op.get("config"))
 *   .commit();
 * ```
 *
 * A transaction runs at one revision: either every operation of `then` (when every
 * compare holds) or every operation of `else`. Operations may be nested transactions.
 *
 * @module
 */
import { etcdserverpb } from "@chainfire/api";
import { type Key, type KeySelector, toBuffer, toWireRange, type Value } from "./bytes.js";
import {
  type DeleteOptions,
  type DeleteResult,
  deleteRequest,
  type Header,
  type PutOptions,
  type PutResult,
  putRequest,
  type RangeOptions,
  type RangeResult,
  rangeRequest,
  toDeleteResult,
  toHeader,
  toPutResult,
  toRangeResult,
} from "./kv.js";
import type { CallOptions } from "./transport.js";

/** A comparison operator. `"="` is the same as `"=="`. */
export type CompareOp = "==" | "=" | "!=" | ">" | "<";

/** What a compare looks at. */
export type CompareTarget = "value" | "version" | "create" | "mod" | "lease";

/** One compare of a transaction (build it with {@link compare}). */
export interface Compare {
  /** The wire message. */
  readonly message: etcdserverpb.Compare;
}

const results: Record<CompareOp, etcdserverpb.Compare_CompareResult> = {
  "==": etcdserverpb.Compare_CompareResult.EQUAL,
  "=": etcdserverpb.Compare_CompareResult.EQUAL,
  "!=": etcdserverpb.Compare_CompareResult.NOT_EQUAL,
  ">": etcdserverpb.Compare_CompareResult.GREATER,
  "<": etcdserverpb.Compare_CompareResult.LESS,
};

function makeCompare(
  selector: KeySelector,
  op: CompareOp,
  target: etcdserverpb.Compare_CompareTarget,
  targetUnion: etcdserverpb.Compare["targetUnion"],
): Compare {
  const result = results[op];
  if (result === undefined) throw new TypeError(`chainfire: unknown compare operator ${op}`);
  const { key, rangeEnd } = toWireRange(selector);
  return {
    message: etcdserverpb.Compare.fromPartial({ key, rangeEnd, result, target, targetUnion }),
  };
}

/**
 * Compare builders, one per target. The key may be a range (`{ prefix }`, ...): the
 * compare then holds when it holds for every key in it. A missing key has version,
 * create and mod revision and lease 0; a value compare on a missing key is false.
 */
export const compare = {
  /** The key's value. */
  value(key: KeySelector, op: CompareOp, value: Value): Compare {
    const T = etcdserverpb.Compare_CompareTarget.VALUE;
    return makeCompare(key, op, T, { $case: "value", value: toBuffer(value) });
  },
  /** The key's version (0 when missing). */
  version(key: KeySelector, op: CompareOp, version: number | bigint): Compare {
    const T = etcdserverpb.Compare_CompareTarget.VERSION;
    return makeCompare(key, op, T, { $case: "version", value: BigInt(version) });
  },
  /** The revision that created the key (0 when missing). */
  createRevision(key: KeySelector, op: CompareOp, revision: number | bigint): Compare {
    const T = etcdserverpb.Compare_CompareTarget.CREATE;
    return makeCompare(key, op, T, { $case: "createRevision", value: BigInt(revision) });
  },
  /** The revision that last modified the key (0 when missing). */
  modRevision(key: KeySelector, op: CompareOp, revision: number | bigint): Compare {
    const T = etcdserverpb.Compare_CompareTarget.MOD;
    return makeCompare(key, op, T, { $case: "modRevision", value: BigInt(revision) });
  },
  /** The key's lease (0 when none or missing). */
  lease(key: KeySelector, op: CompareOp, lease: bigint): Compare {
    const T = etcdserverpb.Compare_CompareTarget.LEASE;
    return makeCompare(key, op, T, { $case: "lease", value: lease });
  },
  /** The key exists (its create revision is above 0). */
  exists(key: Key): Compare {
    return compare.createRevision(key, ">", 0);
  },
  /** The key does not exist. */
  missing(key: Key): Compare {
    return compare.createRevision(key, "==", 0);
  },
  /** A compare by target name, as etcdctl's txn syntax writes it. */
  of(
    key: KeySelector,
    target: CompareTarget,
    op: CompareOp,
    operand: Value | number | bigint,
  ): Compare {
    switch (target) {
      case "value":
        if (typeof operand === "number" || typeof operand === "bigint") {
          return compare.value(key, op, String(operand));
        }
        return compare.value(key, op, operand);
      case "version":
        return compare.version(key, op, toBigint(operand));
      case "create":
        return compare.createRevision(key, op, toBigint(operand));
      case "mod":
        return compare.modRevision(key, op, toBigint(operand));
      case "lease":
        return compare.lease(key, op, toBigint(operand));
      default:
        throw new TypeError(`chainfire: unknown compare target ${String(target)}`);
    }
  },
};

function toBigint(v: Value | number | bigint): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "number") return BigInt(v);
  return BigInt(typeof v === "string" ? v : Buffer.from(v).toString("utf8"));
}

/** One operation of a transaction (build it with {@link op}). */
export interface Op {
  /** The wire message. */
  readonly message: etcdserverpb.RequestOp;
}

/** Operation builders. */
export const op = {
  /** Read one key. */
  get(key: Key, options?: RangeOptions): Op {
    const value = rangeRequest(key, options);
    return { message: { request: { $case: "requestRange", value } } };
  },
  /** Read a range of keys (default: every key). */
  getAll(selector: KeySelector = { all: true }, options?: RangeOptions): Op {
    const value = rangeRequest(selector, options);
    return { message: { request: { $case: "requestRange", value } } };
  },
  /** Write one key. */
  put(key: Key, value: Value, options?: PutOptions): Op {
    const request = putRequest(key, value, options);
    return { message: { request: { $case: "requestPut", value: request } } };
  },
  /** Delete a key or a range of keys. */
  delete(selector: KeySelector, options?: DeleteOptions): Op {
    const value = deleteRequest(selector, options);
    return { message: { request: { $case: "requestDeleteRange", value } } };
  },
  /** A nested transaction. */
  txn(txn: Txn): Op {
    return { message: { request: { $case: "requestTxn", value: txn.toRequest() } } };
  },
};

/** The result of one operation of a transaction, tagged by its kind. */
export type OpResult =
  | ({ type: "get" } & RangeResult)
  | ({ type: "put" } & PutResult)
  | ({ type: "delete" } & DeleteResult)
  | ({ type: "txn" } & TxnResult);

/** The result of a transaction. */
export interface TxnResult {
  header: Header;
  /** The revision after the transaction (unchanged if it wrote nothing). */
  revision: bigint;
  /** Whether every compare held (so `then` ran rather than `else`). */
  succeeded: boolean;
  /** One result per operation of the branch that ran, in order. */
  responses: OpResult[];
}

/** The SDK's form of a TxnResponse (sub-results carry the transaction's header). */
export function toTxnResult(r: etcdserverpb.TxnResponse, outer?: Header): TxnResult {
  const header = outer ?? toHeader(r.header);
  const responses = r.responses.map((resp): OpResult => {
    const x = resp.response;
    switch (x?.$case) {
      case "responseRange":
        return { type: "get", ...toRangeResult({ ...x.value, header: r.header }), header };
      case "responsePut":
        return { type: "put", ...toPutResult({ ...x.value, header: r.header }), header };
      case "responseDeleteRange":
        return { type: "delete", ...toDeleteResult({ ...x.value, header: r.header }), header };
      case "responseTxn":
        return { type: "txn", ...toTxnResult(x.value, header) };
      default:
        throw new TypeError("chainfire: transaction response without a result");
    }
  });
  return { header, revision: header.revision, succeeded: r.succeeded, responses };
}

/** Sends a built transaction (the client supplies it). */
export type TxnRunner = (
  request: etcdserverpb.TxnRequest,
  options?: CallOptions,
) => Promise<TxnResult>;

/**
 * A transaction being built: `.if(...compares)`, `.then(...ops)`, `.else(...ops)`,
 * then `.commit()`. Each method adds to what was given before. Awaiting the builder
 * itself commits it, so forgetting `.commit()` is harmless.
 */
export class Txn implements PromiseLike<TxnResult> {
  private readonly compares: Compare[] = [];
  private readonly success: Op[] = [];
  private readonly failure: Op[] = [];

  /** @param runner sends the transaction; a builder without one can only be nested. */
  constructor(private readonly runner?: TxnRunner) {}

  /** Adds compares; all of them must hold for `then` to run. */
  if(...compares: Compare[]): this;
  /** Adds one compare in etcd3's style: `.if("key", "value", "==", "v")`. */
  if(
    key: KeySelector,
    target: CompareTarget,
    op: CompareOp,
    operand: Value | number | bigint,
  ): this;
  if(...args: unknown[]): this {
    if (args.length === 4 && !isCompare(args[0])) {
      const [key, target, cmpOp, operand] = args as [KeySelector, CompareTarget, CompareOp, Value];
      this.compares.push(compare.of(key, target, cmpOp, operand));
    } else {
      for (const c of args) {
        if (!isCompare(c)) throw new TypeError("chainfire: txn.if() takes compares");
        this.compares.push(c);
      }
    }
    return this;
  }

  /** Adds operations to run when every compare holds. */
  // biome-ignore lint/suspicious/noThenProperty: the builder is deliberately awaitable (see class comment).
  then(...ops: Op[]): this;
  /** Commits the transaction (so that `await builder` works as `await builder.commit()`). */
  // biome-ignore lint/suspicious/noThenProperty: the builder is deliberately awaitable (see class comment).
  then<R1 = TxnResult, R2 = never>(
    onfulfilled?: ((value: TxnResult) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): PromiseLike<R1 | R2>;
  // biome-ignore lint/suspicious/noThenProperty: the builder is deliberately awaitable (see class comment).
  then(...args: unknown[]): unknown {
    if (
      args.length > 0 &&
      args.every((a) => typeof a === "function" || a == null) &&
      args.some((a) => typeof a === "function")
    ) {
      const [onfulfilled, onrejected] = args as [
        ((value: TxnResult) => unknown) | null | undefined,
        ((reason: unknown) => unknown) | null | undefined,
      ];
      return this.commit().then(onfulfilled ?? undefined, onrejected ?? undefined);
    }
    for (const o of args) {
      if (!isOp(o)) throw new TypeError("chainfire: txn.then() takes operations");
      this.success.push(o);
    }
    return this;
  }

  /** Adds operations to run when some compare fails. */
  else(...ops: Op[]): this {
    for (const o of ops) {
      if (!isOp(o)) throw new TypeError("chainfire: txn.else() takes operations");
      this.failure.push(o);
    }
    return this;
  }

  /** The wire request. */
  toRequest(): etcdserverpb.TxnRequest {
    return etcdserverpb.TxnRequest.fromPartial({
      compare: this.compares.map((c) => c.message),
      success: this.success.map((o) => o.message),
      failure: this.failure.map((o) => o.message),
    });
  }

  /** Sends the transaction. A transaction is a write: it is never sent twice. */
  commit(options?: CallOptions): Promise<TxnResult> {
    if (!this.runner) {
      return Promise.reject(new TypeError("chainfire: this txn can only be nested (op.txn)"));
    }
    return this.runner(this.toRequest(), options);
  }
}

function isCompare(x: unknown): x is Compare {
  return (
    typeof x === "object" && x !== null && "message" in x && "target" in (x as Compare).message
  );
}

function isOp(x: unknown): x is Op {
  return typeof x === "object" && x !== null && "message" in x && "request" in (x as Op).message;
}

/** A transaction builder that can only be nested in another with `op.txn`. */
export function nestedTxn(): Txn {
  return new Txn();
}
