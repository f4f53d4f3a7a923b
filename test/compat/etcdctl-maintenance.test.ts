/**
 * etcdctl 3.4 — unchanged — for maintenance and the concurrency recipes, against a live
 * three-member cluster started with a small backend quota:
 *
 * - `endpoint hashkv --cluster` (equal on every member at one revision), `defrag
 *   --cluster`, `move-leader`; Maintenance.Hash (no etcdctl command) through gRPC;
 * - `lock` (mutual exclusion between two etcdctl processes) and `elect` (a second
 *   candidate waits until the first resigns);
 * - `make-mirror` to a second cluster (existing keys, then new writes, appear there);
 * - the NOSPACE alarm: writes refused with etcd's error, `alarm list`, reads and deletes
 *   still work, then compaction + `defrag --cluster` shrink every member's database below
 *   the quota, `alarm disarm`, and writes succeed again. Runs last (it fills the quota).
 *
 * Covered elsewhere: `endpoint status --cluster` and `endpoint health` (etcdctl.test.ts);
 * `snapshot save` then `chainfire snapshot restore` (packages/server/src/cli/cli.test.ts).
 * `check perf --load s` takes 60 s: it runs only with CHAINFIRE_TEST_CHECK_PERF=1.
 *
 * Every long-running etcdctl a test starts is stopped by that test's afterEach.
 */
import { afterEach, describe, expect, it } from "vitest";
import { pollUntil } from "../harness/index.js";
import { useCluster } from "../harness/vitest.js";
import { etcdctl, parseJsonBig } from "./etcdctl.js";
import { EtcdctlProcess } from "./etcdctl-process.js";
import { compatTargets } from "./targets.js";

/** --quota-backend-bytes of the cluster: a few dozen 64 KiB values fill it. */
const QUOTA = 2 * 1024 * 1024;

interface JsonStatus {
  Endpoint: string;
  Status: {
    header: { member_id: string | number; revision: number };
    leader: string | number;
    dbSize: number;
  };
}
interface JsonHashKV {
  Endpoint: string;
  HashKV: { header: { revision: number }; hash: number };
}

const hex = (id: string | number) => BigInt(id).toString(16);

for (const kind of compatTargets()) {
  describe(`etcdctl 3.4 maintenance, lock, elect and make-mirror against ${kind}`, () => {
    const cluster = useCluster({ kind, size: 3, extraArgs: [`--quota-backend-bytes=${QUOTA}`] });
    const mirror = useCluster({ kind, size: 1 });
    const procs: EtcdctlProcess[] = [];
    afterEach(async () => {
      await Promise.all(procs.splice(0).map((p) => p.stop()));
    });

    const run = (args: string[], endpoints = cluster().endpoints) =>
      etcdctl(endpoints, args, { timeoutMs: 60_000 });
    async function ok(args: string[], endpoints?: string[]): Promise<string> {
      const r = await run(args, endpoints);
      expect({ args, code: r.code, stderr: r.errorText }).toEqual({ args, code: 0, stderr: "" });
      return r.stdout;
    }
    const json = async <T>(args: string[], endpoints?: string[]) =>
      parseJsonBig(await ok([...args, "-w", "json"], endpoints)) as T;
    const spawn = (args: string[]) => {
      const p = new EtcdctlProcess(cluster().endpoints, args);
      procs.push(p);
      return p;
    };
    const count = async (prefix: string, endpoints?: string[]) =>
      (await json<{ count?: number }>(["get", "--prefix", prefix, "--keys-only"], endpoints))
        .count ?? 0;
    const statuses = () => json<JsonStatus[]>(["endpoint", "status", "--cluster"]);

    it("endpoint hashkv --cluster: every member has the same hash at one revision", async () => {
      for (let i = 0; i < 5; i++) await ok(["put", `hk/${i}`, `v${i}`]);
      await ok(["del", "hk/0"]);
      const rev = (await json<{ header: { revision: number } }>(["get", "hk/1"])).header.revision;
      // A member that has not applied `rev` yet answers "future revision": poll.
      const hashes = await pollUntil(
        async () => {
          const r = await run(["endpoint", "hashkv", "--cluster", `--rev=${rev}`, "-w", "json"]);
          if (r.code !== 0) return undefined;
          const all = parseJsonBig(r.stdout) as JsonHashKV[];
          return all.length === 3 ? all.map((h) => h.HashKV.hash) : undefined;
        },
        { timeoutMs: 30_000, what: `hashkv at revision ${rev} on every member` },
      );
      expect(new Set(hashes).size).toBe(1);
      await ok(["put", "hk/1", "changed"]);
      const after = await json<JsonHashKV[]>(["endpoint", "hashkv"], [cluster().endpoints[0]!]);
      expect(after[0]!.HashKV.hash).not.toBe(hashes[0]);
    });

    it("defrag --cluster defragments every member, which keep serving", async () => {
      await ok(["put", "df/a", "1"]);
      const out = await ok(["defrag", "--cluster"]);
      expect(out.trim().split("\n").sort()).toEqual(
        cluster()
          .endpoints.map((e) => `Finished defragmenting etcd member[${e}]`)
          .sort(),
      );
      for (const e of cluster().endpoints) {
        expect(await ok(["get", "df/a", "--print-value-only", "--consistency=s"], [e])).toBe("1\n");
      }
      expect(await ok(["put", "df/b", "2"])).toBe("OK\n");
    });

    it("move-leader hands leadership to the named member", async () => {
      const before = await statuses();
      const leader = hex(before[0]!.Status.leader);
      const target = hex(
        before.find((s) => hex(s.Status.header.member_id) !== leader)!.Status.header.member_id,
      );
      expect(await ok(["move-leader", target])).toBe(
        `Leadership transferred from ${leader} to ${target}\n`,
      );
      await pollUntil(
        async () =>
          (await statuses()).every((s) => hex(s.Status.leader) === target) ? true : undefined,
        { timeoutMs: 30_000, what: `every member to follow ${target}` },
      );
    });

    it("lock: a second etcdctl waits until the first releases the lock", async () => {
      const first = spawn(["lock", "lk-mutex"]);
      const [key1] = await first.waitLines(1, "the first lock holder");
      const second = spawn(["lock", "lk-mutex"]);
      // The second has queued its own key under the lock's prefix and is waiting.
      await pollUntil(async () => ((await count("lk-mutex/")) === 2 ? true : undefined), {
        timeoutMs: 30_000,
        what: "the second lock request to queue",
      });
      expect(second.lines).toEqual([]);
      await first.stop("SIGTERM"); // etcdctl unlocks on SIGTERM
      const [key2] = await second.waitLines(1, "the second lock holder");
      expect(key2).toMatch(/^lk-mutex\//);
      expect(key2).not.toBe(key1);
      expect(await count(key1!)).toBe(0);
    });

    it("elect: a second candidate waits until the leader resigns", async () => {
      const first = spawn(["elect", "el-test", "p1"]);
      const won1 = await first.waitLines(2, "the first candidate to win");
      expect(won1[0]).toMatch(/^el-test\//);
      expect(won1[1]).toBe("p1");
      const second = spawn(["elect", "el-test", "p2"]);
      await pollUntil(async () => ((await count("el-test/")) === 2 ? true : undefined), {
        timeoutMs: 30_000,
        what: "the second candidate to campaign",
      });
      expect(second.lines).toEqual([]);
      await first.stop("SIGTERM"); // resigns
      const won2 = await second.waitLines(2, "the second candidate to win");
      expect(won2[1]).toBe("p2");
      expect(won2[0]).not.toBe(won1[0]);
    });

    it("make-mirror copies a prefix to a second cluster and follows new writes", async () => {
      const dest = mirror().endpoints;
      await ok(["put", "mm/a", "1"]);
      await ok(["put", "mm/b", "2"]);
      await ok(["put", "not-mirrored", "x"]);
      spawn(["make-mirror", "--prefix", "mm/", dest[0]!]);
      await pollUntil(async () => ((await count("mm/", dest)) === 2 ? true : undefined), {
        timeoutMs: 30_000,
        what: "the existing keys on the destination",
      });
      await ok(["put", "mm/c", "3"]);
      await pollUntil(
        async () =>
          (await ok(["get", "mm/c", "--print-value-only"], dest)) === "3\n" ? true : undefined,
        { timeoutMs: 30_000, what: "a new write on the destination" },
      );
      expect(await ok(["get", "mm/a", "--print-value-only"], dest)).toBe("1\n");
      expect(await count("not-mirrored", dest)).toBe(0);
    });

    it("Maintenance.Hash (no etcdctl command) is equal on every member at one revision", async () => {
      await ok(["put", "hash/a", "1"]);
      await ok(["del", "hash/a"]);
      const rev = (await json<{ header: { revision: number } }>(["get", "x"])).header.revision;
      const c = cluster();
      const hashes = await pollUntil(
        async () => {
          const all = await Promise.all([0, 1, 2].map((i) => c.client(i).hash()));
          const same = all.every((h) => h.header!.revision === BigInt(rev));
          return same ? all.map((h) => h.hash) : undefined;
        },
        { timeoutMs: 30_000, what: `Hash on every member at revision ${rev}` },
      );
      expect(new Set(hashes).size).toBe(1);
    });

    it("NOSPACE: refused writes, alarm list, delete + compact + defrag + disarm recover", async () => {
      const value = "x".repeat(64 * 1024);
      let refused: Awaited<ReturnType<typeof run>> | undefined;
      let written = 0;
      for (; written < 200 && refused === undefined; written++) {
        const r = await run(["put", `nospace/${written}`, value]);
        if (r.code !== 0) refused = r;
      }
      expect(refused?.errorText.trim().split("\n").at(-1)).toBe(
        "Error: etcdserver: mvcc: database space exceeded",
      );
      // etcdctl prints each AlarmMember as "memberID:<id> alarm:NOSPACE " (trailing space).
      const lines = (text: string) =>
        text
          .split("\n")
          .filter((l) => l !== "")
          .map((l) => l.trim());
      const alarms = lines(await ok(["alarm", "list"]));
      expect(alarms.length).toBeGreaterThanOrEqual(1);
      for (const a of alarms) expect(a).toMatch(/^memberID:\d+ alarm:NOSPACE$/);
      // Still refused; reads and deletes work.
      expect((await run(["put", "nospace/more", "y"])).errorText.trim().split("\n").at(-1)).toBe(
        "Error: etcdserver: mvcc: database space exceeded",
      );
      expect(await count("nospace/")).toBe(written - 1);
      expect(await ok(["del", "--prefix", "nospace/"])).toBe(`${written - 1}\n`);
      const rev = (await json<{ header: { revision: number } }>(["get", "x"])).header.revision;
      expect(await ok(["compaction", "--physical", `${rev}`])).toBe(`compacted revision ${rev}\n`);
      const before = await statuses();
      await ok(["defrag", "--cluster"]);
      const after = await pollUntil(
        async () => {
          const s = await statuses();
          return s.every((m) => m.Status.dbSize < QUOTA) ? s : undefined;
        },
        { timeoutMs: 30_000, what: "every member's db size below the quota after defrag" },
      );
      for (const s of after) {
        const was = before.find((b) => b.Endpoint === s.Endpoint)!;
        expect(s.Status.dbSize).toBeLessThan(was.Status.dbSize);
      }
      // Every member over the quota raises its own alarm (the others after applying the
      // writes that took them over): disarm clears all of them, the first one included.
      const disarmed = lines(await ok(["alarm", "disarm"]));
      expect(disarmed).toEqual(expect.arrayContaining(alarms));
      for (const a of disarmed) expect(a).toMatch(/^memberID:\d+ alarm:NOSPACE$/);
      expect(await ok(["alarm", "list"])).toBe("");
      expect(await ok(["put", "nospace/after", "ok"])).toBe("OK\n");
    });
  });
}

describe.skipIf(process.env.CHAINFIRE_TEST_CHECK_PERF !== "1")(
  "etcdctl 3.4 check perf --load s (CHAINFIRE_TEST_CHECK_PERF=1; 60 s)",
  () => {
    const cluster = useCluster({ kind: compatTargets()[0]!, size: 3 });
    it("passes throughput, slowest request and stddev", async () => {
      const r = await etcdctl(cluster().endpoints, ["check", "perf", "--load", "s"], {
        timeoutMs: 180_000,
      });
      const lines = r.stdout.split(/[\r\n]/).filter((l) => /^(PASS|FAIL)/.test(l));
      expect({ code: r.code, lines }).toMatchObject({ code: 0 });
      expect(lines.at(-1)).toBe("PASS");
      expect(lines.filter((l) => l.startsWith("FAIL"))).toEqual([]);
    }, 200_000);
  },
);
