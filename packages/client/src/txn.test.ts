import { etcdserverpb } from "@chainfire/api";
import { describe, expect, it } from "vitest";
import { AsyncQueue } from "./async-queue.js";
import { Emitter, once } from "./events.js";
import { compare, nestedTxn, op, Txn } from "./txn.js";

const { Compare_CompareResult: R, Compare_CompareTarget: T } = etcdserverpb;

describe("transaction builder", () => {
  it("builds compares for every target and operator", () => {
    const c = (x: { message: etcdserverpb.Compare }) => [
      x.message.target,
      x.message.result,
      x.message.targetUnion,
    ];
    expect(c(compare.value("k", "==", "v"))).toEqual([
      T.VALUE,
      R.EQUAL,
      { $case: "value", value: Buffer.from("v") },
    ]);
    expect(c(compare.version("k", ">", 2))).toEqual([
      T.VERSION,
      R.GREATER,
      { $case: "version", value: 2n },
    ]);
    expect(c(compare.createRevision("k", "<", 3n))).toEqual([
      T.CREATE,
      R.LESS,
      { $case: "createRevision", value: 3n },
    ]);
    expect(c(compare.modRevision("k", "!=", 4))).toEqual([
      T.MOD,
      R.NOT_EQUAL,
      { $case: "modRevision", value: 4n },
    ]);
    expect(c(compare.lease("k", "=", 5n))).toEqual([
      T.LEASE,
      R.EQUAL,
      { $case: "lease", value: 5n },
    ]);
    expect(compare.version({ prefix: "p/" }, ">", 0).message.rangeEnd.toString()).toBe("p0");
    expect(c(compare.of("k", "mod", "==", "9"))).toEqual([
      T.MOD,
      R.EQUAL,
      { $case: "modRevision", value: 9n },
    ]);
    expect(() => compare.value("k", "~" as never, "v")).toThrow(TypeError);
  });

  it("builds requests with nested transactions, both branches and the etcd3-style if", () => {
    const t = new Txn()
      .if(compare.exists("a"))
      .if("b", "value", "==", "x")
      .then(
        op.put("a", "1", { lease: 7n, prevKv: true }),
        op.txn(nestedTxn().then(op.delete({ prefix: "d/" }))),
      )
      .else(
        op.get("a", { serializable: true }),
        op.getAll({ prefix: "p/" }, { limit: 5, sort: { target: "mod" } }),
      );
    const r = t.toRequest();
    expect(r.compare).toHaveLength(2);
    expect(r.success.map((o) => o.request?.$case)).toEqual(["requestPut", "requestTxn"]);
    expect(r.failure.map((o) => o.request?.$case)).toEqual(["requestRange", "requestRange"]);
    const range =
      r.failure[1].request?.$case === "requestRange" ? r.failure[1].request.value : undefined;
    expect(range?.limit).toBe(5n);
    expect(range?.sortOrder).toBe(etcdserverpb.RangeRequest_SortOrder.ASCEND); // a target implies ascending
    // It round-trips through the wire encoding.
    expect(etcdserverpb.TxnRequest.decode(etcdserverpb.TxnRequest.encode(r).finish())).toEqual(r);
  });

  it("refuses a commit without a client and wrong arguments", async () => {
    await expect(nestedTxn().commit()).rejects.toThrow(TypeError);
    expect(() => new Txn().if("x" as never)).toThrow(TypeError);
    expect(() => new Txn().then({} as never)).toThrow(TypeError);
  });
});

describe("small building blocks", () => {
  it("AsyncQueue delivers values, then the end or the error once", async () => {
    const q = new AsyncQueue<number>();
    const first = q.next(); // waits
    q.push(1);
    q.push(2);
    q.end(new Error("boom"));
    q.push(3); // ignored after end
    expect(await first).toEqual({ value: 1, done: false });
    expect(await q.next()).toEqual({ value: 2, done: false });
    await expect(q.next()).rejects.toThrow("boom");
    expect(await q.next()).toEqual({ value: undefined, done: true });
  });

  it("Emitter delivers to listeners until disposed, and once() resolves", async () => {
    const e = new Emitter<number>();
    const got: number[] = [];
    const sub = e.event((v) => got.push(v));
    const first = once(e.event);
    e.fire(1);
    sub.dispose();
    e.fire(2);
    expect(got).toEqual([1]);
    expect(await first).toBe(1);
    expect(e.hasListeners).toBe(false);
  });
});
