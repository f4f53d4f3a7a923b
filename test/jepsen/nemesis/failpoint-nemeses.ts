/**
 * Failpoint nemeses (Chainfire only: etcd 3.4 from Debian has no gofail). A member is
 * restarted with one crash failpoint armed through its environment
 * (`CHAINFIRE_TEST_FAILPOINTS=<name>=<N>*panic`, packages/storage/src/failpoints.ts) and with
 * `CHAINFIRE_TEST_UNSYNCED_LOSS=1`, so when the failpoint fires the member exits at once (status
 * 86) and loses every write it had not fsynced, as after a power failure. Healing restarts
 * it without failpoints (kill -9 first if it never fired).
 *
 * - `failpoint-member`: the leader (half the time) or any member, a failpoint of the Ready loop
 *   (before/after the write, before the fsync, apply, sends) or `crashDropUnsynced` at
 *   the N-th engine write.
 * - `failpoint-snapshot`: a follower is killed and kept down while the others write past
 *   the snapshot count and compact their raft log (the cluster runs with a small
 *   `--snapshot-count` and catch-up), then restarted with a failpoint of the snapshot
 *   install armed: it crashes during the InstallSnapshot the leader must send, and must
 *   recover after the heal. (`snapshotSendMidway` on the leader is exercised by
 *   test/jepsen/failpoints.test.ts: arming a leader means restarting it, and then it is
 *   no longer the leader.)
 * - `failpoint-all`: every member restarted at once with `crashDropUnsynced` armed at a
 *   different N: each crashes losing its unsynced writes (etcd #14370 in full).
 */
import { pollUntil } from "../../harness/wait.js";
import { between, pick, sample } from "../random.js";
import type { Fault, Nemesis, NemesisContext } from "./nemeses.js";

/** Exit status of a failpoint crash (packages/storage FAILPOINT_EXIT_CODE). */
export const FAILPOINT_EXIT = 86;

/** Crash points of the Ready loop, with the range of N (hits before the crash). */
const READY_FAILPOINTS: readonly { name: string; n: [number, number] }[] = [
  { name: "raftBeforeSave", n: [1, 60] },
  { name: "raftBeforeFsync", n: [1, 60] },
  { name: "raftAfterSave", n: [1, 60] },
  { name: "raftBeforeApply", n: [1, 40] },
  { name: "raftAfterApply", n: [1, 40] },
  { name: "raftBeforeLeaderSend", n: [1, 60] },
  { name: "raftBeforeFollowerSend", n: [1, 60] },
  { name: "crashDropUnsynced", n: [5, 80] },
];

/** Crash points of a follower's snapshot install. */
const INSTALL_FAILPOINTS = [
  "raftBeforeSaveSnap",
  "raftAfterSaveSnap",
  "raftBeforeApplySnap",
  "snapshotInstallMidway",
  "raftAfterApplySnap",
] as const;

/** --snapshot-count and catch-up entries of runs with `failpoint-snapshot`. */
export const SNAPSHOT_TUNING = { snapshotCount: 200, catchUpEntries: 50 };

/** The failpoint nemeses (see the module comment). */
export const FAILPOINT_NEMESES: readonly Nemesis[] = [
  {
    name: "failpoint-member",
    chainfire: true,
    async inject(ctx) {
      const up = running(ctx);
      const target = ctx.random() < 0.5 ? await leaderOr(ctx, up) : pick(ctx.random, up);
      const fp = pick(ctx.random, READY_FAILPOINTS);
      const n = between(ctx.random, ...fp.n);
      await armAndRestart(ctx, target, `${fp.name}=${n}*panic`);
      return armedFault(ctx, [target], `n${target + 1}: ${fp.name}=${n}*panic`, 4000, 8000);
    },
  },
  {
    name: "failpoint-snapshot",
    chainfire: true,
    snapshots: true,
    minSize: 3,
    async inject(ctx) {
      const leader = await ctx.cluster.leader(2000).catch(() => undefined);
      const followers = running(ctx).filter((i) => i !== leader);
      if (leader === undefined || followers.length === 0) throw new Error("no leader");
      const target = pick(ctx.random, followers);
      await ctx.cluster.kill(target, "SIGKILL");
      // Away until the others have taken a raft snapshot past it and compacted their log.
      const before = await appliedIndex(ctx, leader);
      const need = SNAPSHOT_TUNING.snapshotCount + SNAPSHOT_TUNING.catchUpEntries + 20;
      await waitApplied(ctx, leader, before + need, 30_000);
      const fp = pick(ctx.random, INSTALL_FAILPOINTS);
      await armAndRestart(ctx, target, `${fp}=panic`, false);
      return armedFault(
        ctx,
        [target],
        `n${target + 1} behind a compacted log: ${fp}=panic`,
        6000,
        10_000,
      );
    },
  },
  {
    name: "failpoint-all",
    chainfire: true,
    async inject(ctx) {
      const all = Array.from({ length: ctx.cluster.size }, (_, i) => i);
      await Promise.all(
        all.filter((i) => ctx.cluster.member(i).state !== "exited").map((i) => ctx.cluster.kill(i)),
      );
      const ns = all.map(() => between(ctx.random, 5, 60));
      for (const i of all) await armAndRestart(ctx, i, `crashDropUnsynced=${ns[i]}*panic`, false);
      const detail = all.map((i) => `n${i + 1}@${ns[i]}`).join(",");
      return armedFault(ctx, all, `every member: crashDropUnsynced ${detail}`, 5000, 10_000);
    },
  },
];

/** Kills member `i` (if running) and starts it with `spec` armed and unsynced loss. */
async function armAndRestart(
  ctx: NemesisContext,
  i: number,
  spec: string,
  kill = true,
): Promise<void> {
  const member = ctx.cluster.member(i);
  if (kill && member.state !== "exited") await ctx.cluster.kill(i, "SIGKILL");
  member.config.env = {
    ...(member.config.env ?? {}),
    CHAINFIRE_TEST_FAILPOINTS: spec,
    CHAINFIRE_TEST_UNSYNCED_LOSS: "1",
  };
  await ctx.cluster.restart(i, { waitReady: false });
}

/**
 * Waits until each of `targets` is up (healthy) or has already crashed: a Node start takes
 * seconds on a loaded machine, and the hold should begin when the armed member runs.
 */
async function upOrCrashed(ctx: NemesisContext, targets: number[]): Promise<void> {
  await Promise.all(
    targets.map((i) =>
      pollUntil(
        async () => {
          const m = ctx.cluster.member(i);
          if (m.state === "exited") return true;
          return (await m.healthy()) ? true : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100, what: `armed n${i + 1} up or crashed` },
      ).catch(() => undefined),
    ),
  );
}

/** The fault of armed members: healing records who fired, then restarts them unarmed. */
async function armedFault(
  ctx: NemesisContext,
  targets: number[],
  detail: string,
  minMs: number,
  maxMs: number,
): Promise<Fault> {
  await upOrCrashed(ctx, targets);
  return {
    detail: `${detail} (unsynced loss)`,
    holdMs: between(ctx.random, minMs, maxMs),
    async heal() {
      for (const i of targets) {
        const member = ctx.cluster.member(i);
        const spec = member.config.env?.CHAINFIRE_TEST_FAILPOINTS ?? "";
        const exit = member.state === "exited" ? member.lastExit : undefined;
        if (exit?.code === FAILPOINT_EXIT) {
          ctx.recorder.event(`failpoint fired: n${i + 1} ${spec}`);
        } else if (exit) {
          ctx.recorder.event(
            `n${i + 1} (${spec}) exited with code ${exit.code} signal ${exit.signal}, not by its failpoint`,
          );
        } else {
          ctx.recorder.event(`failpoint did not fire: n${i + 1} ${spec}`);
          await ctx.cluster.kill(i, "SIGKILL");
        }
        disarm(ctx, i);
        if (member.state === "exited") await ctx.cluster.restart(i, { waitReady: false });
      }
    },
  };
}

/** Removes the failpoint variables from member `i`'s environment (next start). */
export function disarm(ctx: Pick<NemesisContext, "cluster">, i: number): void {
  const env = { ...(ctx.cluster.member(i).config.env ?? {}) };
  delete env.CHAINFIRE_TEST_FAILPOINTS;
  delete env.CHAINFIRE_TEST_UNSYNCED_LOSS;
  ctx.cluster.member(i).config.env = env;
}

async function leaderOr(ctx: NemesisContext, up: number[]): Promise<number> {
  const leader = await ctx.cluster.leader(500).catch(() => undefined);
  return leader ?? pick(ctx.random, up);
}

function running(ctx: NemesisContext): number[] {
  const all = Array.from({ length: ctx.cluster.size }, (_, i) => i);
  const up = all.filter((i) => ctx.cluster.member(i).state === "running");
  return up.length > 0 ? up : sample(ctx.random, all, all.length);
}

async function appliedIndex(ctx: NemesisContext, i: number): Promise<number> {
  const s = await ctx.cluster.client(i).status(2000);
  return Number(s.raftAppliedIndex ?? s.raftIndex);
}

/** Polls member `i` until its applied index reaches `index` (the workload writes meanwhile). */
async function waitApplied(
  ctx: NemesisContext,
  i: number,
  index: number,
  timeoutMs: number,
): Promise<void> {
  await pollUntil(
    async () => ((await appliedIndex(ctx, i).catch(() => 0)) >= index ? true : undefined),
    { timeoutMs, intervalMs: 200, what: `n${i + 1} applied index ${index}` },
  );
}
