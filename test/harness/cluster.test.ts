/**
 * The harness itself, against real processes: leader discovery, SIGKILL and restart on the
 * same data dir, SIGSTOP/SIGCONT, SIGTERM, a close() that leaves nothing behind, and no
 * adopting of another run's members that hold its ports.
 * Runs against the compat targets (etcd until Chainfire is enabled).
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { compatTargets } from "../compat/targets.js";
import { bytes, Cluster, type EtcdGrpcClient, pollUntil } from "./index.js";
import { allocatePorts, isPortFree } from "./ports.js";
import { useCluster } from "./vitest.js";

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls a serializable read on `client` until it sees `value` at `key`. */
function waitForValue(client: EtcdGrpcClient, key: string, value: string) {
  return pollUntil(
    async () => {
      const res = await client.range({ key: bytes(key), serializable: true }, 1000);
      return res.kvs[0]?.value.toString() === value ? true : undefined;
    },
    { timeoutMs: 15_000, what: `${key}=${value} on ${client.endpoint}` },
  );
}

describe("allocatePorts", () => {
  it("hands out distinct ports that are free", async () => {
    const ports = await allocatePorts(12);
    expect(new Set(ports).size).toBe(12);
    for (const port of ports) expect(await isPortFree(port)).toBe(true);
    const more = await allocatePorts(3);
    expect(more.some((port) => ports.includes(port))).toBe(false);
  });

  it("claims its window machine-wide: another process with the same pool id probes elsewhere", async () => {
    const [mine] = await allocatePorts(1);
    const script = `import(${JSON.stringify(new URL("./ports.ts", import.meta.url).pathname)}).then(async (m) => console.log((await m.allocatePorts(1))[0]))`;
    // Same VITEST_POOL_ID as this worker: a second vitest run on this machine.
    const out = execFileSync(process.execPath, ["--import", "tsx", "-e", script], {
      env: { ...process.env, NODE_OPTIONS: "" },
    }).toString();
    const window = (port: number) => Math.floor((port - 12_000) / 2_000);
    expect(window(Number(out.trim()))).not.toBe(window(mine!));
  });
});

for (const kind of compatTargets()) {
  describe(`cluster harness with ${kind}`, () => {
    const cluster = useCluster({ kind, size: 3 });

    it("starts three members with distinct ports, ids and pids, and finds the leader", async () => {
      const c = cluster();
      expect(c.names).toEqual(["n1", "n2", "n3"]);
      expect(new Set(c.endpoints).size).toBe(3);
      expect(new Set(c.ids).size).toBe(3);
      for (const m of c.members) {
        expect(alive(m.pid)).toBe(true);
        expect(m.state).toBe("running");
        expect(m.rssBytes()).toBeGreaterThan(1 << 20);
      }
      const leader = await c.waitForLeader();
      expect(await c.leader()).toBe(leader);
      const list = await c.client(0).memberList();
      expect(list.members.map((m) => m.ID).sort()).toEqual([...c.ids].sort());
    });

    it("does not adopt another run's members that hold its ports (they answer /health and Status)", async () => {
      const c = cluster();
      const held = c.members.map((m) => ({
        clientPort: m.config.clientPort,
        peerPort: m.config.peerPort,
        metricsPort: m.config.metricsPort,
      }));
      // A second cluster placed on the same ports: its members cannot bind, while the
      // first cluster's members answer in their place. Before the id check this start
      // succeeded and handed out a cluster that was not its own.
      await expect(
        Cluster.start({ kind, size: 3, placement: (i) => held[i]!, readyTimeoutMs: 20_000 }),
      ).rejects.toThrow(/not ours|address already in use/);
      expect(await c.waitForLeader()).toBeGreaterThanOrEqual(0);
    });

    it("SIGKILL of the leader: a new leader is elected; restart on the same data dir catches up", async () => {
      const c = cluster();
      const old = await c.waitForLeader();
      await c.client(old).put({ key: bytes("h/before"), value: bytes("1") });
      await c.kill(old, "SIGKILL");
      expect(c.member(old).state).toBe("exited");
      expect(c.member(old).lastExit?.signal).toBe("SIGKILL");
      const next = await c.waitForLeader();
      expect(next).not.toBe(old);
      await c.client(next).put({ key: bytes("h/during"), value: bytes("2") });

      await c.restart(old);
      expect(c.member(old).state).toBe("running");
      await waitForValue(c.client(old), "h/before", "1");
      await waitForValue(c.client(old), "h/during", "2");
      await c.waitForLeader();
    });

    it("SIGSTOP freezes a member; the rest serve; SIGCONT resumes it", async () => {
      const c = cluster();
      const leader = await c.waitForLeader();
      const frozen = (leader + 1) % c.size;
      c.stop(frozen);
      expect(c.member(frozen).state).toBe("stopped");
      await expect(c.client(frozen).status(300)).rejects.toMatchObject({ code: 4 });
      await c.client(leader).put({ key: bytes("h/frozen"), value: bytes("3") });
      c.cont(frozen);
      expect(c.member(frozen).state).toBe("running");
      await waitForValue(c.client(frozen), "h/frozen", "3");
    });

    it("SIGTERM ends a member; it restarts", async () => {
      const c = cluster();
      const leader = await c.waitForLeader();
      const victim = (leader + 2) % c.size;
      await c.kill(victim, "SIGTERM");
      expect(c.member(victim).state).toBe("exited");
      await c.restart(victim);
      await waitForValue(c.client(victim), "h/frozen", "3");
    });

    it("close() ends every process it started and removes the temp dir", async () => {
      const c = cluster();
      const pids = c.members.map((m) => m.pid);
      expect(existsSync(c.dir)).toBe(true);
      await c.close();
      for (const pid of pids) expect(alive(pid)).toBe(false);
      expect(existsSync(c.dir)).toBe(false);
      await c.close(); // idempotent
    });
  });
}
