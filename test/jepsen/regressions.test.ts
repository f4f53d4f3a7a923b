/**
 * Regression tests named after the etcd issues whose failure shapes they reproduce, on
 * the current compatibility target. Each records a history and runs the checkers on it,
 * besides its own direct assertion.
 *
 * - etcd #20418: a leader paused past the election timeout must not answer a
 *   linearizable read from its stale state when it resumes.
 * - etcd #14370: a single member acknowledged writes before fsync; kill -9 must not lose
 *   acknowledged writes. (kill -9 keeps the page cache: the full reproduction needs the
 *   crashDropUnsynced failpoint, see docs/testing-faults.md.)
 * - etcd #17780: a crash during compaction made the revision go backwards after restart.
 * - etcd #15247: a leader paused past a lease's TTL woke up and revoked the lease,
 *   though clients had kept it alive through the new leader all along.
 */
import { afterEach, describe, expect, it } from "vitest";
import { compatTargets } from "../compat/targets.js";
import { bytes } from "../harness/grpc-client.js";
import { Cluster } from "../harness/index.js";
import { delay, pollUntil } from "../harness/wait.js";
import { checkDurability } from "./checker/durability.js";
import { checkLinearizable } from "./checker/linearizable.js";
import { checkRevisions } from "./checker/revisions.js";
import { Connections } from "./connections.js";
import { describeOp } from "./history.js";
import { get, put, type Session } from "./kv-ops.js";
import { keepAlive, leaseGrant, leaseRevoke, leaseTimeToLive } from "./lease-ops.js";
import { Recorder } from "./recorder.js";
import { formatReport } from "./report/report.js";
import { DEFAULT_OPTIONS, runJepsen } from "./run.js";

const seed = Number(process.env.JEPSEN_SEED ?? Math.floor(Math.random() * 2 ** 31));

describe.each(compatTargets())("regressions on %s", (kind) => {
  let cluster: Cluster | undefined;
  let connections: Connections | undefined;
  afterEach(async ({ task }) => {
    if (task.result?.state === "fail" && cluster) process.stderr.write(cluster.logTails(40));
    connections?.close();
    await cluster?.close();
    cluster = undefined;
    connections = undefined;
  });

  const start = async (size: number) => {
    cluster = await Cluster.start({ kind, size, heartbeatMs: 50, electionMs: 500 });
    const c = cluster;
    connections = new Connections((i) => c.member(i).clientUrl);
    await c.waitForLeader();
    return { c, conns: connections };
  };
  const session = (
    recorder: Recorder,
    conns: Connections,
    member: number,
    client: number,
  ): Session => ({
    client,
    member,
    conn: conns.get(member),
    recorder,
    timeoutMs: 5000,
  });

  it("#20418: a resumed, deposed leader serves no stale linearizable read", async () => {
    const { c, conns } = await start(3);
    const recorder = new Recorder();
    let answered = 0;
    for (let round = 0; round < 3; round++) {
      const old = await c.waitForLeader();
      c.stop(old);
      // The others elect a new leader (waitForLeader ignores the stopped member).
      const next = await pollUntil(
        async () => {
          const l = await c.waitForLeader(5000);
          return l !== old ? l : undefined;
        },
        { timeoutMs: 15_000, what: "a new leader while the old one is paused" },
      );
      const written = await put(session(recorder, conns, next, 0), "/regress/20418", `v${round}`);
      expect(written.status, describeOp(written)).toBe("ok");
      c.cont(old);
      // At once, before the old leader has heard from anyone: its answer must include
      // the write acknowledged while it slept.
      const read = await get(session(recorder, conns, old, 1), "/regress/20418");
      if (read.status === "ok") {
        answered++;
        expect(read.read, describeOp(read)).toBe(`v${round}`);
      }
      await c.waitForLeader();
    }
    expect(
      answered,
      "the resumed member answered some reads (else nothing was tested)",
    ).toBeGreaterThan(0);
    expect(checkLinearizable(recorder.ops).valid).toBe(true);
    expect(checkRevisions(recorder.ops)).toEqual([]);
  }, 120_000);

  it("#14370: a single member loses no acknowledged write to kill -9", async () => {
    const report = await runJepsen({
      ...DEFAULT_OPTIONS,
      kind,
      size: 1,
      timeSec: 8,
      nemesis: "kill-leader",
      network: "loopback",
      clients: 6,
      watchers: 1,
      leaseTtlSec: 0,
      seed,
      log: (line) => console.log(line),
    });
    console.log(formatReport(report));
    for (const check of report.checks) {
      expect(
        check.status === "pass" || check.status === "skipped",
        `${check.name}: ${check.detail}`,
      ).toBe(true);
    }
    expect(report.faults.some((f) => f.name === "kill-leader")).toBe(true);
  }, 120_000);

  it("#17780: the revision never goes backwards after a crash during compaction", async () => {
    const { c, conns } = await start(3);
    const recorder = new Recorder();
    let acked = 0;
    for (let round = 0; round < 4; round++) {
      const leader = await c.waitForLeader(20_000);
      const s = session(recorder, conns, leader, 0);
      for (let i = 0; i < 30; i++) {
        const op = await put(s, `/regress/17780/${i % 5}`, `r${round}.${i}`);
        if (op.status === "ok") acked = Math.max(acked, op.rev!);
      }
      // Compact to just below the head and crash while the compaction runs.
      const compaction = conns
        .get(leader)
        .compact({ revision: BigInt(acked - 2), physical: false }, 5000);
      compaction.catch(() => {});
      await delay(round * 2); // 0, 2, 4, 6 ms: crash at different points of it
      const victims = round % 2 === 0 ? [leader] : [0, 1, 2];
      await Promise.all(victims.map((i) => c.kill(i, "SIGKILL")));
      await Promise.all(victims.map((i) => c.restart(i, { waitReady: false })));
      await c.waitForLeader(30_000);
      const before = recorder.ops.length;
      for (let i = 0; i < c.size; i++) {
        await c.waitHealthy(i, 30_000);
        const status = await conns.get(i).status(5000);
        const revision = Number(status.header?.revision ?? 0n);
        expect(revision, `n${i + 1} revision after the crash`).toBeGreaterThanOrEqual(acked);
        for (let k = 0; k < 5; k++)
          await get(session(recorder, conns, i, 10 + i), `/regress/17780/${k}`);
      }
      const reads = recorder.ops.slice(before);
      expect(checkDurability(recorder.ops.slice(0, before), reads)).toEqual([]);
    }
    expect(checkRevisions(recorder.ops)).toEqual([]);
    expect(checkLinearizable(recorder.ops).valid).toBe(true);
  }, 180_000);

  it("#15247: a deposed leader does not revoke a lease kept alive through the new one", async () => {
    const { c, conns } = await start(3);
    const old = await c.waitForLeader();
    const via = (old + 1) % 3; // a follower: keep-alives reach whoever leads
    const id = await leaseGrant(conns.get(via), 3);
    await conns.get(via).put({ key: bytes("/regress/15247"), value: bytes("x"), lease: id });
    const stopKeepAlive = new AbortController();
    const kept = keepAlive(conns.get(via), id, 300, stopKeepAlive.signal);
    try {
      c.stop(old);
      await delay(6000); // hold: twice the TTL, while the others elect a leader and renew
      c.cont(old);
      await delay(3000); // hold: the old leader's lessor runs its expiry loop on waking
      const ttl = await leaseTimeToLive(conns.get(via), id);
      const res = await conns.get(via).range({ key: bytes("/regress/15247") });
      expect(ttl, "lease TTL after the old leader woke up").toBeGreaterThan(0);
      expect(res.kvs.length, "the leased key is still there").toBe(1);
    } finally {
      stopKeepAlive.abort();
      const { alive, gone } = await kept;
      console.log(
        `#15247: ${alive.length} keep-alives answered, ${gone.length} said the lease was gone`,
      );
    }
    await leaseRevoke(conns.get(via), id);
    expect((await conns.get(via).range({ key: bytes("/regress/15247") })).kvs.length).toBe(0);
  }, 120_000);
});
