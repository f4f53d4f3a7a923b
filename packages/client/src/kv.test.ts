import { ErrCompacted, EtcdError, isEtcdError } from "@chainfire/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster, targetUnavailable } from "./__tests__/cluster.js";
import { Client } from "./client.js";
import {
  AuthNotEnabledError,
  CompactedError,
  DuplicateKeyError,
  EmptyKeyError,
  FutureRevisionError,
  InvalidArgumentError,
  KeyNotFoundError,
  LeaseNotFoundError,
  LeaseTTLTooLargeError,
  OutOfRangeError,
  RequestTooLargeError,
  TooManyOpsError,
} from "./errors.js";
import { compare, nestedTxn, op } from "./txn.js";

const skip = targetUnavailable();

describe.skipIf(skip !== undefined)("KV against a live member", () => {
  let cluster: TestCluster;
  let client: Client;

  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 1 });
    client = new Client({ endpoints: cluster.endpoints });
  });

  afterAll(async () => {
    await client?.close();
    await cluster?.close();
  });

  it("puts and gets strings, buffers and JSON", async () => {
    const put = await client.put("kv/a", "alpha");
    expect(put.revision).toBeGreaterThan(0n);
    expect(put.header.clusterId).not.toBe(0n);
    expect(put.header.memberId).not.toBe(0n);
    expect(put.prevKv).toBeUndefined();
    const kv = await client.get("kv/a");
    expect(kv?.string()).toBe("alpha");
    expect(kv?.keyString()).toBe("kv/a");
    expect(kv?.modRevision).toBe(put.revision);
    expect(kv?.createRevision).toBe(put.revision);
    expect(kv?.version).toBe(1n);
    expect(kv?.toJSON()).toMatchObject({ key: "kv/a", value: "alpha", version: "1" });
    expect(await client.getString("kv/a")).toBe("alpha");
    const binKey = Buffer.from([0x6b, 0x76, 0x2f, 0xff]);
    await client.put(binKey, new Uint8Array([0, 1, 2]));
    expect((await client.get(binKey))?.buffer()).toEqual(Buffer.from([0, 1, 2]));
    await client.putJson("kv/json", { n: 1, s: "x" });
    expect(await client.getJson("kv/json")).toEqual({ n: 1, s: "x" });
    expect(await client.get("kv/missing")).toBeUndefined();
    expect(await client.getString("kv/missing")).toBeUndefined();
  });

  it("put returns prevKv and honours ignoreValue / ignoreLease", async () => {
    await client.put("kv/p", "1");
    const second = await client.put("kv/p", "2", { prevKv: true });
    expect(second.prevKv?.string()).toBe("1");
    const lease = await client.lease.grant(30, { keepAlive: false });
    await client.put("kv/p", "ignored", { lease: lease.id, ignoreValue: true });
    let kv = await client.get("kv/p");
    expect(kv?.string()).toBe("2");
    expect(kv?.lease).toBe(lease.id);
    await client.put("kv/p", "3", { ignoreLease: true });
    kv = await client.get("kv/p");
    expect(kv?.string()).toBe("3");
    expect(kv?.lease).toBe(lease.id);
    await lease.revoke();
    expect(await client.get("kv/p")).toBeUndefined();
    await expect(client.put("kv/nope", "x", { ignoreValue: true })).rejects.toBeInstanceOf(
      KeyNotFoundError,
    );
    await expect(client.put("kv/nope", "x", { ignoreLease: true })).rejects.toThrow(
      "etcdserver: key not found",
    );
    await expect(client.put("kv/nope", "x", { lease: 0x1234n })).rejects.toBeInstanceOf(
      LeaseNotFoundError,
    );
  });

  it("reads ranges: prefix, [start,end), fromKey, all, limit, sort, keysOnly, countOnly", async () => {
    for (const k of ["r/a", "r/b", "r/c", "r/d", "s/a"]) await client.put(k, `v-${k}`);
    const prefix = await client.getAll({ prefix: "r/" });
    expect(prefix.kvs.map((kv) => kv.keyString())).toEqual(["r/a", "r/b", "r/c", "r/d"]);
    expect(prefix.count).toBe(4n);
    expect(prefix.more).toBe(false);
    const range = await client.getAll({ start: "r/b", end: "r/d" });
    expect(range.kvs.map((kv) => kv.keyString())).toEqual(["r/b", "r/c"]);
    const single = await client.getAll({ start: "r/b" });
    expect(single.kvs.map((kv) => kv.keyString())).toEqual(["r/b"]);
    const from = await client.getAll({ fromKey: "r/d" });
    expect(from.kvs.map((kv) => kv.keyString())).toContain("s/a");
    expect(from.kvs[0].keyString()).toBe("r/d");
    const all = await client.getAll();
    expect(all.count).toBeGreaterThanOrEqual(5n);
    const limited = await client.getAll({ prefix: "r/" }, { limit: 2 });
    expect(limited.kvs).toHaveLength(2);
    expect(limited.count).toBe(4n);
    expect(limited.more).toBe(true);
    const desc = await client.getAll(
      { prefix: "r/" },
      { sort: { target: "key", order: "descend" }, limit: 1 },
    );
    expect(desc.kvs[0].keyString()).toBe("r/d");
    const byMod = await client.getAll({ prefix: "r/" }, { sort: { target: "mod" } });
    expect(byMod.kvs.map((kv) => kv.keyString())).toEqual(["r/a", "r/b", "r/c", "r/d"]);
    const byValue = await client.getAll(
      { prefix: "r/" },
      { sort: { target: "value", order: "descend" } },
    );
    expect(byValue.kvs[0].string()).toBe("v-r/d");
    const keysOnly = await client.getAll({ prefix: "r/" }, { keysOnly: true });
    expect(keysOnly.kvs.every((kv) => kv.value.length === 0)).toBe(true);
    const countOnly = await client.getAll({ prefix: "r/" }, { countOnly: true });
    expect(countOnly.kvs).toHaveLength(0);
    expect(countOnly.count).toBe(4n);
    expect(await client.count({ prefix: "r/" })).toBe(4n);
    const serial = await client.getAll({ prefix: "r/" }, { serializable: true });
    expect(serial.count).toBe(4n);
  });

  it("reads at an older revision and filters by mod/create revision", async () => {
    const first = await client.put("hist/k", "v1");
    const second = await client.put("hist/k", "v2");
    expect((await client.get("hist/k", { revision: first.revision }))?.string()).toBe("v1");
    expect((await client.get("hist/k"))?.string()).toBe("v2");
    await client.put("hist/j", "x");
    const recent = await client.getAll(
      { prefix: "hist/" },
      { minModRevision: second.revision + 1n },
    );
    expect(recent.kvs.map((kv) => kv.keyString())).toEqual(["hist/j"]);
    const old = await client.getAll({ prefix: "hist/" }, { maxCreateRevision: first.revision });
    expect(old.kvs.map((kv) => kv.keyString())).toEqual(["hist/k"]);
    await expect(client.get("hist/k", { revision: 1n << 40n })).rejects.toBeInstanceOf(
      FutureRevisionError,
    );
  });

  it("deletes one key, a prefix, and returns prevKvs", async () => {
    await client.put("del/a", "1");
    await client.put("del/b", "2");
    await client.put("del/c", "3");
    const one = await client.delete("del/a", { prevKv: true });
    expect(one.deleted).toBe(1n);
    expect(one.prevKvs.map((kv) => kv.string())).toEqual(["1"]);
    const before = (await client.getAll({ prefix: "del/" })).revision;
    const none = await client.delete("del/none");
    expect(none.deleted).toBe(0n);
    expect(none.revision).toBe(before); // deleting nothing creates no revision
    const rest = await client.delete({ prefix: "del/" });
    expect(rest.deleted).toBe(2n);
    expect(await client.count({ prefix: "del/" })).toBe(0n);
  });

  it("runs transactions with every compare target, nested txns and both branches", async () => {
    const p = await client.put("txn/k", "v");
    const lease = await client.lease.grant(30, { keepAlive: false });
    await client.put("txn/leased", "x", { lease: lease.id });
    const ok = await client
      .txn()
      .if(
        compare.value("txn/k", "==", "v"),
        compare.version("txn/k", "=", 1),
        compare.createRevision("txn/k", "==", p.revision),
        compare.modRevision("txn/k", "<", p.revision + 1n),
        compare.lease("txn/leased", "==", lease.id),
        compare.value("txn/k", "!=", "w"),
        compare.version({ prefix: "txn/" }, ">", 0),
        compare.exists("txn/k"),
        compare.missing("txn/none"),
      )
      .if("txn/k", "value", "==", "v")
      .then(
        op.put("txn/k", "v2"),
        op.get("txn/k"),
        op.getAll({ prefix: "txn/" }, { countOnly: true }),
        op.delete("txn/leased", { prevKv: true }),
        // Every compare, nested ones too, sees the state before the transaction.
        op.txn(
          nestedTxn()
            .if(compare.value("txn/k", "==", "v"))
            .then(op.put("txn/nested", "n"))
            .else(op.get("txn/k")),
        ),
      )
      .else(op.get("txn/k"))
      .commit();
    expect(ok.succeeded).toBe(true);
    expect(ok.responses.map((r) => r.type)).toEqual(["put", "get", "get", "delete", "txn"]);
    const [put, get, count, del, nested] = ok.responses;
    expect(put.type === "put" && put.revision).toBe(ok.revision);
    // Operations run in order: the get sees the put before it.
    expect(get.type === "get" && get.kvs[0].string()).toBe("v2");
    expect(count.type === "get" && count.count).toBe(2n);
    expect(del.type === "delete" && del.prevKvs[0].string()).toBe("x");
    expect(nested.type === "txn" && nested.succeeded).toBe(true);
    expect(await client.getString("txn/nested")).toBe("n");
    const failed = await client
      .txn()
      .if(compare.value("txn/k", "==", "v"))
      .then(op.put("txn/k", "no"))
      .else(op.get("txn/k"));
    expect(failed.succeeded).toBe(false); // awaiting the builder commits it
    expect(failed.responses[0].type === "get" && failed.responses[0].kvs[0].string()).toBe("v2");
    // A value compare on a missing key is false; its version is 0.
    expect(
      (
        await client
          .txn()
          .if(compare.value("txn/none", "==", ""))
          .commit()
      ).succeeded,
    ).toBe(false);
    expect(
      (
        await client
          .txn()
          .if(compare.version("txn/none", "==", 0))
          .commit()
      ).succeeded,
    ).toBe(true);
    await lease.revoke();
  });

  it("reports etcd's errors as typed classes with etcd's messages", async () => {
    const dup = client.txn().then(op.put("e/k", "1"), op.put("e/k", "2")).commit();
    await expect(dup).rejects.toBeInstanceOf(DuplicateKeyError);
    await expect(dup).rejects.toThrow("etcdserver: duplicate key given in txn request");
    const many = Array.from({ length: 129 }, (_, i) => op.put(`e/${i}`, "x"));
    await expect(
      client
        .txn()
        .then(...many)
        .commit(),
    ).rejects.toBeInstanceOf(TooManyOpsError);
    await expect(client.put("", "x")).rejects.toBeInstanceOf(EmptyKeyError);
    const big = Buffer.alloc(1_600_000, 1); // above 1.5 MiB, below gRPC's own limit
    const tooLarge = client.put("e/big", big);
    await expect(tooLarge).rejects.toBeInstanceOf(RequestTooLargeError);
    await expect(tooLarge).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(tooLarge).rejects.toBeInstanceOf(EtcdError);
  });

  it("compacts history: old revisions fail with CompactedError", async () => {
    const a = await client.put("c/k", "1");
    const b = await client.put("c/k", "2");
    await client.compact(b.revision, { physical: true });
    const err = await client.get("c/k", { revision: a.revision }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CompactedError);
    expect(err).toBeInstanceOf(OutOfRangeError);
    expect(isEtcdError(err, ErrCompacted)).toBe(true);
    expect((err as Error).message).toBe("etcdserver: mvcc: required revision has been compacted");
    await expect(client.compact(a.revision)).rejects.toBeInstanceOf(CompactedError);
    expect((await client.get("c/k", { revision: b.revision }))?.string()).toBe("2");
  });

  it("refuses a lease TTL that is too large and auth against a cluster without auth", async () => {
    await expect(client.lease.grant(10_000_000_000, { keepAlive: false })).rejects.toBeInstanceOf(
      LeaseTTLTooLargeError,
    );
    const authed = new Client({
      endpoints: cluster.endpoints,
      auth: { username: "u", password: "p" },
    });
    try {
      await expect(authed.get("kv/a")).rejects.toBeInstanceOf(AuthNotEnabledError);
    } finally {
      await authed.close();
    }
  });

  it("honours AbortSignal and deadlines", async () => {
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    await expect(client.get("kv/a", { signal: controller.signal })).rejects.toMatchObject({
      name: "AbortError",
    });
  });
});
