/**
 * etcdctl 3.4 — the real binary, unchanged — against a live three-member cluster.
 * Outputs are asserted byte for byte where etcdctl prints them deterministically: these
 * tests are the proof that etcdctl users see what etcd would show them.
 *
 * Every test uses its own key prefix; revisions are read from the cluster, never assumed.
 * Compaction runs last because it affects reads at older revisions of every key.
 *
 * Notes on etcdctl 3.4.23 (verified against etcd 3.4.23):
 * - it has no `get --count-only` (added in 3.5); counts are checked through `-w json`.
 * - `endpoint health` prints its result lines on stderr.
 * - errors print `Error: <grpc message>` as the last stderr line and exit with code 1,
 *   after a JSON warning from the client's retry interceptor naming the gRPC code.
 */
import { describe, expect, it } from "vitest";
import type { Cluster } from "../harness/index.js";
import { useCluster } from "../harness/vitest.js";
import { b64, etcdctl, parseJsonBig } from "./etcdctl.js";
import { compatTargets } from "./targets.js";

interface JsonHeader {
  cluster_id: string | number;
  member_id: string | number;
  revision?: number;
  raft_term: number;
}
interface JsonKv {
  key: string;
  create_revision: number;
  mod_revision: number;
  version: number;
  value?: string;
  lease?: number;
}
interface JsonRange {
  header: JsonHeader;
  kvs?: JsonKv[];
  count?: number;
  more?: boolean;
}

for (const kind of compatTargets()) {
  describe(`etcdctl 3.4 against ${kind}`, () => {
    const cluster = useCluster({ kind, size: 3 });
    const run = (args: string[], stdin?: string) => etcdctl(cluster().endpoints, args, { stdin });

    /**
     * Runs etcdctl, expects success with nothing on stderr but the client library's own
     * JSON log lines (a retried call logs one; the command still succeeds), returns stdout.
     */
    async function ok(args: string[], stdin?: string): Promise<string> {
      const result = await run(args, stdin);
      expect({ code: result.code, stderr: result.errorText }).toEqual({ code: 0, stderr: "" });
      return result.stdout;
    }

    /** Runs etcdctl, expects exit code 1; returns stderr without client log lines. */
    async function fails(args: string[]): Promise<{ errorText: string; stderr: string }> {
      const result = await run(args);
      expect(result.stdout).toBe("");
      expect(result.code).toBe(1);
      return result;
    }

    async function json<T>(args: string[]): Promise<T> {
      return parseJsonBig(await ok([...args, "-w", "json"])) as T;
    }

    async function currentRevision(): Promise<number> {
      const res = await json<JsonRange>(["get", "any-key-at-all"]);
      return res.header.revision ?? 0;
    }

    it("put prints OK and get prints key and value lines", async () => {
      expect(await ok(["put", "pg/a", "hello world"])).toBe("OK\n");
      expect(await ok(["get", "pg/a"])).toBe("pg/a\nhello world\n");
      expect(await ok(["get", "pg/missing"])).toBe("");
      expect(await ok(["put", "pg/a", "again"])).toBe("OK\n");
      expect(await ok(["get", "pg/a", "--consistency=s"])).toMatch(
        /^pg\/a\n(hello world|again)\n$/,
      );
      expect(await ok(["get", "pg/a"])).toBe("pg/a\nagain\n");
    });

    it("get --prefix, --limit, --keys-only, --print-value-only, --order/--sort-by", async () => {
      // Written so that key order, create order and value order all differ.
      for (const [key, value] of [
        ["pf/b", "2"],
        ["pf/a", "3"],
        ["pf/c", "1"],
        ["pfx", "outside"],
      ]) {
        await ok(["put", key, value]);
      }
      await ok(["put", "pf/a", "3"]); // pf/a: version 2, the newest mod revision
      expect(await ok(["get", "--prefix", "pf/"])).toBe("pf/a\n3\npf/b\n2\npf/c\n1\n");
      expect(await ok(["get", "--prefix", "--limit=2", "pf/"])).toBe("pf/a\n3\npf/b\n2\n");
      expect(await ok(["get", "--prefix", "--keys-only", "pf/"])).toBe("pf/a\n\npf/b\n\npf/c\n\n");
      expect(await ok(["get", "--prefix", "--print-value-only", "pf/"])).toBe("3\n2\n1\n");
      const sorted = (flags: string[]) =>
        ok(["get", "--prefix", "--keys-only", ...flags, "pf/"]).then((s) =>
          s.split("\n").filter((line) => line !== ""),
        );
      expect(await sorted(["--order=DESCEND"])).toEqual(["pf/c", "pf/b", "pf/a"]);
      expect(await sorted(["--order=DESCEND", "--sort-by=KEY"])).toEqual(["pf/c", "pf/b", "pf/a"]);
      expect(await sorted(["--sort-by=CREATE"])).toEqual(["pf/b", "pf/a", "pf/c"]);
      expect(await sorted(["--sort-by=CREATE", "--order=DESCEND"])).toEqual([
        "pf/c",
        "pf/a",
        "pf/b",
      ]);
      expect(await sorted(["--sort-by=MODIFY"])).toEqual(["pf/b", "pf/c", "pf/a"]);
      expect(await sorted(["--sort-by=VERSION", "--order=DESCEND"])).toEqual([
        "pf/a",
        "pf/b",
        "pf/c",
      ]);
      expect(await sorted(["--sort-by=VALUE"])).toEqual(["pf/c", "pf/b", "pf/a"]);
      // Sorting happens before the limit.
      expect(await sorted(["--sort-by=VALUE", "--order=DESCEND", "--limit=1"])).toEqual(["pf/a"]);
      // An explicit range end: [pf/a, pf/c).
      expect(await ok(["get", "--keys-only", "pf/a", "pf/c"])).toBe("pf/a\n\npf/b\n\n");
    });

    it("get --from-key returns every key at or after the given one", async () => {
      // "zz-" sorts after every other key written by this suite but "zzz-del/" (del test).
      await ok(["put", "zz-from/a", "1"]);
      await ok(["put", "zz-from/b", "2"]);
      await ok(["put", "zz-from/c", "3"]);
      expect(await ok(["get", "--from-key", "zz-from/b"])).toBe("zz-from/b\n2\nzz-from/c\n3\n");
      expect(await ok(["get", "--from-key", "--keys-only", "--limit=1", "zz-from/a"])).toBe(
        "zz-from/a\n\n",
      );
    });

    it("-w json carries the header, base64 keys and values, revisions, version and count", async () => {
      const put1 = await json<{ header: JsonHeader }>(["put", "js/k", "v1"]);
      const put2 = await json<{ header: JsonHeader }>(["put", "js/k", "v2"]);
      const rev1 = put1.header.revision!;
      const rev2 = put2.header.revision!;
      expect(rev2).toBe(rev1 + 1);
      const ids = cluster().ids.map(String);
      expect(ids).toContain(String(put1.header.member_id));
      expect(put1.header.raft_term).toBeGreaterThan(0);

      const got = await json<JsonRange>(["get", "js/k"]);
      expect(got.header.revision).toBe(rev2);
      expect(String(got.header.cluster_id)).toBe(String(put1.header.cluster_id));
      expect(got.kvs).toEqual([
        {
          key: b64("js/k"),
          create_revision: rev1,
          mod_revision: rev2,
          version: 2,
          value: b64("v2"),
        },
      ]);
      expect(got.count).toBe(1);

      // A read at an older revision: the old value; the header still has the current revision.
      const old = await json<JsonRange>(["get", `--rev=${rev1}`, "js/k"]);
      expect(old.header.revision).toBe(rev2);
      expect(old.kvs).toEqual([
        {
          key: b64("js/k"),
          create_revision: rev1,
          mod_revision: rev1,
          version: 1,
          value: b64("v1"),
        },
      ]);
      expect(await ok(["get", `--rev=${rev1}`, "js/k"])).toBe("js/k\nv1\n");
      expect(await ok(["get", `--rev=${rev1 - 1}`, "js/k"])).toBe("");

      // count is the size of the whole range; more says the limit cut it.
      for (const key of ["js/p/1", "js/p/2", "js/p/3"]) await ok(["put", key, "x"]);
      const limited = await json<JsonRange>(["get", "--prefix", "--limit=2", "js/p/"]);
      expect(limited.count).toBe(3);
      expect(limited.more).toBe(true);
      expect(limited.kvs?.map((kv) => kv.key)).toEqual([b64("js/p/1"), b64("js/p/2")]);
      const keysOnly = await json<JsonRange>(["get", "--prefix", "--keys-only", "js/p/"]);
      expect(keysOnly.count).toBe(3);
      expect(keysOnly.more).toBeUndefined();
      expect(keysOnly.kvs?.every((kv) => kv.value === undefined)).toBe(true);

      // Nothing found: no kvs, no count (etcdctl omits zero values).
      const none = await json<JsonRange>(["get", "js/none"]);
      expect(none.kvs).toBeUndefined();
      expect(none.count).toBeUndefined();
      expect(none.header.revision).toBe(await currentRevision());
    });

    it("put --prev-kv prints the previous key and value", async () => {
      expect(await ok(["put", "--prev-kv", "pv/k", "first"])).toBe("OK\n");
      expect(await ok(["put", "--prev-kv", "pv/k", "second"])).toBe("OK\npv/k\nfirst\n");
    });

    it("del prints the number deleted; --prev-kv, --prefix, --from-key; deleting nothing keeps the revision", async () => {
      await ok(["put", "dl/a", "1"]);
      await ok(["put", "dl/b", "2"]);
      await ok(["put", "dl/c", "3"]);
      await ok(["put", "dl/d", "4"]);
      expect(await ok(["del", "dl/a"])).toBe("1\n");
      expect(await ok(["get", "dl/a"])).toBe("");
      expect(await ok(["del", "--prev-kv", "dl/b"])).toBe("1\ndl/b\n2\n");
      const before = await currentRevision();
      expect(await ok(["del", "dl/none"])).toBe("0\n");
      expect(await ok(["del", "--prefix", "dl/none/"])).toBe("0\n");
      expect(await currentRevision()).toBe(before);
      expect(await ok(["del", "--prev-kv", "--prefix", "dl/"])).toBe("2\ndl/c\n3\ndl/d\n4\n");
      expect(await currentRevision()).toBe(before + 1);
      expect(await ok(["get", "--prefix", "dl/"])).toBe("");

      await ok(["put", "zzz-del/a", "1"]);
      await ok(["put", "zzz-del/b", "2"]);
      expect(await ok(["del", "--from-key", "zzz-del/b"])).toBe("1\n");
      expect(await ok(["get", "--prefix", "zzz-del/"])).toBe("zzz-del/a\n1\n");
      // A deleted key starts over at version 1 when written again.
      await ok(["put", "dl/a", "again"]);
      const again = await json<JsonRange>(["get", "dl/a"]);
      expect(again.kvs?.[0].version).toBe(1);
      expect(again.kvs?.[0].create_revision).toBe(again.kvs?.[0].mod_revision);
    });

    const prompts =
      "compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\n";

    it("txn -i: compares on value, version, create and mod choose the success branch", async () => {
      const put = await json<{ header: JsonHeader }>(["put", "tx/k", "1"]);
      const created = put.header.revision!;
      const stdin = [
        'value("tx/k") = "1"',
        'version("tx/k") = "1"',
        `create("tx/k") = "${created}"`,
        `mod("tx/k") = "${created}"`,
        'mod("tx/k") > "0"',
        'value("tx/k") != "2"',
        'version("tx/none") = "0"',
        "",
        "put tx/k 2",
        "get tx/k",
        "",
        "put tx/failed yes",
        "",
        "",
      ].join("\n");
      expect(await ok(["txn", "-i"], stdin)).toBe(`${prompts}SUCCESS\n\nOK\n\ntx/k\n2\n`);
      expect(await ok(["get", "tx/failed"])).toBe("");
      // One transaction is one revision.
      const after = await json<JsonRange>(["get", "tx/k"]);
      expect(after.kvs?.[0].mod_revision).toBe(created + 1);
      expect(after.header.revision).toBe(created + 1);
    });

    it("txn -i: a false compare runs the failure branch", async () => {
      await ok(["put", "tf/k", "1"]);
      const stdin = [
        'value("tf/k") = "1"',
        'version("tf/k") > "5"',
        "",
        "put tf/k success",
        "",
        "put tf/k failure",
        "get tf/k",
        "del tf/other",
        "",
        "",
      ].join("\n");
      expect(await ok(["txn", "-i"], stdin)).toBe(
        `${prompts}FAILURE\n\nOK\n\ntf/k\nfailure\n\n0\n`,
      );
      // A value compare on a missing key is false whatever the operator.
      const missing = ['value("tf/none") != "x"', "", "put tf/k yes", "", "put tf/k no", "", ""];
      expect(await ok(["txn", "-i"], missing.join("\n"))).toBe(`${prompts}FAILURE\n\nOK\n`);
      expect(await ok(["get", "--print-value-only", "tf/k"])).toBe("no\n");
      // create/mod/version of a missing key compare as 0.
      const zero = ['create("tf/none") = "0"', 'mod("tf/none") < "1"', "", "get tf/k", "", "", ""];
      expect(await ok(["txn", "-i"], zero.join("\n"))).toBe(`${prompts}SUCCESS\n\ntf/k\nno\n`);
    });

    it("txn -w json reports succeeded and one response per operation", async () => {
      await ok(["put", "tj/k", "v"]);
      const stdin = ['mod("tj/k") > "0"', "", "get tj/k", "put tj/k w", "", "", ""].join("\n");
      const res = parseJsonBig(await ok(["txn", "-w", "json"], stdin)) as {
        header: JsonHeader;
        succeeded: boolean;
        responses: Record<string, Record<string, { kvs?: JsonKv[]; header: JsonHeader }>>[];
      };
      expect(res.succeeded).toBe(true);
      expect(res.responses).toHaveLength(2);
      const range = res.responses[0].Response.ResponseRange;
      expect(range.kvs?.map((kv) => kv.value)).toEqual([b64("v")]);
      expect(res.responses[1].Response.ResponsePut).toBeDefined();
      expect(range.header.revision).toBe(res.header.revision! - 1);
    });

    it("endpoint status --cluster -w json: every member, one leader, matching ids", async () => {
      const statuses = await json<
        {
          Endpoint: string;
          Status: {
            header: JsonHeader;
            version: string;
            dbSize: number;
            leader: string | number;
            raftIndex: number;
            raftTerm: number;
          };
        }[]
      >(["endpoint", "status", "--cluster"]);
      const c = cluster();
      expect(statuses.map((s) => s.Endpoint).sort()).toEqual([...c.endpoints].sort());
      const byEndpoint = new Map(statuses.map((s) => [s.Endpoint, s.Status]));
      c.members.forEach((m) => {
        expect(String(byEndpoint.get(m.clientUrl)?.header.member_id)).toBe(String(m.id));
      });
      const leaders = new Set(statuses.map((s) => String(s.Status.leader)));
      expect(leaders.size).toBe(1);
      expect(c.ids.map(String)).toContain([...leaders][0]);
      const clusterIds = new Set(statuses.map((s) => String(s.Status.header.cluster_id)));
      expect(clusterIds.size).toBe(1);
      for (const { Status } of statuses) {
        expect(Status.version).toMatch(/^3\.\d+\.\d+$/);
        expect(Status.dbSize).toBeGreaterThan(0);
        expect(Status.raftIndex).toBeGreaterThan(0);
        expect(Status.raftTerm).toBeGreaterThan(0);
      }
      if (kind === "chainfire") {
        // kube-apiserver turns RequestWatchProgress off below 3.5.13 (notes/etcd-api.md).
        const [major, minor, patch] = statuses[0].Status.version.split(".").map(Number);
        expect(major * 1e6 + minor * 1e3 + patch).toBeGreaterThanOrEqual(3_005_013);
      }
      // The simple format: endpoint, hex id, version, size, is leader, is learner, term, index...
      const table = await ok(["endpoint", "status", "--cluster"]);
      const rows = table.trim().split("\n").sort();
      expect(rows).toHaveLength(3);
      const leaderRows = rows.filter((row) => row.split(", ")[4] === "true");
      expect(leaderRows).toHaveLength(1);
      for (const row of rows) {
        const [endpoint, hexId] = row.split(", ");
        const member = c.members.find((m) => m.clientUrl === endpoint);
        expect(hexId).toBe(member?.id?.toString(16));
      }
    });

    it("endpoint health --cluster reports every member healthy", async () => {
      const result = await run(["endpoint", "health", "--cluster"]);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe("");
      const lines = result.errorText.split("\n").filter((line) => line !== "");
      const endpoints = lines.map((line) => {
        const match = /^(\S+) is healthy: successfully committed proposal: took = \S+$/.exec(line);
        expect(match, line).not.toBeNull();
        return match?.[1];
      });
      expect(endpoints.sort()).toEqual([...cluster().endpoints].sort());

      const asJson = parseJsonBig(await ok(["endpoint", "health", "--cluster", "-w", "json"])) as {
        endpoint: string;
        health: boolean;
      }[];
      expect(asJson.map((h) => [h.endpoint, h.health]).sort()).toEqual(
        cluster()
          .endpoints.map((e) => [e, true])
          .sort(),
      );
    });

    it("member list -w json: ids, names, peer and client URLs", async () => {
      const c: Cluster = cluster();
      const list = await json<{
        header: JsonHeader;
        members: { ID: string | number; name: string; peerURLs: string[]; clientURLs: string[] }[];
      }>(["member", "list"]);
      const members = list.members
        .map((m) => ({ ...m, ID: String(m.ID) }))
        .sort((a, b) => a.name.localeCompare(b.name));
      expect(members).toEqual(
        c.members.map((m) => ({
          ID: String(m.id),
          name: m.name,
          peerURLs: [m.peerUrl],
          clientURLs: [m.clientUrl],
        })),
      );
      const table = await ok(["member", "list"]);
      expect(table.trim().split("\n").sort()).toEqual(
        c.members
          .map(
            (m) => `${m.id?.toString(16)}, started, ${m.name}, ${m.peerUrl}, ${m.clientUrl}, false`,
          )
          .sort(),
      );
    });

    it("compaction; reading a compacted or future revision fails with etcd's error", async () => {
      const first = await json<{ header: JsonHeader }>(["put", "cp/k", "1"]);
      await ok(["put", "cp/k", "2"]);
      const third = await json<{ header: JsonHeader }>(["put", "cp/k", "3"]);
      const r1 = first.header.revision!;
      const r3 = third.header.revision!;
      expect(await ok(["get", `--rev=${r1}`, "cp/k"])).toBe("cp/k\n1\n");

      expect(await ok(["compaction", String(r1 + 1)])).toBe(`compacted revision ${r1 + 1}\n`);
      const compacted = await fails(["get", `--rev=${r1}`, "cp/k"]);
      expect(compacted.errorText).toBe(
        "Error: etcdserver: mvcc: required revision has been compacted\n",
      );
      expect(compacted.stderr).toContain("code = OutOfRange");
      // The compaction revision itself is still readable.
      expect(await ok(["get", `--rev=${r1 + 1}`, "cp/k"])).toBe("cp/k\n2\n");

      const future = await fails(["get", `--rev=${r3 + 1000}`, "cp/k"]);
      expect(future.errorText).toBe(
        "Error: etcdserver: mvcc: required revision is a future revision\n",
      );
      expect(future.stderr).toContain("code = OutOfRange");

      const again = await fails(["compaction", String(r1)]);
      expect(again.errorText).toBe(
        "Error: etcdserver: mvcc: required revision has been compacted\n",
      );
      const ahead = await fails(["compaction", String(r3 + 1000)]);
      expect(ahead.errorText).toBe(
        "Error: etcdserver: mvcc: required revision is a future revision\n",
      );
      expect(await ok(["compaction", "--physical", String(r3)])).toBe(`compacted revision ${r3}\n`);
      expect(await ok(["get", "cp/k"])).toBe("cp/k\n3\n");
    });
  });
}
