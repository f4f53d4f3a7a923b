/**
 * The `chainfire` command, as a process (the compiled dist/cli/main.js): --version, --help,
 * configuration errors, ctl pass-through, and one member's life — start, ready line,
 * /health, etcdctl, SIGTERM, restart from its data, snapshot save and restore.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cleanEnv,
  etcdctl,
  exitWithin,
  freePortTriples,
  haveEtcdctl,
  killAll,
  MAIN_JS,
  type Running,
  requireBuilt,
  run,
} from "./__tests__/process.js";

let tmp: string;
beforeAll(() => {
  requireBuilt();
  tmp = mkdtempSync(join(tmpdir(), "chainfire-cli-"));
});
afterAll(async () => {
  await killAll();
  rmSync(tmp, { recursive: true, force: true });
});

async function runToEnd(args: string[], env?: NodeJS.ProcessEnv) {
  const r = run(MAIN_JS, args, { cwd: tmp, env });
  const { code } = await exitWithin(r, 15_000);
  return { code, out: r.lines.join("\n") };
}

describe("chainfire (no member)", () => {
  it("--version prints etcd-style version lines", async () => {
    const { code, out } = await runToEnd(["--version"]);
    expect(code).toBe(0);
    const lines = out.trim().split("\n");
    expect(lines[0]).toBe("chainfire Version: 0.1.0");
    expect(lines[1]).toBe("etcd Version: 3.5.13");
    expect(lines[2]).toMatch(/^Git SHA: ([0-9a-f]{9}|unknown)$/);
    expect(lines[3]).toBe(`Node Version: ${process.version}`);
    expect(lines[4]).toBe(`OS/Arch: ${process.platform}/${process.arch}`);
  });

  it("--help lists the etcd flags", async () => {
    const { code, out } = await runToEnd(["--help"]);
    expect(code).toBe(0);
    for (const flag of ["--initial-cluster ", "--listen-metrics-urls", "--heartbeat-interval"]) {
      expect(out).toContain(flag);
    }
  });

  it("a bad configuration exits 1 listing every problem", async () => {
    const { code, out } = await runToEnd(
      ["--heartbeat-interval=1000", "--listen-client-urls=https://127.0.0.1:1"],
      { CHAINFIRE_NAME: "" },
    );
    expect(code).toBe(1);
    expect(out).toContain("chainfire: invalid configuration:");
    expect(out).toContain(
      "--heartbeat-interval (1000 ms) must be less than --election-timeout (1000 ms)",
    );
    expect(out).toContain(
      "--listen-client-urls uses https:// but there is no certificate: give --cert-file and --key-file",
    );
  });

  it("snapshot: unknown subcommands and missing files are errors", async () => {
    expect((await runToEnd(["snapshot", "save", "x"])).code).toBe(2);
    expect((await runToEnd(["snapshot", "restore"])).code).toBe(2);
    const missing = await runToEnd([
      "snapshot",
      "restore",
      "nope.db",
      "--data-dir",
      join(tmp, "r"),
    ]);
    expect(missing.code).toBe(1);
    expect(missing.out).toContain('snapshot file "nope.db" does not exist');
  });

  it("ctl runs the client CLI with the remaining arguments and its exit code", async () => {
    const fake = join(tmp, "fake-ctl.mjs");
    writeFileSync(fake, "console.log(JSON.stringify(process.argv.slice(2))); process.exit(3);\n");
    const { code, out } = await runToEnd(["ctl", "get", "--prefix", "/a", "--version"], {
      CHAINFIRECTL: fake,
    });
    expect(code).toBe(3);
    expect(out.trim()).toBe('["get","--prefix","/a","--version"]');
  });
});

describe("chainfire (one member)", () => {
  let base: number;
  let clientUrl: string;
  let metricsUrl: string;
  let flags: string[];
  let member: Running | undefined;

  beforeAll(async () => {
    [base] = (await freePortTriples(1)) as [number];
    clientUrl = `http://127.0.0.1:${base}`;
    metricsUrl = `http://127.0.0.1:${base + 2}`;
    flags = [
      "--name=solo",
      `--data-dir=${join(tmp, "solo")}`,
      `--listen-client-urls=${clientUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${base + 1}`,
      `--listen-metrics-urls=${metricsUrl}`,
    ];
  });

  async function start(env?: NodeJS.ProcessEnv): Promise<Running> {
    member = run(MAIN_JS, flags, { cwd: tmp, env, stdin: env ? "pipe" : "ignore" });
    const line = await member.waitForLine(/"msg":"ready to serve client requests"/, 30_000);
    expect(JSON.parse(line)).toMatchObject({
      level: "info",
      name: "solo",
      clientUrls: [clientUrl],
    });
    return member;
  }

  async function stop(): Promise<void> {
    member!.child.kill("SIGTERM");
    expect(await exitWithin(member!, 15_000)).toEqual({ code: 0, signal: null });
    member = undefined;
  }

  it("starts, reports healthy, serves etcdctl and stops cleanly on SIGTERM", async () => {
    await start();
    const health = await fetch(`${metricsUrl}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ health: "true", reason: "" });
    if (haveEtcdctl()) {
      const [status] = JSON.parse(
        await etcdctl(clientUrl, ["endpoint", "status", "-w", "json"]),
      ) as {
        Endpoint: string;
        Status: {
          header: { member_id: number };
          version: string;
          leader: number;
          raftTerm: number;
        };
      }[];
      expect(status!.Endpoint).toBe(clientUrl);
      expect(status!.Status.version).toBe("3.5.13");
      expect(status!.Status.leader).toBe(status!.Status.header.member_id);
      expect(await etcdctl(clientUrl, ["endpoint", "health"], true)).toMatch(/is healthy/);
      expect((await etcdctl(clientUrl, ["put", "greeting", "hello"])).trim()).toBe("OK");
      expect((await etcdctl(clientUrl, ["put", "greeting", "hello again"])).trim()).toBe("OK");
    }
    await stop();
  });

  it.skipIf(!haveEtcdctl())("restarts from its data dir and keeps the data", async () => {
    await start();
    expect(await etcdctl(clientUrl, ["get", "greeting", "--print-value-only"])).toBe(
      "hello again\n",
    );
  });

  it.skipIf(!haveEtcdctl())(
    "snapshot save (etcdctl) → chainfire snapshot restore → a new cluster with the same revisions",
    async () => {
      const snap = join(tmp, "snap.db");
      await etcdctl(clientUrl, ["snapshot", "save", snap]);
      const before = JSON.parse(await etcdctl(clientUrl, ["get", "greeting", "-w", "json"])) as {
        kvs: { mod_revision: number; create_revision: number; version: number }[];
      };
      await stop();

      const [rb] = (await freePortTriples(1)) as [number];
      const peer = `http://127.0.0.1:${rb + 1}`;
      const restoreFlags = [
        "--name=r1",
        `--data-dir=${join(tmp, "restored")}`,
        `--initial-cluster=r1=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        "--initial-cluster-token=restored",
      ];
      const restored = await runToEnd(["snapshot", "restore", snap, ...restoreFlags]);
      expect(restored.code).toBe(0);
      expect(restored.out).toMatch(/^restored snapshot into .*restored$/m);

      const client2 = `http://127.0.0.1:${rb}`;
      member = run(MAIN_JS, [
        ...restoreFlags,
        `--listen-client-urls=${client2}`,
        `--listen-peer-urls=${peer}`,
        `--listen-metrics-urls=http://127.0.0.1:${rb + 2}`,
      ]);
      await member.waitForLine(/"msg":"ready to serve client requests"/, 30_000);
      const after = JSON.parse(
        await etcdctl(client2, ["get", "greeting", "-w", "json"]),
      ) as typeof before & {
        header: { cluster_id: number };
      };
      expect(after.kvs[0]).toEqual(before.kvs[0]);
      const again = await runToEnd(["snapshot", "restore", snap, ...restoreFlags]);
      expect(again.code).toBe(1);
      expect(again.out).toContain("exists and is not empty");
      await stop();
    },
  );

  it("with CHAINFIRE_STDIN_LIFELINE=1, stops cleanly when its supervisor's pipe closes", async () => {
    const m = await start({ CHAINFIRE_STDIN_LIFELINE: "1" });
    m.child.stdin!.end();
    expect(await exitWithin(m, 15_000)).toEqual({ code: 0, signal: null });
    member = undefined;
  });

  it.skipIf(!haveEtcdctl())(
    "collects the garbage of a burst once idle (idle-gc.ts, debug log)",
    async () => {
      const m = await start({ CHAINFIRE_LOG_LEVEL: "debug" });
      // 24 puts of 1 MiB: request, entry and write Buffers the member drops afterwards.
      const value = Buffer.alloc(2 ** 20, 0x62);
      for (let i = 0; i < 24; i++) {
        execFileSync("etcdctl", [`--endpoints=${clientUrl}`, "put", `burst-${i}`], {
          input: value,
          env: cleanEnv({ ETCDCTL_API: "3" }),
          timeout: 20_000,
        });
      }
      const line = await m.waitForLine(/"msg":"idle: collected garbage"/, 30_000);
      const { beforeBytes, afterBytes } = JSON.parse(line) as {
        beforeBytes: number;
        afterBytes: number;
      };
      expect(afterBytes).toBeLessThan(beforeBytes);
      await stop();
    },
    60_000,
  );
});
