import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { notYetOnChainfire, TestCluster, targetUnavailable } from "../__tests__/cluster.js";
import { hexId } from "../bytes.js";
import { Client } from "../client.js";
import type { CliIo } from "./io.js";
import { runCli } from "./run.js";

const execFileP = promisify(execFile);
const skip = targetUnavailable();
const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "../../../..");

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe.skipIf(skip !== undefined)("chainfirectl against a live member", () => {
  let cluster: TestCluster;
  let client: Client;
  let dir: string;
  let ep: string;

  async function cli(
    args: string[],
    opts: { stdin?: string; tty?: boolean; env?: Record<string, string>; endpoints?: boolean } = {},
  ): Promise<Result> {
    let stdout = "";
    let stderr = "";
    const io: CliIo = {
      stdout: { write: (c) => void (stdout += c.toString()), isTTY: opts.tty, columns: 100 },
      stderr: { write: (c) => void (stderr += c.toString()), isTTY: opts.tty, columns: 100 },
      stdin: (async function* () {
        if (opts.stdin !== undefined) yield opts.stdin;
      })(),
      env: opts.env ?? {},
    };
    const withEndpoints = opts.endpoints === false ? args : [`--endpoints=${ep}`, ...args];
    const code = await runCli(withEndpoints, io);
    return { code, stdout, stderr };
  }

  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 1 });
    ep = cluster.endpoints[0];
    client = new Client({ endpoints: cluster.endpoints });
    dir = mkdtempSync(join(tmpdir(), "chainfirectl-test-"));
  });

  afterAll(async () => {
    await client?.close();
    await cluster?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("put and get, in simple, json and table formats", async () => {
    expect(await cli(["put", "cli/a", "alpha"])).toEqual({ code: 0, stdout: "OK\n", stderr: "" });
    expect((await cli(["put", "cli/b"], { stdin: "from stdin\n" })).code).toBe(0);
    expect((await cli(["get", "cli/a"])).stdout).toBe("cli/a\nalpha\n");
    expect((await cli(["get", "cli/b", "--print-value-only"])).stdout).toBe("from stdin\n");
    expect((await cli(["get", "cli/", "--prefix", "--keys-only"])).stdout).toBe(
      "cli/a\n\ncli/b\n\n",
    );
    expect((await cli(["get", "cli/", "--prefix", "--count-only"])).stdout).toBe("2\n");
    expect(
      (await cli(["get", "cli/a", "cli/c", "--limit=1", "--sort-by=KEY", "--order=DESCEND"]))
        .stdout,
    ).toBe("cli/b\nfrom stdin\n");
    const json = JSON.parse((await cli(["get", "cli/a", "-w", "json"])).stdout);
    expect(Buffer.from(json.kvs[0].key, "base64").toString()).toBe("cli/a");
    expect(Buffer.from(json.kvs[0].value, "base64").toString()).toBe("alpha");
    expect(json.count).toBe(1);
    expect(json.header.revision).toBeGreaterThan(0);
    const table = (await cli(["get", "cli/", "--prefix", "-w", "table"])).stdout;
    expect(table).toContain("| KEY   | VALUE      |");
    expect(table).toContain("| cli/a | alpha      |");
    const rev = json.kvs[0].mod_revision as number;
    await cli(["put", "cli/a", "alpha2", "--prev-kv"]).then((r) =>
      expect(r.stdout).toBe("OK\ncli/a\nalpha\n"),
    );
    expect((await cli(["get", "cli/a", `--rev=${rev}`, "--consistency=s"])).stdout).toBe(
      "cli/a\nalpha\n",
    );
    expect((await cli(["get", "cli/missing"])).stdout).toBe("");
  });

  it("del with prefix and prev-kv", async () => {
    await client.put("cli-del/a", "1");
    await client.put("cli-del/b", "2");
    expect((await cli(["del", "cli-del/a", "--prev-kv"])).stdout).toBe("1\ncli-del/a\n1\n");
    expect((await cli(["del", "cli-del/", "--prefix"])).stdout).toBe("1\n");
  });

  it("txn from stdin (etcdctl syntax), both branches, and malformed input", async () => {
    await client.put("cli-txn/k", "v");
    const input =
      'value("cli-txn/k") = "v"\nmod("cli-txn/k") > "0"\n\nput cli-txn/k "new value"\nget cli-txn/k\n\nget cli-txn/k\n';
    const ok = await cli(["txn"], { stdin: input });
    expect(ok).toEqual({ code: 0, stdout: "SUCCESS\n\nOK\n\ncli-txn/k\nnew value\n", stderr: "" });
    const failed = await cli(["txn"], { stdin: input });
    expect(failed.stdout).toBe("FAILURE\n\ncli-txn/k\nnew value\n");
    const bad = await cli(["txn"], { stdin: 'bogus("k") = "1"\n\n' });
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain("malformed comparison");
    const json = JSON.parse(
      (await cli(["txn", "-w", "json"], { stdin: "\nget cli-txn/k\n" })).stdout,
    );
    expect(json.succeeded).toBe(true);
    expect(json.responses[0].response_range.count).toBe(1);
  });

  it("watch replays from a revision and stops after --max-events", async () => {
    const first = await client.put("cli-w/k", "1");
    await client.put("cli-w/k", "2");
    await client.delete("cli-w/k");
    const r = await cli([
      "watch",
      "cli-w/",
      "--prefix",
      `--rev=${first.revision}`,
      "--max-events=3",
    ]);
    expect(r).toEqual({
      code: 0,
      stdout: "PUT\ncli-w/k\n1\nPUT\ncli-w/k\n2\nDELETE\ncli-w/k\n\n",
      stderr: "",
    });
  });

  it("lease grant, list, timetolive, keep-alive, revoke", async () => {
    const granted = await cli(["lease", "grant", "60"]);
    const id = /^lease ([0-9a-f]+) granted with TTL\(60s\)\n$/.exec(granted.stdout)?.[1];
    expect(id).toBeDefined();
    expect((await cli(["put", "cli-l/k", "v", `--lease=${id}`])).code).toBe(0);
    expect((await cli(["lease", "list"])).stdout).toContain(`${id}\n`);
    const ttl = (await cli(["lease", "timetolive", id as string, "--keys"])).stdout;
    expect(ttl).toMatch(
      new RegExp(
        `^lease ${id} granted with TTL\\(60s\\), remaining\\(\\d+s\\), attached keys\\(\\[cli-l/k\\]\\)\\n$`,
      ),
    );
    expect((await cli(["lease", "keep-alive", id as string, "--once"])).stdout).toBe(
      `lease ${id} keepalived with TTL(60)\n`,
    );
    expect((await cli(["lease", "revoke", id as string])).stdout).toBe(`lease ${id} revoked\n`);
    expect((await cli(["lease", "timetolive", id as string])).stdout).toBe(
      `lease ${id} already expired\n`,
    );
    const again = await cli(["lease", "revoke", id as string]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe("Error: etcdserver: requested lease not found\n");
    expect((await cli(["lease", "revoke", "not-hex"])).code).toBe(3);
  });

  it("member list/add/remove, endpoint status/health/hashkv, alarms, defrag, compaction", async () => {
    const members = (await cli(["member", "list"])).stdout;
    const id = (await client.maintenance.status()).header.memberId;
    expect(members).toBe(
      `${hexId(id)}, started, m1, ${cluster.members[0].peerUrl}, ${ep}, false\n`,
    );
    expect((await cli(["member", "list", "-w", "table"])).stdout).toContain("| ID ");
    const added = await cli([
      "member",
      "add",
      "newbie",
      "--peer-urls=http://127.0.0.1:9",
      "--learner",
    ]);
    expect(added.code).toBe(0);
    const newId = /^Member ([0-9a-f]+) added to cluster [0-9a-f]+\n/.exec(added.stdout)?.[1];
    expect(added.stdout).toContain('ETCD_INITIAL_CLUSTER_STATE="existing"');
    const removed = await cli(["member", "remove", newId as string]);
    expect(removed.stdout).toMatch(/^Member [0-9a-f]+ removed from cluster/);

    const status = (await cli(["endpoint", "status"])).stdout;
    expect(status).toMatch(
      new RegExp(
        `^${ep}, ${hexId(id)}, \\d+\\.\\d+\\.\\d+, [\\d.]+ \\w?B, true, false, \\d+, \\d+, \\d+, \\n$`,
      ),
    );
    const statusJson = JSON.parse(
      (await cli(["endpoint", "status", "-w", "json", "--cluster"])).stdout,
    );
    expect(statusJson[0].Endpoint).toBe(ep);
    expect((await cli(["endpoint", "health"])).stdout).toMatch(
      /is healthy: successfully committed proposal: took = \d+ms\n$/,
    );
    expect((await cli(["endpoint", "hashkv"])).stdout).toMatch(new RegExp(`^${ep}, \\d+\\n$`));
    expect(await cli(["alarm", "list"])).toEqual({ code: 0, stdout: "", stderr: "" });
    expect((await cli(["alarm", "disarm"])).code).toBe(0);
    expect((await cli(["defrag"])).stdout).toBe(`Finished defragmenting etcd member[${ep}]\n`);
    const rev = (await client.put("cli-c/k", "v")).revision;
    expect((await cli(["compaction", String(rev)])).stdout).toBe(`compacted revision ${rev}\n`);
    const bad = await cli(["move-leader", "ffff"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("bad leader transferee");
  });

  it.skipIf(
    notYetOnChainfire(
      "etcdctl snapshot status reads bolt files; Chainfire snapshots are its own format",
    ),
  )("snapshot save writes a file etcdctl accepts; progress bar only on a terminal", async () => {
    const plain = join(dir, "plain.db");
    const r = await cli(["snapshot", "save", plain]);
    expect(r).toEqual({ code: 0, stdout: `Snapshot saved at ${plain}\n`, stderr: "" });
    const { stdout } = await execFileP("etcdctl", ["snapshot", "status", plain, "-w", "json"], {
      env: { ...process.env, ETCDCTL_API: "3" },
    });
    expect(JSON.parse(stdout).totalKey).toBeGreaterThan(0);
    const tty = await cli(["snapshot", "save", join(dir, "tty.db")], { tty: true });
    expect(tty.stderr).toMatch(/\rsnapshot \[#+\] 100%/);
    const twoEndpoints = await cli(
      [`--endpoints=${ep},${ep}`, "snapshot", "save", join(dir, "x.db")],
      { endpoints: false },
    );
    expect(twoEndpoints.code).toBe(3);
  });

  it("exit codes scripts can rely on", async () => {
    expect((await cli(["frobnicate"])).code).toBe(128); // usage
    expect((await cli(["get"])).code).toBe(128);
    expect((await cli(["put", "", "x"])).code).toBe(3); // invalid input (etcdserver: key is not provided)
    const down = await cli(
      ["--endpoints=127.0.0.1:1", "--dial-timeout=200ms", "--command-timeout=500ms", "get", "k"],
      {
        endpoints: false,
      },
    );
    expect(down.code).toBe(2); // bad connection
    expect((await cli(["--cacert=/nonexistent/ca.pem", "get", "k"])).code).toBe(6); // I/O
    expect((await cli(["--write-out=yaml", "get", "k"])).code).toBe(128);
  });

  it("colour only on a terminal, unless NO_COLOR; endpoints from the environment", async () => {
    const onTty = await cli(["endpoint", "health"], { tty: true });
    expect(onTty.stdout).toContain("\u001b[32mhealthy\u001b[39m");
    const noColor = await cli(["endpoint", "health"], { tty: true, env: { NO_COLOR: "1" } });
    expect(noColor.stdout).not.toContain("\u001b[");
    const pipe = await cli(["endpoint", "health"]);
    expect(pipe.stdout).not.toContain("\u001b[");
    await client.put("cli-env/k", "v");
    const viaEnv = await cli(["get", "cli-env/k"], {
      endpoints: false,
      env: { CHAINFIRECTL_ENDPOINTS: ep },
    });
    expect(viaEnv.stdout).toBe("cli-env/k\nv\n");
    const viaEtcdEnv = await cli(["get", "cli-env/k", "--print-value-only"], {
      endpoints: false,
      env: { ETCDCTL_ENDPOINTS: ep },
    });
    expect(viaEtcdEnv.stdout).toBe("v\n");
    expect((await cli(["version"])).stdout).toContain("chainfirectl version:");
    expect((await cli(["--help"])).stdout).toContain("Commands:");
  });

  it("the chainfirectl executable exits with the code and prints no colour into a pipe", async () => {
    await client.put("cli-bin/k", "v");
    const main = join(REPO, "packages/client/src/cli/main.ts");
    const run = (args: string[]) =>
      execFileP(process.execPath, ["--import", "tsx", main, `--endpoints=${ep}`, ...args], {
        cwd: REPO,
      }).then(
        (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({
          code: e.code,
          stdout: e.stdout,
          stderr: e.stderr,
        }),
      );
    expect(await run(["get", "cli-bin/k"])).toEqual({
      code: 0,
      stdout: "cli-bin/k\nv\n",
      stderr: "",
    });
    const failed = await run(["lease", "revoke", "1"]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toBe("Error: etcdserver: requested lease not found\n");
  });
});
