/**
 * The `etcd3` npm client's leases (microsoft/etcd3), unchanged, against a live
 * three-member cluster: automatic keep-alives outliving the TTL, expiry seen by a watcher
 * as DELETE events once the client lets go, and a lease that survives a kill -9 of the
 * leader while the client keeps it alive (the client moves to another member; the new
 * leader neither forgets the lease nor expires it early).
 */
import { Etcd3, type IKeyValue, type Lease } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../harness/index.js";
import { useCluster } from "../harness/vitest.js";
import { compatTargets } from "./targets.js";

/** Counts a lease's successful keep-alives and remembers a loss. */
function follow(lease: Lease) {
  const state = { kept: 0, lost: undefined as Error | undefined };
  lease.on("keepaliveSucceeded", () => state.kept++);
  lease.on("lost", (err) => {
    state.lost = err;
  });
  return state;
}

for (const kind of compatTargets()) {
  describe(`etcd3 npm client leases against ${kind}`, () => {
    const cluster = useCluster({ kind, size: 3 });
    let client: Etcd3;

    beforeAll(() => {
      client = new Etcd3({ hosts: cluster().endpoints });
    });
    afterAll(() => {
      client?.close();
    });

    it("keep-alives outlive the TTL; released, the lease expires with DELETE events", async () => {
      const watcher = await client.watch().prefix("e3lx/").create();
      const events: string[] = [];
      watcher.on("put", (kv: IKeyValue) => events.push(`put ${kv.key} ${kv.value}`));
      watcher.on("delete", (kv: IKeyValue) => events.push(`delete ${kv.key}`));
      try {
        const lease = client.lease(2); // the minimum with 100 ms / 1 s raft timings
        const state = follow(lease);
        const id = await lease.grant();
        await lease.put("e3lx/a").value("1");
        await lease.put("e3lx/b").value("2");
        // A keep-alive every 2/3 s: six of them span two TTLs.
        await pollUntil(() => (state.kept >= 6 ? true : undefined), {
          timeoutMs: 20_000,
          what: "six keep-alives",
        });
        expect(await client.getAll().prefix("e3lx/").keys()).toEqual(["e3lx/a", "e3lx/b"]);
        const ttl = await client.leaseClient.leaseTimeToLive({ ID: id });
        expect(ttl.grantedTTL).toBe("2");
        lease.release(); // stop keeping it alive, without revoking it
        await pollUntil(() => (events.length >= 4 ? true : undefined), {
          timeoutMs: 15_000,
          what: "the expiry's DELETE events",
        });
        expect(events).toEqual(["put e3lx/a 1", "put e3lx/b 2", "delete e3lx/a", "delete e3lx/b"]);
        expect(state.lost).toBeUndefined();
        expect(await client.getAll().prefix("e3lx/").keys()).toEqual([]);
        expect((await client.leaseClient.leaseTimeToLive({ ID: id })).TTL).toBe("-1");
      } finally {
        await watcher.cancel();
      }
    });

    it("the leader is killed while the client keeps a lease alive: the lease survives", async () => {
      const lease = client.lease(3);
      const state = follow(lease);
      try {
        await lease.grant();
        await lease.put("e3lk/a").value("1");
        await pollUntil(() => (state.kept >= 1 ? true : undefined), {
          timeoutMs: 10_000,
          what: "a first keep-alive",
        });
        const leader = await cluster().waitForLeader();
        await cluster().kill(leader);
        await cluster().waitForLeader();
        const killed = Date.now();
        const keptBefore = state.kept;
        // Well past a TTL plus an election after the kill, the lease is still there and
        // still being renewed.
        await pollUntil(
          () => (Date.now() - killed > 5_000 && state.kept > keptBefore + 3 ? true : undefined),
          { timeoutMs: 30_000, what: "keep-alives for five seconds after the kill" },
        );
        expect(state.lost).toBeUndefined();
        expect(await client.get("e3lk/a").string()).toBe("1");
        await cluster().restart(leader);
      } finally {
        await lease.revoke();
      }
      expect(await client.get("e3lk/a").string()).toBeNull();
    });
  });
}
