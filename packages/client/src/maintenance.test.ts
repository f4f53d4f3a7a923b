import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { notYetOnChainfire, TestCluster, targetUnavailable } from "./__tests__/cluster.js";
import { Client } from "./client.js";
import {
  ClientError,
  FailedPreconditionError,
  MemberNotFoundError,
  NoSpaceError,
  SnapshotIntegrityError,
} from "./errors.js";
import { saveSnapshot } from "./snapshot.js";

const run = promisify(execFile);
const skip = targetUnavailable();

describe.skipIf(skip !== undefined)("cluster and maintenance calls against a live member", () => {
  let cluster: TestCluster;
  let client: Client;
  let dir: string;

  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 1 });
    client = new Client({ endpoints: cluster.endpoints });
    dir = mkdtempSync(join(tmpdir(), "chainfire-client-snap-"));
  });

  afterAll(async () => {
    await client?.close();
    await cluster?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reports status and health per endpoint", async () => {
    await client.put("m/k", "v");
    const s = await client.maintenance.status();
    expect(s.endpoint).toBe(cluster.endpoints[0]);
    expect(s.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(s.leader).toBe(s.header.memberId);
    expect(s.dbSize).toBeGreaterThan(0n);
    expect(s.raftIndex).toBeGreaterThan(0n);
    expect(s.raftTerm).toBeGreaterThan(0n);
    expect(s.isLearner).toBe(false);
    const all = await client.maintenance.statusAll();
    expect(all).toHaveLength(1);
    expect(all[0].ok).toBe(true);
    const health = await client.maintenance.health();
    expect(health.healthy).toBe(true);
    expect((await client.maintenance.healthAll())[0].healthy).toBe(true);
    await expect(client.maintenance.status("http://127.0.0.1:1")).rejects.toBeInstanceOf(
      ClientError,
    );
  });

  it("lists alarms, disarms, defragments, hashes", async () => {
    expect(await client.maintenance.alarms()).toEqual([]);
    expect(await client.maintenance.disarm()).toEqual([]);
    await client.maintenance.defragment(cluster.endpoints[0]);
    const h1 = await client.maintenance.hashKV(cluster.endpoints[0]);
    const h2 = await client.maintenance.hashKV(cluster.endpoints[0], h1.header.revision);
    expect(h2.hash).toBe(h1.hash);
    await client.put("m/changed", "x");
    expect((await client.maintenance.hashKV()).hash).not.toBe(h1.hash);
  });

  it.skipIf(notYetOnChainfire("refusing to promote a lagging learner arrives with issue 5"))(
    "lists, adds (as learner), updates and removes members; promote of a lagging learner fails",
    async () => {
      const list = await client.cluster.list();
      expect(list.members).toHaveLength(1);
      expect(list.members[0].clientURLs).toEqual([cluster.endpoints[0]]);
      expect(list.members[0].name).toBe("m1");
      const added = await client.cluster.add(["http://127.0.0.1:2"], { isLearner: true });
      expect(added.member.isLearner).toBe(true);
      expect(added.members).toHaveLength(2);
      await client.cluster.update(added.member.id, ["http://127.0.0.1:3"]);
      const updated = (await client.cluster.list()).members.find((m) => m.id === added.member.id);
      expect(updated?.peerURLs).toEqual(["http://127.0.0.1:3"]);
      // The learner never started, so it is not in sync: etcd refuses to promote it.
      await expect(client.cluster.promote(added.member.id)).rejects.toBeInstanceOf(
        FailedPreconditionError,
      );
      const removed = await client.cluster.remove(added.member.id);
      expect(removed.members).toHaveLength(1);
      await expect(client.cluster.remove(0x5eedn)).rejects.toBeInstanceOf(MemberNotFoundError);
    },
  );

  it.skipIf(
    notYetOnChainfire(
      "etcdctl snapshot status reads bolt files; Chainfire snapshots are its own format",
    ),
  )("saves a snapshot that etcdctl accepts, reporting progress", async () => {
    for (let i = 0; i < 50; i++) await client.put(`snap/${i}`, "x".repeat(1000));
    const path = join(dir, "a.db");
    const progress: number[] = [];
    const r = await client.maintenance.snapshotToFile(path, {
      onProgress: (p) => {
        progress.push(p.received);
        expect(p.total).toBeGreaterThanOrEqual(p.received);
      },
    });
    expect(r.bytes).toBe(statSync(path).size);
    expect(r.bytes % 512).toBe(32); // body padded to 512 bytes + SHA-256 trailer
    expect(progress.at(-1)).toBe(r.bytes);
    const { stdout } = await run("etcdctl", ["snapshot", "status", path, "-w", "json"], {
      env: { ...process.env, ETCDCTL_API: "3" },
    });
    const status = JSON.parse(stdout) as { totalKey: number; revision: number };
    expect(status.totalKey).toBeGreaterThanOrEqual(50);
    expect(status.revision).toBeGreaterThan(0);
  });

  it("streams a snapshot; a failed download leaves no file behind", async () => {
    let bytes = 0;
    for await (const chunk of client.maintenance.snapshot()) bytes += chunk.length;
    expect(bytes % 512).toBe(32);
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(4096);
      throw new SnapshotIntegrityError(
        "chainfire: snapshot sha256 trailer does not match its content",
      );
    }
    const bad = join(dir, "bad.db");
    await expect(saveSnapshot(failing(), bad)).rejects.toBeInstanceOf(SnapshotIntegrityError);
    expect(() => readFileSync(bad)).toThrow();
    expect(() => readFileSync(`${bad}.part`)).toThrow();
  });
});

describe.skipIf(skip !== undefined)(
  "the NOSPACE alarm against a live member with a tiny quota",
  () => {
    let cluster: TestCluster;
    let client: Client;

    beforeAll(async () => {
      cluster = await TestCluster.start({ size: 1, extraArgs: ["--quota-backend-bytes=1048576"] });
      client = new Client({ endpoints: cluster.endpoints });
    });

    afterAll(async () => {
      await client?.close();
      await cluster?.close();
    });

    it("raises NoSpaceError and the alarm; compact, defragment and disarm recover", async () => {
      const value = Buffer.alloc(64 * 1024, 7);
      let failure: unknown;
      for (let i = 0; i < 64 && failure === undefined; i++) {
        await client.put(`big/${i}`, value).catch((e: unknown) => {
          failure = e;
        });
      }
      expect(failure).toBeInstanceOf(NoSpaceError);
      expect((failure as Error).message).toBe("etcdserver: mvcc: database space exceeded");
      const alarms = await client.maintenance.alarms();
      expect(alarms.map((a) => a.alarm)).toEqual(["NOSPACE"]);
      const health = await client.maintenance.health();
      expect(health.healthy).toBe(false);
      expect(health.error).toContain("NOSPACE");
      const deleted = await client.delete({ prefix: "big/" });
      await client.compact(deleted.revision, { physical: true });
      await client.maintenance.defragment();
      expect(await client.maintenance.disarm(alarms[0])).toHaveLength(1);
      expect(await client.maintenance.alarms()).toEqual([]);
      await client.put("after", "ok");
    });
  },
);
