/**
 * Membership nemesis (`member-replace`): a follower is removed from the cluster
 * (MemberRemove), killed, its data dir wiped, added back as a learner at the same peer
 * URL (MemberAdd, a new member id), started with `--initial-cluster-state existing` (it
 * joins and needs the leader's snapshot), and promoted (MemberPromote, retried until the
 * learner has caught up) when the fault is healed. The harness keeps its slot, so the
 * run's clients and checks see the same number of members. Works on etcd and Chainfire.
 */
import { rmSync } from "node:fs";
import { etcdserverpb } from "@chainfire/api";
import { Metadata } from "@grpc/grpc-js";
import type { Cluster } from "../../harness/index.js";
import { describeError, pollUntil } from "../../harness/wait.js";
import { between, pick } from "../random.js";
import type { Nemesis, NemesisContext } from "./nemeses.js";

type Unary<Req, Res> = (
  req: Req,
  md: Metadata,
  opts: { deadline: number },
  cb: (err: Error | null, res: Res) => void,
) => unknown;

/** One Cluster RPC through the current leader, retried (new leader, not yet applied) until `timeoutMs`. */
async function viaLeader<Res>(
  cluster: Cluster,
  what: string,
  call: (c: etcdserverpb.ClusterClient) => Promise<Res>,
  timeoutMs = 30_000,
  retryOn: RegExp = /./,
): Promise<Res> {
  let last = "";
  return await pollUntil(
    async () => {
      const leader = await cluster.leader(1000).catch(() => undefined);
      if (leader === undefined) return undefined;
      try {
        return await call(cluster.client(leader).cluster);
      } catch (error) {
        last = describeError(error);
        if (!retryOn.test(last)) throw error;
        return undefined;
      }
    },
    { timeoutMs, intervalMs: 250, what: `${what} (last error: ${last || "none"})` },
  );
}

function unary<Req, Res>(client: etcdserverpb.ClusterClient, fn: Unary<Req, Res>, req: Req) {
  return new Promise<Res>((resolve, reject) =>
    fn.call(client, req, new Metadata(), { deadline: Date.now() + 5000 }, (err, res) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

export const MEMBERSHIP_NEMESES: readonly Nemesis[] = [
  {
    name: "member-replace",
    minSize: 3,
    async inject(ctx: NemesisContext) {
      const c = ctx.cluster;
      const leader = await c.leader(2000).catch(() => undefined);
      const followers = Array.from({ length: c.size }, (_, i) => i).filter(
        (i) => i !== leader && c.member(i).state === "running" && c.member(i).id !== undefined,
      );
      if (leader === undefined || followers.length === 0) throw new Error("no leader or follower");
      const i = pick(ctx.random, followers);
      const m = c.member(i);
      const oldId = m.id!;
      await viaLeader(c, `MemberRemove n${i + 1}`, (cl) =>
        unary(
          cl,
          cl.memberRemove as never,
          etcdserverpb.MemberRemoveRequest.fromPartial({ ID: oldId }),
        ),
      );
      if (m.state !== "exited") await c.kill(i, "SIGKILL");
      rmSync(m.config.dataDir, { recursive: true, force: true });
      const added = await viaLeader(
        c,
        `MemberAdd learner ${m.advertisePeerUrl}`,
        (cl) =>
          unary<etcdserverpb.MemberAddRequest, etcdserverpb.MemberAddResponse>(
            cl,
            cl.memberAdd as never,
            etcdserverpb.MemberAddRequest.fromPartial({
              peerURLs: [m.advertisePeerUrl],
              isLearner: true,
            }),
          ),
        30_000,
        // etcd refuses a change while the previous one is not applied everywhere yet.
        /unhealthy|not.*started|too many learner|timed out|Unavailable|UNAVAILABLE|DEADLINE/i,
      );
      const newId = added.member!.ID;
      m.id = newId;
      m.config.initialClusterState = "existing";
      await c.restart(i, { waitReady: false });
      ctx.recorder.event(
        `member-replace: n${i + 1} ${oldId.toString(16)} removed, re-added as learner ${newId.toString(16)}`,
      );
      return {
        detail: `n${i + 1} removed, wiped, re-added as a learner (promoted at heal)`,
        holdMs: between(ctx.random, 3000, 6000),
        async heal() {
          if (m.state === "exited") await c.restart(i, { waitReady: false });
          await viaLeader(
            c,
            `MemberPromote n${i + 1}`,
            (cl) =>
              unary(
                cl,
                cl.memberPromote as never,
                etcdserverpb.MemberPromoteRequest.fromPartial({ ID: newId }),
              ),
            60_000,
            /in sync|not.*ready|Unavailable|UNAVAILABLE|DEADLINE|timed out|unhealthy/i,
          );
          ctx.recorder.event(`member-replace: n${i + 1} ${newId.toString(16)} promoted`);
        },
      };
    },
  },
];
