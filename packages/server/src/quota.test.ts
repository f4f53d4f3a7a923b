import { etcdserverpb } from "@chainfire/api";
import { describe, expect, it } from "vitest";
import { BackendQuota, KV_OVERHEAD, LEASE_OVERHEAD, NoSpaceGuard, requestCost } from "./quota.js";

const b = (n: number) => Buffer.alloc(n);
const put = (k: number, v: number) =>
  etcdserverpb.PutRequest.fromPartial({ key: b(k), value: b(v) });
const opPut = (k: number, v: number): etcdserverpb.RequestOp => ({
  request: { $case: "requestPut", value: put(k, v) },
});

describe("requestCost", () => {
  it("charges puts, txns with puts (the larger branch, nested too) and lease grants", () => {
    expect(requestCost({ $case: "put", value: put(3, 10) })).toBe(13 + KV_OVERHEAD);
    const txn = etcdserverpb.TxnRequest.fromPartial({
      success: [opPut(1, 1), opPut(1, 1)],
      failure: [
        {
          request: {
            $case: "requestTxn",
            value: etcdserverpb.TxnRequest.fromPartial({ success: [opPut(10, 1000)] }),
          },
        },
      ],
    });
    expect(requestCost({ $case: "txn", value: txn })).toBe(1010 + KV_OVERHEAD);
    expect(requestCost({ $case: "leaseGrant", value: { TTL: 5n, ID: 0n } })).toBe(LEASE_OVERHEAD);
  });

  it("charges nothing for what cannot grow the store", () => {
    const readonly = etcdserverpb.TxnRequest.fromPartial({
      success: [{ request: { $case: "requestRange", value: { key: b(1) } } }],
    });
    expect(requestCost({ $case: "txn", value: readonly })).toBe(0);
    const del = etcdserverpb.DeleteRangeRequest.fromPartial({ key: b(1) });
    expect(requestCost({ $case: "deleteRange", value: del })).toBe(0);
    expect(requestCost({ $case: "compaction", value: { revision: 1n, physical: false } })).toBe(0);
    expect(requestCost({ $case: "leaseRevoke", value: { ID: 1n } })).toBe(0);
  });
});

describe("BackendQuota", () => {
  it("compares the cached size plus the cost with the quota; refreshes after refreshMs", () => {
    let size = 900;
    let now = 0;
    let reads = 0;
    const q = new BackendQuota(
      {
        backendSize: () => {
          reads++;
          return size;
        },
        now: () => now,
      },
      1000,
      100,
    );
    expect(q.available(100)).toBe(true);
    expect(q.available(101)).toBe(false);
    expect(q.available(0)).toBe(true);
    expect(q.exceeded()).toBe(false);
    size = 2000;
    expect(q.exceeded()).toBe(false); // cached
    now = 100;
    expect(q.exceeded()).toBe(true);
    size = 10;
    q.invalidate();
    expect(q.exceeded()).toBe(false);
    expect(reads).toBe(3);
  });

  it("is disabled by a quota of 0 or less, and keeps the last size when reading fails", () => {
    const off = new BackendQuota({ backendSize: () => 1e12, now: () => 0 }, 0);
    expect(off.available(1e9)).toBe(true);
    expect(off.exceeded()).toBe(false);
    let fail = false;
    let now = 0;
    const q = new BackendQuota(
      {
        backendSize: () => {
          if (fail) throw new Error("reopening");
          return 50;
        },
        now: () => now,
      },
      100,
      10,
    );
    expect(q.size()).toBe(50);
    fail = true;
    now = 20;
    expect(q.size()).toBe(50);
  });
});

describe("NoSpaceGuard", () => {
  it("refuses growing requests over the quota after raising the alarm once; then by the alarm", async () => {
    const alarms: etcdserverpb.AlarmMember[] = [];
    const proposed: etcdserverpb.AlarmRequest[] = [];
    const stop = new AbortController();
    const guard = new NoSpaceGuard(
      {
        id: 7n,
        alarms: (type) => alarms.filter((a) => a.alarm === type),
        proposeAlarm: async (req) => {
          proposed.push(req);
          alarms.push({ memberID: req.memberID, alarm: req.alarm });
        },
        stopping: stop.signal,
        logger: { warn() {} },
      },
      new BackendQuota({ backendSize: () => 1000, now: () => 0 }, 1000),
      1000,
    );
    const del = etcdserverpb.DeleteRangeRequest.fromPartial({ key: b(1) });
    expect(guard.check({ $case: "deleteRange", value: del })).toBeUndefined();
    const p1 = guard.check({ $case: "put", value: put(1, 1) });
    const p2 = guard.check({ $case: "put", value: put(1, 1) });
    await expect(p1).rejects.toMatchObject({
      message: "etcdserver: mvcc: database space exceeded",
    });
    await expect(p2).rejects.toMatchObject({
      message: "etcdserver: mvcc: database space exceeded",
    });
    expect(proposed).toHaveLength(1); // one alarm, shared by both
    expect(proposed[0]).toMatchObject({ memberID: 7n, alarm: etcdserverpb.AlarmType.NOSPACE });
    guard.afterApply(); // already raised: nothing more
    expect(proposed).toHaveLength(1);
    await expect(guard.check({ $case: "leaseGrant", value: { TTL: 5n, ID: 0n } })).rejects.toThrow(
      "etcdserver: mvcc: database space exceeded",
    );
  });
});
