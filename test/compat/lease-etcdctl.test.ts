/**
 * etcdctl 3.4's lease commands — the real binary — against a live three-member cluster:
 * `lease grant / keep-alive --once / timetolive [--keys] / list / revoke` and
 * `put --lease`, outputs byte for byte where etcdctl prints them deterministically
 * (verified against etcd 3.4.23 first: CHAINFIRE_COMPAT_TARGETS=etcd).
 *
 * Notes on etcdctl 3.4.23:
 * - `lease keep-alive --once` of an unknown lease exits 2 (the client turns TTL 0 into
 *   "requested lease not found"); `timetolive` of one prints "already expired".
 * - the order of `lease list` and of `timetolive --keys` is not specified (etcd prints
 *   its map order), so they are compared as sets.
 */
import { describe, expect, it } from "vitest";
import { pollUntil } from "../harness/index.js";
import { useCluster } from "../harness/vitest.js";
import { etcdctl, parseJsonBig } from "./etcdctl.js";
import { compatTargets } from "./targets.js";

for (const kind of compatTargets()) {
  describe(`etcdctl 3.4 lease commands against ${kind}`, () => {
    const cluster = useCluster({ kind, size: 3 });
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
      expect(await ok(["lease", "timetolive", "--keys", id])).toBe(`lease ${id} already expired\n`);
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
}
