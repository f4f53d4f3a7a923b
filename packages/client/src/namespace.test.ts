import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster, targetUnavailable } from "./__tests__/cluster.js";
import { Client } from "./client.js";
import { compare, nestedTxn, op } from "./txn.js";

const skip = targetUnavailable();

describe.skipIf(skip !== undefined)("namespaces against a live member", () => {
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

  it("reads and writes relative keys and sees nothing outside", async () => {
    const app = client.namespace("app/");
    await client.put("outside", "x");
    await client.put("app", "the prefix itself is outside too");
    await app.put("a", "1");
    const prev = await app.put("a", "2", { prevKv: true });
    expect(prev.prevKv?.keyString()).toBe("a");
    await app.putJson("b", { n: 2 });
    expect(await client.getString("app/a")).toBe("2");
    expect(await app.getString("a")).toBe("2");
    expect(await app.getJson("b")).toEqual({ n: 2 });
    expect((await app.getAll()).kvs.map((kv) => kv.keyString())).toEqual(["a", "b"]);
    expect((await app.getAll({ fromKey: "b" })).kvs.map((kv) => kv.keyString())).toEqual(["b"]);
    expect((await app.getAll({ start: "a", end: "b" })).kvs.map((kv) => kv.keyString())).toEqual([
      "a",
    ]);
    expect(await app.count({ prefix: "" })).toBe(2n);
    const nested = app.namespace("sub/");
    await nested.put("c", "3");
    expect(await client.getString("app/sub/c")).toBe("3");
    expect((await app.getAll({ prefix: "sub/" })).kvs.map((kv) => kv.keyString())).toEqual([
      "sub/c",
    ]);
    const del = await app.delete({ all: true }, { prevKv: true });
    expect(del.prevKvs.map((kv) => kv.keyString()).sort()).toEqual(["a", "b", "sub/c"]);
    expect(await client.getString("outside")).toBe("x");
    expect(await client.getString("app")).toBeDefined();
  });

  it("rewrites transactions (compares, nested ops) and their results", async () => {
    const ns = client.namespace("tx/");
    await ns.put("k", "v");
    const r = await ns
      .txn()
      .if(compare.value("k", "==", "v"), compare.version({ prefix: "" }, ">", 0))
      .then(op.put("k", "w"), op.get("k"), op.txn(nestedTxn().then(op.getAll({ prefix: "" }))))
      .commit();
    expect(r.succeeded).toBe(true);
    const get = r.responses[1];
    expect(get.type === "get" && get.kvs[0].keyString()).toBe("k");
    const inner = r.responses[2];
    expect(
      inner.type === "txn" &&
        inner.responses[0].type === "get" &&
        inner.responses[0].kvs.map((kv) => kv.keyString()),
    ).toEqual(["k"]);
    expect(await client.getString("tx/k")).toBe("w");
  });

  it("watches relative keys, and runs locks and STM inside the namespace", async () => {
    const ns = client.namespace("nw/");
    const w = await ns.watch({ prefix: "" }, { prevKv: true });
    await ns.put("k", "1");
    await client.put("elsewhere", "not seen");
    await ns.put("k", "2");
    const seen: string[] = [];
    for await (const e of w) {
      seen.push(`${e.kv.keyString()}=${e.kv.string()} (prev ${e.prevKv?.keyString() ?? "-"})`);
      if (seen.length === 2) break;
    }
    expect(seen).toEqual(["k=1 (prev -)", "k=2 (prev k)"]);
    const lock = await ns.lock("mutex");
    expect(lock.key.toString()).toMatch(/^mutex\/[0-9a-f]+$/); // relative to the namespace
    expect(await client.count({ prefix: "nw/mutex/" })).toBe(1n);
    await lock.release();
    await ns.stm(async (stm) => {
      stm.put("counter", String(Number((await stm.getString("counter")) ?? "0") + 1));
    });
    expect(await client.getString("nw/counter")).toBe("1");
  });
});
