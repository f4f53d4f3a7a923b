/**
 * The `etcd3` npm client (microsoft/etcd3), unchanged, against a live three-member
 * cluster: its builders, its decoding of responses, and the typed errors it derives from
 * etcd's status codes and messages (etcd3 src/errors.ts keys on the message text).
 */
import { Etcd3, EtcdLeaseInvalidError, GRPCOutOfRangeError } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../harness/index.js";
import { useCluster } from "../harness/vitest.js";
import { compatTargets } from "./targets.js";

for (const kind of compatTargets()) {
  describe(`etcd3 npm client against ${kind}`, () => {
    const cluster = useCluster({ kind, size: 3 });
    let client: Etcd3;

    beforeAll(() => {
      client = new Etcd3({ hosts: cluster().endpoints });
    });
    afterAll(() => {
      client?.close();
    });

    it("put and get as string, buffer, number, json; exists", async () => {
      await client.put("e3/s").value("hello");
      await client.put("e3/n").value(42);
      await client.put("e3/j").value(JSON.stringify({ a: [1, 2] }));
      await client.put("e3/b").value(Buffer.from([0, 255, 1]));
      expect(await client.get("e3/s").string()).toBe("hello");
      expect(await client.get("e3/n").number()).toBe(42);
      expect(await client.get("e3/j").json()).toEqual({ a: [1, 2] });
      expect(await client.get("e3/b").buffer()).toEqual(Buffer.from([0, 255, 1]));
      expect(await client.get("e3/none").string()).toBeNull();
      expect(await client.get("e3/s").exists()).toBe(true);
      expect(await client.get("e3/none").exists()).toBe(false);
    });

    it("put returns the header revision; get at an older revision; getPrevious", async () => {
      const first = await client.put("e3r/k").value("v1").exec();
      const second = await client.put("e3r/k").value("v2").exec();
      expect(BigInt(second.header.revision)).toBe(BigInt(first.header.revision) + 1n);
      expect(await client.get("e3r/k").revision(first.header.revision).string()).toBe("v1");
      const res = await client.get("e3r/k").exec();
      expect(res.header.revision).toBe(second.header.revision);
      expect(res.kvs[0]).toMatchObject({
        create_revision: first.header.revision,
        mod_revision: second.header.revision,
        version: "2",
        lease: "0",
      });
      const previous = await client.put("e3r/k").value("v3").getPrevious();
      expect(previous.value.toString()).toBe("v2");
      expect(await client.get("e3r/k").serializable(false).string()).toBe("v3");
    });

    it("getAll: prefix, keys, strings, limit, sort, count", async () => {
      for (const [key, value] of [
        ["e3a/b", "1"],
        ["e3a/a", "3"],
        ["e3a/c", "2"],
        ["e3b", "outside"],
      ]) {
        await client.put(key).value(value);
      }
      const all = () => client.getAll().prefix("e3a/");
      expect(await all().keys()).toEqual(["e3a/a", "e3a/b", "e3a/c"]);
      expect(await all().strings()).toEqual({ "e3a/a": "3", "e3a/b": "1", "e3a/c": "2" });
      expect(await all().limit(2).keys()).toEqual(["e3a/a", "e3a/b"]);
      expect(await all().sort("Key", "Descend").keys()).toEqual(["e3a/c", "e3a/b", "e3a/a"]);
      expect(await all().sort("Value", "Ascend").keys()).toEqual(["e3a/b", "e3a/c", "e3a/a"]);
      expect(await all().sort("Create", "Descend").limit(1).keys()).toEqual(["e3a/c"]);
      expect(await all().count()).toBe(3);
      expect(await client.getAll().prefix("e3none/").count()).toBe(0);
      const limited = await all().limit(1).exec();
      expect({ count: limited.count, more: limited.more, n: limited.kvs.length }).toEqual({
        count: "3",
        more: true,
        n: 1,
      });
      const keysOnly = await all()
        .exec()
        .then((r) => r.kvs.map((kv) => kv.key.toString()));
      expect(keysOnly).toEqual(["e3a/a", "e3a/b", "e3a/c"]);
      expect(await client.getAll().inRange({ start: "e3a/a", end: "e3a/c" }).keys()).toEqual([
        "e3a/a",
        "e3a/b",
      ]);
    });

    it("delete: one key, a prefix, getPrevious; deleting nothing", async () => {
      await client.put("e3d/a").value("1");
      await client.put("e3d/b").value("2");
      await client.put("e3d/c").value("3");
      expect((await client.delete().key("e3d/a").exec()).deleted).toBe("1");
      expect((await client.delete().key("e3d/none").exec()).deleted).toBe("0");
      const previous = await client.delete().prefix("e3d/").getPrevious();
      expect(previous.map((kv) => [kv.key.toString(), kv.value.toString()])).toEqual([
        ["e3d/b", "2"],
        ["e3d/c", "3"],
      ]);
      expect(await client.getAll().prefix("e3d/").keys()).toEqual([]);
    });

    it("txn: if/then/else with value, version, create and mod compares", async () => {
      const put = await client.put("e3t/k").value("v").exec();
      const rev = put.header.revision;
      const yes = await client
        .if("e3t/k", "Value", "==", "v")
        .and("e3t/k", "Version", "==", 1)
        .and("e3t/k", "Create", "==", rev)
        .and("e3t/k", "Mod", ">", 0)
        .then(client.put("e3t/k").value("w"), client.get("e3t/k"))
        .else(client.put("e3t/else").value("x"))
        .commit();
      expect(yes.succeeded).toBe(true);
      expect(yes.responses).toHaveLength(2);
      expect(yes.responses[1].response_range?.kvs[0].value.toString()).toBe("w");
      expect(BigInt(yes.header.revision)).toBe(BigInt(rev) + 1n);

      const no = await client
        .if("e3t/k", "Value", "==", "v")
        .then(client.put("e3t/k").value("never"))
        .else(client.get("e3t/k"), client.delete().key("e3t/none"))
        .commit();
      expect(no.succeeded).toBe(false);
      expect(no.responses[0].response_range?.kvs[0].value.toString()).toBe("w");
      expect(no.responses[1].response_delete_range?.deleted).toBe("0");
      // kube-apiserver's create: Txn(MOD(key) == 0) Then Put Else Get.
      const create = () =>
        client
          .if("e3t/new", "Mod", "==", 0)
          .then(client.put("e3t/new").value("created"))
          .else(client.get("e3t/new"))
          .commit();
      expect((await create()).succeeded).toBe(true);
      const again = await create();
      expect(again.succeeded).toBe(false);
      expect(again.responses[0].response_range?.kvs[0].value.toString()).toBe("created");
      expect(await client.get("e3t/else").string()).toBeNull();
    });

    it("namespaces scope every operation to a prefix", async () => {
      const ns = client.namespace("e3ns/");
      await ns.put("a").value("1");
      await ns.put("b").value("2");
      expect(await ns.getAll().keys()).toEqual(["a", "b"]);
      expect(await client.getAll().prefix("e3ns/").keys()).toEqual(["e3ns/a", "e3ns/b"]);
      await ns.delete().all();
      expect(await client.getAll().prefix("e3ns/").count()).toBe(0);
    });

    it("a compacted or future revision rejects with GRPCOutOfRangeError and etcd's text", async () => {
      const first = await client.put("e3c/k").value("1").exec();
      const second = await client.put("e3c/k").value("2").exec();
      await client.kv.compact({ revision: second.header.revision });
      const compacted = client.get("e3c/k").revision(first.header.revision).string();
      await expect(compacted).rejects.toBeInstanceOf(GRPCOutOfRangeError);
      await expect(compacted).rejects.toThrow(
        "etcdserver: mvcc: required revision has been compacted",
      );
      const future = client.get("e3c/k").revision(String(BigInt(second.header.revision) + 1000n));
      await expect(future.string()).rejects.toBeInstanceOf(GRPCOutOfRangeError);
      await expect(future.string()).rejects.toThrow(
        "etcdserver: mvcc: required revision is a future revision",
      );
      expect(await client.get("e3c/k").revision(second.header.revision).string()).toBe("2");
    });

    it("watch smoke test (more in watch-clients.test.ts)", async () => {
      const watcher = await client.watch().prefix("e3w/").create();
      try {
        const events: string[] = [];
        watcher.on("put", (kv) => events.push(`put ${kv.key} ${kv.value}`));
        watcher.on("delete", (kv) => events.push(`delete ${kv.key}`));
        await client.put("e3w/a").value("1");
        await client.delete().key("e3w/a");
        await pollUntil(() => (events.length >= 2 ? true : undefined), {
          timeoutMs: 10_000,
          what: "two watch events",
        });
        expect(events).toEqual(["put e3w/a 1", "delete e3w/a"]);
      } finally {
        await watcher.cancel();
      }
    });

    // More lease behaviour (keep-alives, expiry, a leader kill): lease-etcd3.test.ts.
    it("lease smoke test", async () => {
      const lease = client.lease(30, { autoKeepAlive: false });
      try {
        const id = await lease.grant();
        await lease.put("e3l/k").value("v");
        const ttl = await client.leaseClient.leaseTimeToLive({ ID: id, keys: true });
        expect(Number(ttl.TTL)).toBeGreaterThan(0);
        expect(ttl.grantedTTL).toBe("30");
        expect(ttl.keys.map((key) => key.toString())).toEqual(["e3l/k"]);
        const keepAlive = await lease.keepaliveOnce();
        expect(keepAlive.ID).toBe(id);
        expect(Number(keepAlive.TTL)).toBeGreaterThan(0);
        expect(
          await client
            .get("e3l/k")
            .exec()
            .then((r) => r.kvs[0].lease),
        ).toBe(id);
      } finally {
        await lease.revoke();
      }
      expect(await client.get("e3l/k").string()).toBeNull();
      await expect(client.put("e3l/x").value("v").lease("1234").exec()).rejects.toBeInstanceOf(
        EtcdLeaseInvalidError,
      );
    });
  });
}
