/**
 * Chainfire's failpoints fire in real member processes (packages/storage/src/failpoints.ts).
 *
 * 1. Every failpoint is reached: three members with every failpoint armed as `print`
 *    (each logs its first hit), a small --snapshot-count and catch-up, then the traffic
 *    that takes every path: writes, a compaction big enough for more than one batch, a
 *    follower killed and brought back behind a compacted raft log (the leader streams a
 *    state snapshot, the follower stages and installs it).
 * 2. Crash points crash and lose nothing: a follower restarted with a snapshot-install
 *    crash point and unsynced loss exits with status 86 while installing; one with a
 *    compaction crash point exits while compacting; restarted without failpoints, both
 *    catch up, every acknowledged write is on every member and HashKV agrees.
 *
 * The crash nemeses of the Jepsen runs (nemesis/failpoint-nemeses.ts) use the same
 * mechanism under load. Chainfire only (etcd 3.4 from Debian has no failpoints).
 */
import { readFileSync } from "node:fs";
import { etcdserverpb } from "@chainfire/api";
import { FAILPOINTS } from "@chainfire/storage";
import { afterEach, describe, expect, it } from "vitest";
import { compatTargets } from "../compat/targets.js";
import { bytes, Cluster, op, prefixEnd } from "../harness/index.js";
import { pollUntil } from "../harness/wait.js";
import { hashKV } from "./kv-ops.js";
import { FAILPOINT_EXIT } from "./nemesis/failpoint-nemeses.js";

const SNAPSHOT = { snapshotCount: 50, catchUp: 10 };
const chainfire = compatTargets().includes("chainfire");

describe.skipIf(!chainfire)("failpoints on chainfire", () => {
  let cluster: Cluster | undefined;
  afterEach(async ({ task }) => {
    if (task.result?.state === "fail" && cluster) process.stderr.write(cluster.logTails(40));
    await cluster?.close();
    cluster = undefined;
  });

  async function start(env: Record<string, string>): Promise<Cluster> {
    cluster = await Cluster.start({
      kind: "chainfire",
      size: 3,
      heartbeatMs: 50,
      electionMs: 500,
      snapshotCount: SNAPSHOT.snapshotCount,
      readyTimeoutMs: 60_000,
      env: {
        CHAINFIRE_TEST_SNAPSHOT_CATCHUP_ENTRIES: String(SNAPSHOT.catchUp),
        CHAINFIRE_TEST_COMPACTION_STEP_ENTRIES: "100",
        ...env,
      },
    });
    return cluster;
  }

  /** Puts `n` keys through the leader, 8 at a time (retrying on a new leader); returns them. */
  async function writeKeys(c: Cluster, prefix: string, n: number): Promise<Map<string, string>> {
    const acked = new Map<string, string>();
    const one = async (i: number) => {
      const key = `${prefix}${i}`;
      await pollUntil(
        async () => {
          const leader = await c.waitForLeader(30_000);
          await c.client(leader).put({ key: bytes(key), value: bytes(`v${i}`) }, 5000);
          return true;
        },
        { timeoutMs: 60_000, intervalMs: 100, what: `put ${key}` },
      );
      acked.set(key, `v${i}`);
    };
    for (let i = 0; i < n; i += 8) {
      await Promise.all(Array.from({ length: Math.min(8, n - i) }, (_, j) => one(i + j)));
    }
    return acked;
  }

  /** Waits until member `i` has applied at least what the leader has. */
  async function caughtUp(c: Cluster, i: number): Promise<void> {
    const leader = await c.waitForLeader(30_000);
    const target = (await c.client(leader).status()).raftAppliedIndex;
    await pollUntil(
      async () => {
        const s = await c
          .client(i)
          .status(2000)
          .catch(() => undefined);
        return s && s.raftAppliedIndex >= target ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100, what: `n${i + 1} applied ${target}` },
    );
  }

  async function follower(c: Cluster): Promise<number> {
    const leader = await c.waitForLeader(30_000);
    return (leader + 1) % c.size;
  }

  it("every failpoint is reached (print)", async () => {
    const names = Object.keys(FAILPOINTS);
    const c = await start({ CHAINFIRE_TEST_FAILPOINTS: names.map((n) => `${n}=print`).join(",") });
    // A compaction of more than one step (100 revision-log entries each here): 3
    // transactions of 128 puts.
    const leader = await c.waitForLeader(30_000);
    let rev = 0n;
    for (let t = 0; t < 3; t++) {
      const success = Array.from({ length: 128 }, (_, j) => op.put(`/fp/big/${t}/${j}`, "x"));
      const req = etcdserverpb.TxnRequest.fromPartial({ success });
      rev = (await c.client(leader).txn(req, 20_000)).header!.revision;
    }
    await c.client(leader).compact({ revision: rev, physical: true }, 30_000);
    // A follower away while the others snapshot past it and compact their raft log.
    const f = await follower(c);
    await c.kill(f);
    await writeKeys(c, "/fp/away/", SNAPSHOT.snapshotCount + SNAPSHOT.catchUp + 20);
    await c.restart(f, { waitReady: false });
    await caughtUp(c, f);
    const logs = c.members.map((m) => readFileSync(m.config.logFile, "utf8")).join("\n");
    const missing = names.filter((n) => !logs.includes(`"failpoint":"${n}","action":"print"`));
    expect(missing, "failpoints never reached").toEqual([]);
    expect(logs).toContain('"snapshotSendMidway"');
  }, 240_000);

  it("crash points in snapshot install and compaction crash, and nothing is lost", async () => {
    const c = await start({});
    const acked = await writeKeys(c, "/fp/a/", 20);
    // 1. A follower behind a compacted log, restarted to crash while installing.
    const f = await follower(c);
    await c.kill(f);
    for (const [k, v] of await writeKeys(c, "/fp/b/", SNAPSHOT.snapshotCount + 30)) {
      acked.set(k, v);
    }
    const m = c.member(f);
    m.config.env = {
      ...m.config.env,
      CHAINFIRE_TEST_FAILPOINTS: "raftBeforeApplySnap=panic",
      CHAINFIRE_TEST_UNSYNCED_LOSS: "1",
    };
    await c.restart(f, { waitReady: false });
    expect((await m.waitExit(90_000)).code, m.logTail(20)).toBe(FAILPOINT_EXIT);
    expect(m.logTail(5)).toContain('"failpoint":"raftBeforeApplySnap","action":"panic"');
    // 2. The same member, now crashing when its compaction is about to finish.
    m.config.env = {
      ...m.config.env,
      CHAINFIRE_TEST_FAILPOINTS: "compactBeforeSetFinishedCompact=panic",
    };
    await c.restart(f, { waitReady: false });
    await caughtUp(c, f);
    const leader = await c.waitForLeader(30_000);
    const rev = (await c.client(leader).status()).header!.revision;
    await c.client(leader).compact({ revision: rev - 5n }, 30_000);
    expect((await m.waitExit(90_000)).code, m.logTail(20)).toBe(FAILPOINT_EXIT);
    expect(m.logTail(5)).toContain('"failpoint":"compactBeforeSetFinishedCompact"');
    // 3. Unarmed: it comes back, catches up, finishes its compaction; nothing is lost.
    m.config.env = {};
    await c.restart(f, { waitReady: false });
    await caughtUp(c, f);
    for (const more of await writeKeys(c, "/fp/c/", 5)) acked.set(...more);
    await caughtUp(c, f);
    for (let i = 0; i < c.size; i++) {
      const r = await c
        .client(i)
        .range({ key: bytes("/fp/"), rangeEnd: prefixEnd("/fp/"), serializable: true });
      const got = new Map(r.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]));
      for (const [k, v] of acked) expect(got.get(k), `n${i + 1} ${k}`).toBe(v);
    }
    const head = Number((await c.client(leader).status()).header!.revision);
    const hashes = await Promise.all(
      c.members.map(async (_, i) => {
        const h = await hashKV(c.client(i), head, 10_000);
        return `${h.hash}@${h.compactRevision}`;
      }),
    );
    expect(new Set(hashes).size, JSON.stringify(hashes)).toBe(1);
  }, 300_000);
});
