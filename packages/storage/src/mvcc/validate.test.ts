import { describe, expect, it } from "vitest";
import { isStorageError } from "../errors.js";
import { FROM_KEY } from "../keys.js";
import type { RequestOp, TxnRequest } from "./types.js";
import { checkIntervals, checkTxnRequest, isTxnReadonly } from "./validate.js";

const b = (s: string) => Buffer.from(s);
const put = (k: string): RequestOp => ({ request: { $case: "requestPut", value: { key: b(k) } } });
const del = (k: string, end?: string | Uint8Array): RequestOp => ({
  request: {
    $case: "requestDeleteRange",
    value: {
      key: b(k),
      ...(end === undefined ? {} : { rangeEnd: typeof end === "string" ? b(end) : end }),
    },
  },
});
const get = (k: string): RequestOp => ({
  request: { $case: "requestRange", value: { key: b(k) } },
});
const txn = (success: RequestOp[], failure: RequestOp[] = []): RequestOp => ({
  request: { $case: "requestTxn", value: { success, failure } },
});

function dup(ops: RequestOp[]): boolean {
  try {
    checkIntervals(ops);
    return false;
  } catch (e) {
    if (isStorageError(e, "ErrDuplicateKey")) return true;
    throw e;
  }
}

describe("checkIntervals (etcd's duplicate-key rules)", () => {
  it.each([
    ["two puts of one key", [put("a"), put("a")], true],
    ["puts of different keys", [put("a"), put("b")], false],
    ["a put and a delete of one key", [put("a"), del("a")], true],
    ["a put inside a delete range", [del("a", "c"), put("b")], true],
    ["a put at a delete range's end", [del("a", "c"), put("c")], false],
    ["overlapping deletes", [del("a", "c"), del("b", "d")], false],
    ["a put next to a \\0-ended delete (not caught)", [del("a", FROM_KEY), put("b")], false],
    ["a put next to an inverted delete range", [del("c", "a"), put("b")], false],
    ["ranges never conflict", [get("a"), put("a"), get("a")], false],
    ["a nested put repeating an outer put", [put("a"), txn([put("a")])], true],
    ["a nested put inside an outer delete", [del("a", "c"), txn([], [put("b")])], true],
    ["an outer put inside a nested delete", [txn([del("a", "c")]), put("b")], true],
    ["then and else may repeat a key", [txn([put("a")], [put("a")])], false],
    ["two nested txns putting one key", [txn([put("a")]), txn([], [put("a")])], true],
    [
      "an earlier nested delete vs a later nested put",
      [txn([del("a", "c")]), txn([put("b")])],
      true,
    ],
    [
      "an earlier nested put vs a later nested delete (not caught)",
      [txn([put("b")]), txn([del("a", "c")])],
      false,
    ],
  ] as [string, RequestOp[], boolean][])("%s", (_name, ops, expected) => {
    expect(dup(ops)).toBe(expected);
  });
});

describe("checkTxnRequest", () => {
  const err = (t: TxnRequest) => {
    try {
      checkTxnRequest(t);
      return "ok";
    } catch (e) {
      return isStorageError(e) ? e.errorName : String(e);
    }
  };
  it("counts the longest of compare, success and failure against 128", () => {
    const ops = (n: number) => Array.from({ length: n }, (_, i) => get(`k${i}`));
    expect(err({ success: ops(128), failure: ops(128) })).toBe("ok");
    expect(err({ success: ops(129) })).toBe("ErrTooManyOps");
    expect(err({ failure: ops(129) })).toBe("ErrTooManyOps");
    // a nested txn gets 128 minus its parent's count
    expect(err({ success: [...ops(63), txn(ops(64))] })).toBe("ok");
    expect(err({ success: [...ops(63), txn(ops(65))] })).toBe("ErrTooManyOps");
  });
  it("checks keys and ops, then intervals", () => {
    expect(err({ compare: [{ key: b(""), target: 0, result: 0 }] })).toBe("ErrEmptyKey");
    expect(err({ success: [{ request: undefined }] })).toBe("ErrKeyNotFound");
    expect(err({ success: [put("a")], failure: [put("a")] })).toBe("ok");
    expect(err({ failure: [put("a"), put("a")] })).toBe("ErrDuplicateKey");
  });
  it("knows a read-only txn", () => {
    expect(isTxnReadonly({ success: [get("a")], failure: [get("b")] })).toBe(true);
    expect(isTxnReadonly({ success: [get("a")], failure: [put("b")] })).toBe(false);
    expect(isTxnReadonly({ success: [txn([get("a")])] })).toBe(false);
  });
});
