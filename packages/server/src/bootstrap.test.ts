import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { testLogger } from "./__tests__/cluster.js";
import {
  BOOTSTRAP_INDEX,
  BootstrapError,
  bootstrap,
  closeStorage,
  dbDirOf,
  engineOptionsFromEnv,
  type MemberStorage,
  openStorage,
} from "./bootstrap.js";
import { computeClusterId, computeMemberId } from "./ids.js";
import { DEFAULT_MEMBER_OPTIONS, type MemberOptions } from "./member-options.js";

const logger = testLogger("bootstrap");
const cluster = new Map([
  ["a", ["http://127.0.0.1:12380"]],
  ["b", ["http://127.0.0.1:22380"]],
  ["c", ["http://127.0.0.1:32380"]],
]);

function options(dir: string, name: string, over: Partial<MemberOptions> = {}): MemberOptions {
  return {
    ...DEFAULT_MEMBER_OPTIONS,
    name,
    dataDir: path.join(dir, name),
    initialCluster: cluster,
    initialAdvertisePeerUrls: cluster.get(name) ?? [],
    initialClusterToken: "tok",
    logLevel: "silent",
    ...over,
  };
}

describe("bootstrap", () => {
  const open: MemberStorage[] = [];
  const dirs: string[] = [];
  const tmp = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), "chainfire-bootstrap-"));
    dirs.push(d);
    return d;
  };
  const openFor = async (o: MemberOptions) => {
    const s = await openStorage(dbDirOf(o.dataDir), logger);
    open.push(s);
    return s;
  };
  afterEach(async () => {
    for (const s of open.splice(0)) await closeStorage(s).catch(() => {});
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it("gives every initial member the same state: etcd ids, all voters, a log starting after index 1", async () => {
    const dir = tmp();
    const results = [];
    const states = [];
    for (const name of ["a", "b", "c"]) {
      const s = await openFor(options(dir, name));
      results.push(await bootstrap(s, options(dir, name), logger));
      states.push({
        members: s.meta.members(),
        confState: s.meta.confState,
        applied: s.meta.appliedIndex,
        clusterId: s.meta.clusterId,
        snapshot: s.log.snapshot().metadata,
        firstIndex: s.log.firstIndex(),
        lastIndex: s.log.lastIndex(),
        hardState: s.log.hardState,
      });
    }
    const ids = [...cluster.values()].map((u) => computeMemberId(u, "tok"));
    expect(results.map((r) => r.memberId)).toEqual(ids);
    expect(new Set(results.map((r) => r.clusterId))).toEqual(new Set([computeClusterId(ids)]));
    expect(states[1]).toEqual(states[0]);
    expect(states[2]).toEqual(states[0]);
    const s = states[0];
    expect(s.applied).toBe(BOOTSTRAP_INDEX);
    expect(s.firstIndex).toBe(BOOTSTRAP_INDEX + 1);
    expect(s.confState.voters.sort()).toEqual([...ids].sort());
    expect(s.members.map((m) => m.name).sort()).toEqual(["a", "b", "c"]);
  });

  it("reloads an existing data dir and ignores --initial-cluster on restart", async () => {
    const dir = tmp();
    const o = options(dir, "a");
    const s = await openFor(o);
    const first = await bootstrap(s, o, logger);
    await closeStorage(open.pop()!);
    // Flags describing a bigger cluster later (membership changed): still the same member.
    const grown = new Map([...cluster, ["d", ["http://127.0.0.1:42380"]]]);
    const s2 = await openFor(o);
    const again = await bootstrap(s2, { ...o, initialCluster: grown }, logger);
    expect(again).toEqual({ ...first, how: "restart" });
  });

  it("refuses a data dir of another cluster", async () => {
    const dir = tmp();
    const o = options(dir, "a");
    await bootstrap(await openFor(o), o, logger);
    await closeStorage(open.pop()!);
    const other = { ...o, initialClusterToken: "another-cluster" };
    await expect(bootstrap(await openFor(other), other, logger)).rejects.toThrow(
      /belongs to cluster .* describe cluster/,
    );
  });

  it("refuses flags that do not name this member", async () => {
    const dir = tmp();
    const o = options(dir, "zz", { initialAdvertisePeerUrls: ["http://127.0.0.1:1"] });
    await expect(bootstrap(await openFor(o), o, logger)).rejects.toBeInstanceOf(BootstrapError);
    const wrongUrls = options(dir, "a", { initialAdvertisePeerUrls: ["http://127.0.0.1:9"] });
    await expect(bootstrap(await openFor(wrongUrls), wrongUrls, logger)).rejects.toThrow(
      /do not match --initial-cluster/,
    );
  });

  it("refuses to join when no existing member answers, writing nothing", async () => {
    const dir = tmp();
    const o = options(dir, "a", {
      initialClusterState: "existing",
      initialCluster: new Map([
        ["a", ["http://127.0.0.1:12380"]],
        ["b", ["http://127.0.0.1:1"]],
      ]),
    });
    const s = await openFor(o);
    await expect(bootstrap(s, o, logger)).rejects.toThrow(/cannot reach any member/);
    expect(s.meta.isNew).toBe(true);
  });
});

describe("engineOptionsFromEnv", () => {
  it("takes a RocksDB log level and a thread count; warns about anything else", () => {
    expect(engineOptionsFromEnv({})).toEqual({ options: {}, warnings: [] });
    expect(
      engineOptionsFromEnv({ CHAINFIRE_ROCKSDB_LOG: "info", CHAINFIRE_ROCKSDB_THREADS: "4" }),
    ).toEqual({ options: { infoLogLevel: "info", backgroundThreads: 4 }, warnings: [] });
    for (const threads of ["0", "65", "2.5", "four", ""]) {
      const r = engineOptionsFromEnv({ CHAINFIRE_ROCKSDB_THREADS: threads });
      expect(r.options).toEqual({});
      expect(r.warnings).toEqual([
        `CHAINFIRE_ROCKSDB_THREADS=${threads} ignored (a whole number from 1 to 64)`,
      ]);
    }
    expect(engineOptionsFromEnv({ CHAINFIRE_ROCKSDB_LOG: "loud" }).warnings).toEqual([
      "CHAINFIRE_ROCKSDB_LOG=loud ignored (debug, info, warn or error)",
    ]);
  });
});
