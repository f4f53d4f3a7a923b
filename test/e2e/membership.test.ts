/**
 * Membership changes on a live Chainfire cluster, driven by the real etcdctl 3.4:
 *
 * 1. `member add --learner`; `member promote` refused while the learner has replicated
 *    nothing (etcd's "in sync with leader" error) and for a voter; the learner started
 *    with --initial-cluster-state existing joins, receives a state snapshot while writes
 *    continue, and is promoted once caught up; then every acknowledged write is on it and
 *    every member's HashKV agrees at the same revision.
 * 2. --auto-promote: a learner started with it becomes a voter by itself.
 * 3. `member update` (new peer URL; the member restarted on it keeps replicating).
 * 4. `member remove` of a running follower: it exits with code 3; a restart on its data
 *    dir is refused (code 3).
 * 5. `member remove` of a member that is down: restarted, it learns from its peers that it
 *    was removed and exits with code 3.
 * 6. `member remove` of the leader: the old leader exits with code 3, the rest elect a
 *    leader and accept writes.
 *
 * The steps share one cluster and run in order. Needs the built CLI (`npx tsc -b`) and
 * etcdctl; skipped with the reason otherwise.
 */
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { etcdctl } from "../compat/etcdctl.js";
import {
  allocatePorts,
  bytes,
  CHAINFIRE_MAIN,
  Cluster,
  kindAvailable,
  type Member,
  pollUntil,
} from "../harness/index.js";
import {
  endpointsOf,
  expectAcked,
  expectSameHashKV,
  leaderOf,
  memberAdd,
  memberList,
  movedMember,
  newMember,
  waitLeader,
  waitLog,
  writeLoad,
} from "./membership-helpers.js";

const EXIT_CODE_REMOVED = 3;
const NOT_IN_SYNC = "etcdserver: can only promote a learner member which is in sync with leader";
const NOT_LEARNER = "etcdserver: can only promote a learner member";

const hasEtcdctl = spawnSync(process.env.ETCDCTL_BIN ?? "etcdctl", ["version"]).status === 0;
const available = kindAvailable("chainfire") && hasEtcdctl;
if (!available) {
  console.warn(
    `membership: skipped (${kindAvailable("chainfire") ? "no etcdctl" : `${CHAINFIRE_MAIN} is missing, run npx tsc -b`})`,
  );
}

describe.skipIf(!available)("membership changes with etcdctl 3.4", () => {
  let c: Cluster;
  const extra: Member[] = [];
  let n4: Member;
  let n4Id = "";
  const extraIds: Array<[string, Member]> = [];
  const idOf = (i: number) => c.ids[i].toString(16);
  const eps = () => endpointsOf(c, extra);

  beforeAll(async () => {
    c = await Cluster.start({
      kind: "chainfire",
      size: 3,
      heartbeatMs: 50,
      electionMs: 500,
      snapshotCount: 500,
    });
  }, 120_000);
  afterAll(async () => {
    await Promise.all(extra.map((m) => m.kill()));
    await c?.close();
  });
  const failed = (task: { result?: { state?: string } }) => {
    if (task.result?.state !== "fail") return;
    process.stderr.write(c.logTails(40));
    for (const m of extra) process.stderr.write(`----- ${m.name} -----\n${m.logTail(40)}\n`);
  };

  it("adds a learner that joins under writes, refuses early promotion, promotes it caught up", async ({
    task,
    onTestFailed,
  }) => {
    onTestFailed(() => failed(task));
    const load = writeLoad(c, [0, 1, 2], "join");
    await load.more(100);
    n4 = await newMember(c, 3, "n4");
    extra.push(n4);
    const added = await memberAdd(eps(), "n4", n4.peerUrl, true);
    n4Id = added.id;
    extraIds.push([n4Id, n4]);
    expect((await memberList(eps())).get(n4Id)).toMatchObject({ isLearner: true, name: "" });
    const second = await etcdctl(eps(), [
      "member",
      "add",
      "nx",
      "--learner",
      "--peer-urls=http://127.0.0.1:9",
    ]);
    expect(second.errorText).toContain("etcdserver: too many learner members in cluster");

    // Not started: the learner has replicated nothing, the leader refuses (forwarded from
    // whichever member etcdctl picked).
    for (const ep of c.endpoints) {
      const early = await etcdctl([ep], ["member", "promote", n4Id]);
      expect(early.code).not.toBe(0);
      expect(early.errorText).toContain(NOT_IN_SYNC);
    }
    const voter = await etcdctl(eps(), ["member", "promote", idOf(1)]);
    expect(voter.errorText).toContain(NOT_LEARNER);
    expect(voter.errorText).not.toContain("in sync");
    const unknown = await etcdctl(eps(), ["member", "promote", "1234abcd"]);
    expect(unknown.errorText).toContain("etcdserver: member not found");

    n4.config.initialCluster = added.initialCluster;
    n4.start();
    await n4.waitHealthy(60_000);
    await waitLog(n4, "installed a state snapshot from the leader");
    await load.more(100);

    // Promote once the leader counts it in sync: every refusal meanwhile is etcd's.
    await pollUntil(
      async () => {
        const r = await etcdctl(eps(), ["member", "promote", n4Id]);
        if (r.code === 0) return r.stdout;
        expect(r.errorText).toContain(NOT_IN_SYNC);
        return undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: "member promote n4 accepted" },
    );
    expect((await memberList(eps())).get(n4Id)).toMatchObject({ isLearner: false, name: "n4" });
    await load.more(100);
    await load.stop();

    // Every acknowledged write is on the new member, and every member hashes the same
    // state at the same revision.
    await expectAcked(n4, "join/", load.acked);
    await expectSameHashKV(eps());
  }, 240_000);

  it("--auto-promote: a learner killed -9 while joining restarts, catches up under writes, promotes itself", async ({
    task,
    onTestFailed,
  }) => {
    onTestFailed(() => failed(task));
    const load = writeLoad(c, [0, 1, 2], "auto");
    await load.more(100);
    const n5 = await newMember(c, 4, "n5", ["--auto-promote"]);
    extra.push(n5);
    const added = await memberAdd(eps(), "n5", n5.peerUrl, true);
    extraIds.push([added.id, n5]);
    n5.config.initialCluster = added.initialCluster;
    n5.start();
    await waitLog(n5, "joining an existing cluster");
    n5.signal("SIGKILL");
    await n5.waitExit(10_000);
    await load.more(100);
    n5.start(); // restarts on the data dir it began (the leader's snapshot may be in it)
    await n5.waitHealthy(60_000);
    await pollUntil(
      async () => ((await memberList(eps())).get(added.id)?.isLearner === false ? true : undefined),
      { timeoutMs: 60_000, intervalMs: 250, what: "n5 promoted by --auto-promote" },
    );
    await waitLog(n5, "auto-promote: the leader promoted us");
    await load.more(100);
    await load.stop();
    await expectAcked(n5, "auto/", load.acked);
    await expectSameHashKV(eps());
  }, 180_000);

  it("member update: a new peer URL, the member restarted on it", async ({
    task,
    onTestFailed,
  }) => {
    onTestFailed(() => failed(task));
    const [newPeerPort] = await allocatePorts(1);
    const moved = movedMember(n4, newPeerPort);
    // Operators change the member's flags too (--initial-cluster is checked against them).
    moved.config.initialCluster = n4.config.initialCluster.replace(n4.peerUrl, moved.peerUrl);
    const r = await etcdctl(eps(), ["member", "update", n4Id, `--peer-urls=${moved.peerUrl}`]);
    expect(r.errorText).toBe("");
    expect(r.stdout).toMatch(new RegExp(`Member\\s+${n4Id} updated in cluster`));
    expect((await memberList(eps())).get(n4Id)?.peerURLs).toEqual([moved.peerUrl]);
    n4.signal("SIGTERM");
    expect((await n4.waitExit(20_000)).code).toBe(0);
    extra[extra.indexOf(n4)] = moved;
    extraIds[extraIds.findIndex(([, m]) => m === n4)][1] = moved;
    n4 = moved;
    n4.start();
    await n4.waitHealthy(60_000);
    const put = await c.client(0).put({ key: bytes("after-update"), value: bytes("v") });
    const rev = put.header?.revision ?? 0n;
    await pollUntil(
      async () => {
        const s = await etcdctl([n4.clientUrl], ["get", "after-update", "--consistency=s"]);
        return s.stdout.includes("after-update") ? true : undefined;
      },
      { timeoutMs: 30_000, what: `n4 replicating again (revision ${rev})` },
    );
  }, 120_000);

  it("member remove of a running follower: it exits 3; its data dir refuses a restart", async ({
    task,
    onTestFailed,
  }) => {
    onTestFailed(() => failed(task));
    // n4 should be a follower; if an election made it leader, hand leadership back.
    if ((await waitLeader(eps())) === n4Id) {
      const moved = await etcdctl([n4.clientUrl], ["move-leader", idOf(0)]);
      expect(moved.errorText).toBe("");
      await pollUntil(async () => ((await leaderOf(eps())) === idOf(0) ? true : undefined), {
        timeoutMs: 30_000,
        what: "n1 leading",
      });
    }
    const r = await etcdctl(eps(), ["member", "remove", n4Id]);
    expect(r.stdout).toMatch(new RegExp(`Member\\s+${n4Id} removed from cluster`));
    const exit = await n4.waitExit(30_000);
    expect(exit.code).toBe(EXIT_CODE_REMOVED);
    expect(n4.logTail(100)).toContain("permanently removed from the cluster");
    expect((await memberList(eps())).has(n4Id)).toBe(false);
    n4.start();
    expect((await n4.waitExit(30_000)).code).toBe(EXIT_CODE_REMOVED);
    expect(n4.logTail(20)).toContain("refusing to start");
    const put = await etcdctl(eps(), ["put", "after-remove", "v"]);
    expect(put.errorText).toBe("");
  }, 120_000);

  it("member remove of a member that is down: restarted, its peers tell it; it exits 3", async ({
    task,
    onTestFailed,
  }) => {
    onTestFailed(() => failed(task));
    const leader = await waitLeader(eps());
    const victim = [0, 1, 2].find((i) => idOf(i) !== leader)!;
    const victimId = idOf(victim);
    await c.kill(victim, "SIGKILL");
    const r = await etcdctl(eps(), ["member", "remove", victimId]);
    expect(r.stdout).toMatch(new RegExp(`Member\\s+${victimId} removed from cluster`));
    await c.restart(victim, { waitReady: false });
    const exit = await c.member(victim).waitExit(30_000);
    expect(exit.code).toBe(EXIT_CODE_REMOVED);
    expect(c.member(victim).logTail(60)).toMatch(/peer [0-9a-f]+ says it was removed/);
  }, 120_000);

  it("member remove of the leader: it exits 3, the others elect a leader and take writes", async ({
    task,
    onTestFailed,
  }) => {
    onTestFailed(() => failed(task));
    const leaderId = await waitLeader(eps());
    const byId = new Map<string, Member>([
      ...c.members.map((m, i) => [idOf(i), m] as const),
      ...extraIds.map(([id, m]) => [id, m] as const),
    ]);
    const leader = byId.get(leaderId)!;
    expect(leader).toBeDefined();
    const r = await etcdctl(eps(), ["member", "remove", leaderId]);
    expect(r.stdout).toMatch(new RegExp(`Member\\s+${leaderId} removed from cluster`));
    expect((await leader.waitExit(30_000)).code).toBe(EXIT_CODE_REMOVED);
    expect(leader.logTail(100)).toContain("permanently removed from the cluster");
    const rest = eps();
    expect(rest).toHaveLength(2);
    await pollUntil(
      async () => {
        const next = await leaderOf(rest);
        return next !== undefined && next !== leaderId ? next : undefined;
      },
      { timeoutMs: 30_000, what: "a new leader among the remaining members" },
    );
    const put = await etcdctl(rest, ["put", "after-leader-removal", "v"]);
    expect(put.errorText).toBe("");
    const list = await memberList(rest);
    expect(list.size).toBe(2);
    expect(list.has(leaderId)).toBe(false);
  }, 120_000);
});
