import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  ErrCompacted,
  ErrLeaseNotFound,
  ErrLeaseTTLTooLarge,
  type EtcdError,
  etcdserverpb,
  internalpb,
} from "@chainfire/api";
import { type Entry, EntryType } from "@chainfire/raft";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { testLogger } from "../__tests__/cluster.js";
import { closeStorage, type MemberStorage, openStorage } from "../bootstrap.js";
import { type ApplyEnv, type ApplyOutput, applyEntries, applyEntriesSteps } from "./applier.js";

const b = (s: string) => Buffer.from(s);
let index = 0;

function entry(request: internalpb.InternalRequest["request"], id = BigInt(index + 1)): Entry {
  index++;
  return {
    index,
    term: 2,
    type: EntryType.Normal,
    data: internalpb.InternalRequest.encode({
      header: { id, username: "", authRevision: 0n },
      request,
    }).finish(),
  };
}

describe("applyEntries", () => {
  let dir: string;
  let s: MemberStorage;
  let env: ApplyEnv;
  const warnings: string[] = [];

  beforeEach(async () => {
    index = 0;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "chainfire-apply-"));
    s = await openStorage(path.join(dir, "db"), testLogger("apply"));
    env = {
      meta: s.meta,
      leases: s.leases,
      alarms: s.alarms,
      header: (revision) => ({ clusterId: 1n, memberId: 2n, revision, raftTerm: 2n }),
      applyConfChange: () => {
        throw new Error("no conf changes here");
      },
      warn: (_o, msg) => warnings.push(msg),
      minLeaseTtl: 2,
    };
  });
  afterEach(async () => {
    await closeStorage(s);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Applies `entries` in one write, as the driver does, and writes the batch. */
  async function apply(entries: Entry[]): Promise<ApplyOutput> {
    const w = s.store.beginWrite();
    const out = applyEntries(env, w, entries);
    await w.commit({ sync: false });
    s.meta.commit(w.batch);
    s.leases.commit(w.batch);
    return out;
  }

  const value = (out: ApplyOutput, i: number) => {
    const o = out.outcomes[i].outcome;
    if (!o.ok) throw o.error;
    return o.value;
  };
  const error = (out: ApplyOutput, i: number) => {
    const o = out.outcomes[i].outcome;
    if (o.ok) throw new Error("expected an error");
    return o.error as EtcdError;
  };

  it("applies a run of requests in one write, one revision each, with full headers", async () => {
    const out = await apply([
      entry({
        $case: "put",
        value: {
          key: b("a"),
          value: b("1"),
          lease: 0n,
          prevKv: false,
          ignoreValue: false,
          ignoreLease: false,
        },
      }),
      { index: ++index, term: 2, type: EntryType.Normal, data: new Uint8Array(0) }, // no-op
      entry({
        $case: "put",
        value: {
          key: b("a"),
          value: b("2"),
          lease: 0n,
          prevKv: true,
          ignoreValue: false,
          ignoreLease: false,
        },
      }),
      entry({
        $case: "deleteRange",
        value: { key: b("zzz"), rangeEnd: Buffer.alloc(0), prevKv: false },
      }),
    ]);
    expect(out.requests).toBe(3);
    expect(out.last).toEqual({ index: 4, term: 2 });
    expect(s.meta.appliedIndex).toBe(4);
    const p1 = value(out, 0) as etcdserverpb.PutResponse;
    const p2 = value(out, 1) as etcdserverpb.PutResponse;
    expect(p1.header).toEqual({ clusterId: 1n, memberId: 2n, revision: 2n, raftTerm: 2n });
    expect(p2.header?.revision).toBe(3n);
    expect(p2.prevKv?.value.toString()).toBe("1");
    const d = value(out, 2) as etcdserverpb.DeleteRangeResponse;
    expect(d.deleted).toBe(0n);
    expect(d.header?.revision).toBe(3n);
    expect(s.store.revision).toBe(3n);
  });

  it("skips entries at or below the applied index and ones that do not decode", async () => {
    const put = (v: string) =>
      entry({
        $case: "put",
        value: {
          key: b("k"),
          value: b(v),
          lease: 0n,
          prevKv: false,
          ignoreValue: false,
          ignoreLease: false,
        },
      });
    const first = [put("1"), put("2")];
    await apply(first);
    const rev = s.store.revision;
    const again = await apply(first); // re-delivered after a restart
    expect(again.outcomes).toEqual([]);
    expect(s.store.revision).toBe(rev);
    const junk: Entry = {
      index: ++index,
      term: 2,
      type: EntryType.Normal,
      data: Buffer.from([0xff, 0xff, 0xff]),
    };
    const out = await apply([junk, put("3")]);
    expect(warnings).toContain("skipping a log entry that does not decode");
    expect(out.outcomes.length).toBe(1);
    expect(s.meta.appliedIndex).toBe(index);
  });

  it("turns expected failures into errors that change nothing", async () => {
    const out = await apply([
      entry({
        $case: "put",
        value: {
          key: b("x"),
          value: b("1"),
          lease: 77n,
          prevKv: false,
          ignoreValue: false,
          ignoreLease: false,
        },
      }),
      entry({ $case: "compaction", value: { revision: 1n, physical: false } }),
      entry({ $case: "compaction", value: { revision: 1n, physical: false } }),
      entry({ $case: "leaseRevoke", value: { ID: 5n } }),
      entry({ $case: "leaseGrant", value: { ID: 6n, TTL: 9_000_000_001n } }),
    ]);
    expect(error(out, 0).message).toBe(ErrLeaseNotFound.message);
    expect(out.compacted).toBe(true);
    expect(error(out, 2).message).toBe(ErrCompacted.message);
    expect(error(out, 3).message).toBe(ErrLeaseNotFound.message);
    expect(error(out, 4).message).toBe(ErrLeaseTTLTooLarge.message);
    expect(s.store.revision).toBe(1n);
    expect(s.leases.size).toBe(0);
  });

  it("grants a lease (at least the minimum TTL) and revoking it deletes its keys", async () => {
    const out = await apply([
      entry({ $case: "leaseGrant", value: { ID: 9n, TTL: 1n } }),
      entry({
        $case: "put",
        value: {
          key: b("l1"),
          value: b("v"),
          lease: 9n,
          prevKv: false,
          ignoreValue: false,
          ignoreLease: false,
        },
      }),
      entry({
        $case: "put",
        value: {
          key: b("l2"),
          value: b("v"),
          lease: 9n,
          prevKv: false,
          ignoreValue: false,
          ignoreLease: false,
        },
      }),
    ]);
    expect((value(out, 0) as etcdserverpb.LeaseGrantResponse).TTL).toBe(2n);
    const rev = s.store.revision;
    const r = await apply([entry({ $case: "leaseRevoke", value: { ID: 9n } })]);
    expect((value(r, 0) as etcdserverpb.LeaseRevokeResponse).header?.revision).toBe(rev + 1n);
    expect(s.store.range({ key: b("l"), rangeEnd: b("m") }).count).toBe(0n);
    expect(s.leases.has(9n)).toBe(false);
  });

  it("refuses what grows the store while a NOSPACE alarm is active (etcd's capped applier)", async () => {
    const A = etcdserverpb.AlarmRequest_AlarmAction;
    const nospace = (action: etcdserverpb.AlarmRequest_AlarmAction) =>
      entry({
        $case: "alarm",
        value: { action, memberID: 7n, alarm: etcdserverpb.AlarmType.NOSPACE },
      });
    await apply([
      entry({ $case: "put", value: etcdserverpb.PutRequest.fromPartial({ key: b("q") }) }),
    ]);
    const rev = s.store.revision;
    const put = etcdserverpb.PutRequest.fromPartial({ key: b("q2"), value: b("v") });
    const r = await apply([
      nospace(A.ACTIVATE),
      entry({ $case: "put", value: put }),
      entry({
        $case: "txn",
        value: etcdserverpb.TxnRequest.fromPartial({
          failure: [{ request: { $case: "requestPut", value: put } }],
        }),
      }),
      entry({ $case: "leaseGrant", value: { TTL: 10n, ID: 5n } }),
      entry({
        $case: "txn",
        value: etcdserverpb.TxnRequest.fromPartial({
          success: [{ request: { $case: "requestRange", value: { key: b("q") } } }],
        }),
      }),
      entry({
        $case: "deleteRange",
        value: etcdserverpb.DeleteRangeRequest.fromPartial({ key: b("q") }),
      }),
    ]);
    for (const i of [1, 2, 3]) {
      expect(error(r, i).message).toBe("etcdserver: mvcc: database space exceeded");
    }
    expect((value(r, 4) as etcdserverpb.TxnResponse).succeeded).toBe(true);
    expect(s.store.revision).toBe(rev + 1n); // only the delete wrote
    expect(s.leases.has(5n)).toBe(false);
    const after = await apply([nospace(A.DEACTIVATE), entry({ $case: "put", value: put })]);
    expect((value(after, 1) as etcdserverpb.PutResponse).header?.revision).toBe(rev + 2n);
  });

  it("applyEntriesSteps yields inside a large DeleteRange and applies what applyEntries does", async () => {
    const put = (key: string) =>
      entry({
        $case: "put",
        value: {
          key: b(key),
          value: b("v"),
          lease: 0n,
          prevKv: false,
          ignoreValue: false,
          ignoreLease: false,
        },
      });
    await apply(Array.from({ length: 3000 }, (_, i) => put(`big/${String(i).padStart(5, "0")}`)));
    await apply(Array.from({ length: 600 }, (_, i) => put(`tx/${String(i).padStart(5, "0")}`)));
    const entries = [
      put("big/00007x"),
      entry({
        $case: "deleteRange",
        value: { key: b("big/"), rangeEnd: b("big0"), prevKv: false },
      }),
      put("after"),
      entry({
        $case: "txn",
        value: etcdserverpb.TxnRequest.fromPartial({
          success: [
            {
              request: {
                $case: "requestDeleteRange",
                value: { key: b("tx/"), rangeEnd: b("tx0") },
              },
            },
          ],
        }),
      }),
    ];
    const w = s.store.beginWrite();
    const steps = applyEntriesSteps(env, w, entries);
    let yields = 0;
    let out: ApplyOutput;
    for (;;) {
      const r = steps.next();
      if (r.done) {
        out = r.value;
        break;
      }
      yields++;
    }
    await w.commit({ sync: false });
    s.meta.commit(w.batch);
    expect(yields).toBeGreaterThan(24); // every 256 keys read, and deleted
    const d = value(out, 1) as etcdserverpb.DeleteRangeResponse;
    expect(d.deleted).toBe(3001n);
    expect(d.header?.revision).toBe(3603n);
    expect((value(out, 2) as etcdserverpb.PutResponse).header?.revision).toBe(3604n);
    const t = value(out, 3) as etcdserverpb.TxnResponse;
    expect(t.header?.revision).toBe(3605n);
    const tr = t.responses[0]?.response;
    expect(tr?.$case === "responseDeleteRange" && tr.value.deleted).toBe(600n);
    expect(s.meta.appliedIndex).toBe(entries[3]!.index);
    expect(s.store.range({ key: b("tx/"), rangeEnd: b("tx0") }).count).toBe(0n);
    expect(s.store.range({ key: b("big/"), rangeEnd: b("big0") }).count).toBe(0n);
    expect(s.store.range({ key: b("after") }).count).toBe(1n);
  });
});
