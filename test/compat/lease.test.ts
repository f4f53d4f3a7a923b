/**
 * Leases through real, unchanged clients against a live three-member cluster (one
 * cluster per target for both clients; validated against etcd 3.4.23 first with
 * CHAINFIRE_COMPAT_TARGETS=etcd):
 *
 * - etcdctl 3.4: `lease grant / keep-alive --once / timetolive [--keys] / list / revoke`
 *   and `put --lease`, outputs byte for byte where etcdctl prints them deterministically.
 *   `lease keep-alive --once` of an unknown lease exits 2 (the client turns TTL 0 into
 *   "requested lease not found"); `timetolive` of one prints "already expired". The order
 *   of `lease list` and of `timetolive --keys` is not specified (etcd prints its map
 *   order), so they are compared as sets.
 * - the `etcd3` npm client (microsoft/etcd3): automatic keep-alives outliving the TTL,
 *   expiry seen by a watcher as DELETE events once the client lets go, and a lease that
 *   survives a kill -9 of the leader while the client keeps it alive (the client moves to
 *   another member; the new leader neither forgets the lease nor expires it early). That
 *   one runs last: it kills and restarts a member.
 */
import { Etcd3, type IKeyValue, type Lease } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../harness/index.js";
import { useCluster } from "../harness/vitest.js";
import { etcdctl, parseJsonBig } from "./etcdctl.js";
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
  describe(`leases against ${kind}`, () => {
    const cluster = useCluster({ kind, size: 3 });

    describe(`etcdctl 3.4 lease commands against ${kind}`, () => {
      const run = (args: string[], endpoints = cluster().endpoints) => etcdctl(endpoints, args);

      async function ok(args: string[], endpoints?: string[]): Promise<string> {
        const r = await run(args, endpoints);
        expect({ code: r.code, stderr: r.errorText }).toEqual({ code: 0, stderr: "" });
        return r.stdout;
      }

      async function fails(args: string[], code = 1): Promise<string> {
        const r = await run(args);
        expect({ code: r.code, stdout: r.stdout }).toEqual({ code, stdout: "" });
        return r.errorText;
      }

      async function grant(ttl: number): Promise<string> {
        const out = await ok(["lease", "grant", String(ttl)]);
        const m = /^lease ([0-9a-f]{16}) granted with TTL\((\d+)s\)\n$/.exec(out);
        expect(m, out).not.toBeNull();
        return (m as RegExpExecArray)[1];
      }

      it("grant, put --lease, keep-alive --once, timetolive --keys, list, revoke", async () => {
        const id = await grant(60);
        expect(await ok(["put", "--lease", id, "lc/k1", "v1"])).toBe("OK\n");
        expect(await ok(["put", `--lease=${id}`, "lc/k2", "v2"])).toBe("OK\n");
        expect(await ok(["lease", "keep-alive", "--once", id])).toBe(
          `lease ${id} keepalived with TTL(60)\n`,
        );
        const ttl = await ok(["lease", "timetolive", id]);
        expect(ttl).toMatch(
          new RegExp(`^lease ${id} granted with TTL\\(60s\\), remaining\\(\\d+s\\)\\n$`),
        );
        const remaining = Number(/remaining\((\d+)s\)/.exec(ttl)?.[1]);
        expect(remaining).toBeGreaterThanOrEqual(55);
        expect(remaining).toBeLessThanOrEqual(60);
        const withKeys = await ok(["lease", "timetolive", "--keys", id]);
        const keys = /, attached keys\(\[(.*)\]\)\n$/.exec(withKeys)?.[1].split(" ").sort();
        expect(keys).toEqual(["lc/k1", "lc/k2"]);
        expect(await ok(["get", "lc/k1", "-w", "json"])).toContain(
          `"lease":${BigInt(`0x${id}`).toString()}`,
        );
        const list = (await ok(["lease", "list"])).split("\n");
        expect(list[0]).toMatch(/^found \d+ leases$/);
        expect(list).toContain(id);
        expect(list).toHaveLength(Number(/\d+/.exec(list[0])?.[0]) + 2); // + header + ""

        expect(await ok(["lease", "revoke", id])).toBe(`lease ${id} revoked\n`);
        expect(await ok(["get", "lc/", "--prefix"])).toBe("");
        expect(await ok(["lease", "timetolive", "--keys", id])).toBe(
          `lease ${id} already expired\n`,
        );
        expect(await fails(["lease", "keep-alive", "--once", id], 2)).toContain(
          "etcdserver: requested lease not found",
        );
        expect(await fails(["lease", "revoke", id])).toBe(
          "Error: failed to revoke lease (etcdserver: requested lease not found)\n",
        );
        expect((await ok(["lease", "list"])).split("\n")).not.toContain(id);
      });

      it("JSON output: grant, keep-alive, timetolive of a live and of an unknown lease", async () => {
        const g = parseJsonBig(await ok(["lease", "grant", "30", "-w", "json"])) as {
          ID: number | string;
          TTL: number;
          Error: string;
        };
        expect({ TTL: g.TTL, Error: g.Error }).toEqual({ TTL: 30, Error: "" });
        const id = BigInt(g.ID);
        const hex = id.toString(16).padStart(16, "0");
        const k = parseJsonBig(await ok(["lease", "keep-alive", "--once", hex, "-w", "json"])) as {
          ID: number | string;
          TTL: number;
        };
        expect({ ID: BigInt(k.ID), TTL: k.TTL }).toEqual({ ID: id, TTL: 30 });
        const t = parseJsonBig(await ok(["lease", "timetolive", hex, "-w", "json"])) as Record<
          string,
          unknown
        >;
        expect({ id: BigInt(t.id as string), grantedTtl: t["granted-ttl"], keys: t.keys }).toEqual({
          id,
          grantedTtl: 30,
          keys: null,
        });
        await ok(["lease", "revoke", hex]);
        const gone = parseJsonBig(await ok(["lease", "timetolive", hex, "-w", "json"])) as Record<
          string,
          unknown
        >;
        expect({ ttl: gone.ttl, grantedTtl: gone["granted-ttl"], keys: gone.keys }).toEqual({
          ttl: -1,
          grantedTtl: 0,
          keys: null,
        });
      });

      it("errors: an unknown lease for put, a too large TTL; a TTL below the minimum is raised", async () => {
        expect(await fails(["put", "--lease", "1234", "lc/x", "v"])).toBe(
          "Error: etcdserver: requested lease not found\n",
        );
        expect(await fails(["lease", "grant", "9000000001"])).toBe(
          "Error: failed to grant lease (etcdserver: too large lease TTL)\n",
        );
        // 100 ms heartbeat, 1 s election timeout: the minimum is 2 s.
        const out = await ok(["lease", "grant", "1"]);
        expect(out).toMatch(/^lease [0-9a-f]{16} granted with TTL\(2s\)\n$/);
        await ok(["lease", "revoke", out.split(" ")[1]]);
      });

      it("keep-alive --once through every member, and the lease expires once no one renews it", async () => {
        const id = await grant(2);
        await ok(["put", "--lease", id, "lx/k", "v"]);
        for (const endpoint of cluster().endpoints) {
          expect(await ok(["lease", "keep-alive", "--once", id], [endpoint])).toBe(
            `lease ${id} keepalived with TTL(2)\n`,
          );
        }
        await pollUntil(async () => ((await ok(["get", "lx/k"])) === "" ? true : undefined), {
          timeoutMs: 15_000,
          what: "the expired lease's key to be deleted",
        });
        expect(await ok(["lease", "timetolive", id])).toBe(`lease ${id} already expired\n`);
      });
    });

    describe(`etcd3 npm client leases against ${kind}`, () => {
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
          expect(events).toEqual([
            "put e3lx/a 1",
            "put e3lx/b 2",
            "delete e3lx/a",
            "delete e3lx/b",
          ]);
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
  });
}
