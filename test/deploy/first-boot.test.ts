/**
 * The first-boot scripts of nix/modules, run for real: format-if-blank.sh against
 * file-backed "disks" (blkid probes files as it probes block devices), and
 * chainfire-join.sh against a real three-member etcd 3.4 cluster on loopback — including
 * a whole member replacement that ends with the replacement member running.
 */
import { type ChildProcess, type StdioOptions, spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compatTargets } from "../compat/targets.js";
import {
  allocatePorts,
  CHAINFIRE_MAIN,
  type Cluster,
  type MemberKind,
  pollUntil,
} from "../harness/index.js";
import { useCluster } from "../harness/vitest.js";
import { REPO, requireTool, run } from "./tools.js";

const FORMAT = join(REPO, "nix/modules/format-if-blank.sh");
const JOIN = join(REPO, "nix/modules/chainfire-join.sh");

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "cf-first-boot-"));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe("format-if-blank.sh", () => {
  beforeAll(() => {
    requireTool("blkid");
    requireTool("mkfs.ext4");
  });

  /** A fake disko format script: counts its runs and puts ext4 on every disk. */
  function formatScript(dir: string, disks: string[]): { script: string; runs: () => number } {
    const count = join(dir, "format-runs");
    const script = join(dir, "disko-format");
    writeFileSync(
      script,
      `#!/bin/sh\nset -e\necho run >> ${count}\n${disks.map((d) => `mkfs.ext4 -q -F ${d}`).join("\n")}\n`,
      { mode: 0o755 },
    );
    return {
      script,
      runs: () => (existsSync(count) ? readFileSync(count, "utf8").split("\n").length - 1 : 0),
    };
  }

  function blankDisk(dir: string, name: string): string {
    const path = join(dir, name);
    writeFileSync(path, "");
    truncateSync(path, 16 * 1024 * 1024);
    return path;
  }

  it("formats blank disks once, then leaves them alone on every later boot", () => {
    const dir = mkdtempSync(join(work, "fmt-"));
    const disks = [blankDisk(dir, "a.img"), blankDisk(dir, "b.img")];
    const fake = formatScript(dir, disks);

    const first = run("bash", [FORMAT, fake.script, ...disks]);
    expect(first.stderr).toContain("running");
    expect(first.code).toBe(0);
    expect(fake.runs()).toBe(1);
    expect(run("blkid", ["-p", "-o", "value", "-s", "TYPE", disks[0]]).stdout.trim()).toBe("ext4");

    const second = run("bash", [FORMAT, fake.script, ...disks]);
    expect(second.code).toBe(0);
    expect(second.stderr).toContain("nothing to format");
    expect(fake.runs()).toBe(1);
  });

  it("refuses a half-provisioned layout (one blank disk, one in use)", () => {
    const dir = mkdtempSync(join(work, "fmt-"));
    const used = blankDisk(dir, "used.img");
    expect(run("mkfs.ext4", ["-q", "-F", used]).code).toBe(0);
    const blank = blankDisk(dir, "blank.img");
    const fake = formatScript(dir, [used, blank]);

    const result = run("bash", [FORMAT, fake.script, used, blank]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("refusing to format");
    expect(fake.runs()).toBe(0);
  });

  it("gives up on a device that never appears", () => {
    const dir = mkdtempSync(join(work, "fmt-"));
    const fake = formatScript(dir, []);
    const result = run("bash", [FORMAT, fake.script, join(dir, "missing")], {
      env: { ...process.env, WAIT_SECONDS: "1" },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("did not appear");
    expect(fake.runs()).toBe(0);
  });
});

// The same targets as the compatibility suites: etcd 3.4 until Chainfire serves the API
// by default, Chainfire with CHAINFIRE_COMPAT_TARGETS=chainfire (or both).
for (const kind of compatTargets()) describeJoin(kind);

function describeJoin(kind: MemberKind) {
  describe(`chainfire-join.sh against ${kind}`, () => {
    beforeAll(() => {
      requireTool("etcdctl");
      if (kind === "etcd") requireTool("etcd");
    });
    const cluster = useCluster({ kind, size: 3 });
    const REPLACED = 2;
    let replacement: ChildProcess | undefined;
    afterAll(() => {
      replacement?.kill("SIGKILL");
    });

    interface Decision {
      code: number | null;
      stderr: string;
      env: Record<string, string>;
    }

    /** Runs the join script as member `i` of `c` with `dataDir`, asking `endpoints`. */
    function decideJoin(c: Cluster, i: number, dataDir: string, endpoints?: string[]): Decision {
      const envFile = join(dataDir, "..", `${join(dataDir).split("/").pop()}.env`);
      const member = c.member(i);
      const others = c.endpoints.filter((_, j) => j !== i);
      const result = run("bash", [JOIN], {
        env: {
          PATH: process.env.PATH,
          CHAINFIRE_NAME: member.name,
          CHAINFIRE_DATA_DIR: dataDir,
          CHAINFIRE_INITIAL_ADVERTISE_PEER_URLS: member.peerUrl,
          JOIN_ENDPOINTS: (endpoints ?? others).join(","),
          JOIN_ENV_FILE: envFile,
          JOIN_COMMAND_TIMEOUT: "5s",
        },
        timeoutMs: 30_000,
      });
      const env: Record<string, string> = {};
      if (existsSync(envFile)) {
        for (const line of readFileSync(envFile, "utf8").split("\n").filter(Boolean)) {
          const eq = line.indexOf("=");
          env[line.slice(0, eq)] = line.slice(eq + 1);
        }
      }
      return { code: result.code, stderr: result.stderr, env };
    }

    async function memberList(c: Cluster): Promise<string[][]> {
      const result = run(
        "etcdctl",
        [`--endpoints=${c.endpoints[0]}`, "member", "list", "-w", "simple"],
        {
          env: { ...process.env, ETCDCTL_API: "3" },
        },
      );
      expect(result.code).toBe(0);
      return result.stdout
        .trim()
        .split("\n")
        .map((line) => line.split(", "));
    }

    const dataDir = (name: string) => {
      const dir = join(work, name);
      mkdirSync(dir, { recursive: true });
      return dir;
    };

    it("a data dir holding member data starts as it is (no cluster asked)", () => {
      const dir = dataDir("has-data");
      mkdirSync(join(dir, "member"));
      const decision = decideJoin(cluster(), 0, dir, ["http://127.0.0.1:1"]);
      expect(decision.code).toBe(0);
      expect(decision.stderr).toContain("holds member data");
      expect(decision.env).toEqual({});
    });

    it("no member answers: first bootstrap, state new", async () => {
      const unused = await allocatePorts(2);
      const decision = decideJoin(
        cluster(),
        0,
        dataDir("bootstrap"),
        unused.map((p) => `http://127.0.0.1:${p}`),
      );
      expect(decision.code).toBe(0);
      expect(decision.env).toEqual({ CHAINFIRE_INITIAL_CLUSTER_STATE: "new" });
    });

    it("a member that ran before comes back empty: replaced, joins as existing, and runs", async () => {
      const c = cluster();
      const old = c.member(REPLACED);
      const before = await memberList(c);
      const oldId = before.find((m) => m[3] === old.peerUrl)?.[0];
      expect(oldId).toBeDefined();
      await c.kill(REPLACED);
      await c.waitForLeader();

      const dir = dataDir("replaced");
      const decision = decideJoin(c, REPLACED, dir);
      expect(decision.stderr).toContain("replacing it");
      expect(decision.code, decision.stderr).toBe(0);
      expect(decision.env.CHAINFIRE_INITIAL_CLUSTER_STATE).toBe("existing");
      expect(decision.env.CHAINFIRE_INITIAL_CLUSTER?.split(",").sort()).toEqual(
        c.members.map((m) => `${m.name}=${m.peerUrl}`).sort(),
      );
      const after = await memberList(c);
      const added = after.find((m) => m[3] === old.peerUrl);
      expect(added?.[0]).not.toBe(oldId);
      expect(added?.[1]).toBe("unstarted");
      expect(existsSync(join(dir, ".chainfire-join"))).toBe(true);
      expect(existsSync(join(dir, ".chainfire-join.pending"))).toBe(false);

      // A reboot before the member wrote anything repeats the decision, adds nothing.
      const again = decideJoin(c, REPLACED, dir);
      expect(again.stderr).toContain("reusing the decision");
      expect(again.env).toEqual(decision.env);
      expect(await memberList(c)).toHaveLength(3);

      // A boot that died between `member add` and deciding (pending marker) rebuilds the
      // same initial cluster from the member list.
      const crashed = dataDir("crashed");
      writeFileSync(join(crashed, ".chainfire-join.pending"), "");
      const recovered = decideJoin(c, REPLACED, crashed);
      expect(recovered.code).toBe(0);
      expect(recovered.env.CHAINFIRE_INITIAL_CLUSTER_STATE).toBe("existing");
      expect(recovered.env.CHAINFIRE_INITIAL_CLUSTER?.split(",").sort()).toEqual(
        decision.env.CHAINFIRE_INITIAL_CLUSTER?.split(",").sort(),
      );

      // The replacement starts with the decision and the cluster takes it in.
      const port = (url: string) => url.split(":").pop();
      const flags = [
        `--name=${old.name}`,
        `--data-dir=${dir}`,
        `--listen-client-urls=${old.clientUrl}`,
        `--advertise-client-urls=${old.clientUrl}`,
        `--listen-peer-urls=${old.peerUrl}`,
        `--initial-advertise-peer-urls=${old.peerUrl}`,
        `--initial-cluster=${decision.env.CHAINFIRE_INITIAL_CLUSTER}`,
        `--initial-cluster-state=${decision.env.CHAINFIRE_INITIAL_CLUSTER_STATE}`,
        `--listen-metrics-urls=http://127.0.0.1:${port(old.metricsUrl)}`,
      ];
      const replacementLog = join(work, "replacement.log");
      const logFd = openSync(replacementLog, "w");
      const stdio: StdioOptions = ["ignore", "ignore", logFd];
      replacement =
        kind === "etcd"
          ? spawn(
              process.env.ETCD_BIN ?? "etcd",
              [...flags, "--logger=zap", "--log-outputs=stderr"],
              { stdio },
            )
          : spawn(process.execPath, [CHAINFIRE_MAIN, ...flags], { stdio });
      closeSync(logFd); // the child holds its own copy
      try {
        await pollUntil(
          async () => {
            const list = await memberList(c);
            const row = list.find((m) => m[3] === old.peerUrl);
            return row?.[1] === "started" && row[2] === old.name ? true : undefined;
          },
          { timeoutMs: 20_000, intervalMs: 500, what: "the replacement member to start" },
        );
      } catch (error) {
        const log = readFileSync(replacementLog, "utf8");
        throw new Error(`${(error as Error).message}; its log ends:\n${log.slice(-3000)}`);
      }
      const health = run("etcdctl", [`--endpoints=${old.clientUrl}`, "endpoint", "health"], {
        env: { ...process.env, ETCDCTL_API: "3" },
      });
      expect(health.code).toBe(0);
    }, 60_000);

    it("a member listed as unstarted joins the bootstrap under way (state new)", async () => {
      const c = cluster();
      // Add a fourth member that never starts: the state every member is in while the
      // cluster's first boot is still under way.
      const [peerPort] = await allocatePorts(1);
      const peerUrl = `http://127.0.0.1:${peerPort}`;
      // etcd accepts a voting member only once every member has been connected for 5 s.
      await pollUntil(
        () => {
          const add = run(
            "etcdctl",
            [`--endpoints=${c.endpoints[0]}`, "member", "add", "n4", `--peer-urls=${peerUrl}`],
            { env: { ...process.env, ETCDCTL_API: "3" } },
          );
          return add.code === 0 ? true : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 1000, what: "etcd to accept member n4" },
      );
      const dir = dataDir("unstarted");
      const envFile = join(work, "unstarted.env");
      const result = run("bash", [JOIN], {
        env: {
          PATH: process.env.PATH,
          CHAINFIRE_NAME: "n4",
          CHAINFIRE_DATA_DIR: dir,
          CHAINFIRE_INITIAL_ADVERTISE_PEER_URLS: peerUrl,
          JOIN_ENDPOINTS: c.endpoints.slice(0, 2).join(","),
          JOIN_ENV_FILE: envFile,
        },
      });
      expect(result.stderr).toContain("has never started");
      expect(result.code).toBe(0);
      expect(readFileSync(envFile, "utf8")).toBe("CHAINFIRE_INITIAL_CLUSTER_STATE=new\n");
    }, 60_000);
  });
}
