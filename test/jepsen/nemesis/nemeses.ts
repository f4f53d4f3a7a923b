/**
 * Nemeses: faults injected into a running cluster and healed after a timed hold.
 *
 * - kill-*: SIGKILL (kill -9) the leader, a follower, a minority or every member, then
 *   restart them on the same data dir;
 * - pause-*: SIGSTOP the leader or a follower for longer than the election timeout, then
 *   SIGCONT (the stopped member wakes up believing it still leads);
 * - partition-*: nftables rules between member namespaces (root only): the leader
 *   isolated, a random majority/minority split, a one-way cut into the leader, a
 *   "bridge" (two halves that share one member, 5 members), random packet loss.
 */
import type { Cluster } from "../../harness/index.js";
import type { NetnsNetwork } from "../../harness/netns.js";
import type { DelayProxy } from "../../harness/proxy.js";
import type { MemberClocks } from "../clock.js";
import { between, pick, type Random, sample } from "../random.js";
import type { Recorder } from "../recorder.js";
import { FAILPOINT_NEMESES } from "./failpoint-nemeses.js";
import { MEMBERSHIP_NEMESES } from "./membership-nemeses.js";

/** What a nemesis may act on. */
export interface NemesisContext {
  cluster: Cluster;
  /** Present when members run in network namespaces. */
  net: NetnsNetwork | undefined;
  /** One per member, in front of its peer port (loopback runs with a delay nemesis). */
  proxies: DelayProxy[] | undefined;
  /** Per-member fake wall clocks (runs with the clock nemesis). */
  clocks: MemberClocks | undefined;
  random: Random;
  recorder: Recorder;
  electionMs: number;
}

/** An injected fault, healed by {@link heal}. */
export interface Fault {
  detail: string;
  /** How long to hold the fault before healing (ms). */
  holdMs: number;
  heal(): Promise<void>;
}

export interface Nemesis {
  name: string;
  /** Needs network namespaces. */
  network?: boolean;
  /** Needs the peer proxies (loopback only). */
  proxy?: boolean;
  /** Needs per-member fake clocks. */
  clock?: boolean;
  /** Needs at least this many members. */
  minSize?: number;
  /** Needs Chainfire members (failpoints). */
  chainfire?: boolean;
  /** Wants a small --snapshot-count and catch-up (snapshots sent during the run). */
  snapshots?: boolean;
  inject(ctx: NemesisContext): Promise<Fault>;
}

/** Every nemesis by name. */
export const NEMESES: readonly Nemesis[] = [
  killNemesis("kill-leader", async (ctx) => [await leaderOrAny(ctx)]),
  killNemesis("kill-follower", async (ctx) => [await followerOrAny(ctx)]),
  killNemesis("kill-minority", async (ctx) => {
    const size = ctx.cluster.size;
    return sample(ctx.random, indexes(size), between(ctx.random, 1, Math.floor((size - 1) / 2)));
  }),
  killNemesis("kill-all", async (ctx) => indexes(ctx.cluster.size)),
  pauseNemesis("pause-leader", async (ctx) => leaderOrAny(ctx)),
  pauseNemesis("pause-follower", async (ctx) => followerOrAny(ctx)),
  {
    name: "partition-leader",
    network: true,
    async inject(ctx) {
      const leader = await leaderOrAny(ctx);
      const rest = indexes(ctx.cluster.size).filter((i) => i !== leader);
      return partition(ctx, [[leader], rest], `n${leader + 1} (leader) isolated`);
    },
  },
  {
    name: "partition-halves",
    network: true,
    async inject(ctx) {
      const shuffled = sample(ctx.random, indexes(ctx.cluster.size), ctx.cluster.size);
      const minority = shuffled.slice(0, Math.floor(ctx.cluster.size / 2));
      const majority = shuffled.slice(minority.length);
      return partition(ctx, [minority, majority], `${names(minority)} | ${names(majority)}`);
    },
  },
  {
    name: "partition-oneway",
    network: true,
    async inject(ctx) {
      // The leader hears nobody but is heard by all: its heartbeats keep followers quiet
      // while it cannot commit; check-quorum must depose it.
      const leader = await leaderOrAny(ctx);
      const rest = indexes(ctx.cluster.size).filter((i) => i !== leader);
      await ctx.net!.dropOneWay(rest, [leader]);
      return {
        detail: `${names(rest)} → n${leader + 1} (leader) dropped`,
        holdMs: hold(ctx),
        heal: () => ctx.net!.heal(),
      };
    },
  },
  {
    name: "partition-bridge",
    network: true,
    minSize: 5,
    async inject(ctx) {
      // Two halves that each see the bridge member and not each other (Jepsen's bridge).
      const s = sample(ctx.random, indexes(ctx.cluster.size), ctx.cluster.size);
      const mid = Math.floor(s.length / 2);
      const bridge = s[mid];
      const detail = `${names(s.slice(0, mid))} | ${names(s.slice(mid + 1))}, bridged by n${bridge + 1}`;
      return partition(ctx, [s.slice(0, mid), s.slice(mid + 1)], detail);
    },
  },
  {
    name: "delay",
    proxy: true,
    async inject(ctx) {
      const meanMs = between(ctx.random, 10, Math.round(ctx.electionMs / 3));
      for (const p of ctx.proxies!) p.setDelay({ meanMs, jitterMs: meanMs });
      return {
        detail: `every peer message delayed ${meanMs} ± ${meanMs} ms (reordered across connections)`,
        holdMs: hold(ctx),
        async heal() {
          for (const p of ctx.proxies!) p.setDelay({ meanMs: 0, jitterMs: 0 });
        },
      };
    },
  },
  {
    name: "delay-leader",
    proxy: true,
    async inject(ctx) {
      // Slower than the election timeout: the leader's acks and votes arrive too late.
      const leader = await leaderOrAny(ctx);
      const meanMs = between(ctx.random, ctx.electionMs / 2, ctx.electionMs * 2);
      ctx.proxies![leader].setDelay({ meanMs, jitterMs: meanMs / 2 });
      return {
        detail: `messages to n${leader + 1} (leader) delayed ${meanMs} ± ${meanMs / 2} ms`,
        holdMs: hold(ctx),
        async heal() {
          ctx.proxies![leader].setDelay({ meanMs: 0, jitterMs: 0 });
        },
      };
    },
  },
  {
    name: "delay-follower",
    proxy: true,
    async inject(ctx) {
      // A follower that lags seconds behind: its serializable reads are stale.
      const follower = await followerOrAny(ctx);
      const meanMs = between(ctx.random, ctx.electionMs, ctx.electionMs * 3);
      ctx.proxies![follower].setDelay({ meanMs, jitterMs: 0 });
      return {
        detail: `messages to n${follower + 1} (follower) delayed ${meanMs} ms`,
        holdMs: hold(ctx),
        async heal() {
          ctx.proxies![follower].setDelay({ meanMs: 0, jitterMs: 0 });
        },
      };
    },
  },
  {
    name: "clock",
    clock: true,
    async inject(ctx) {
      // Step one member's wall clock (the leader half the time) by up to ±60 s.
      const target =
        ctx.random() < 0.5 ? await leaderOrAny(ctx) : pick(ctx.random, indexes(ctx.cluster.size));
      const offset = (ctx.random() < 0.5 ? -1 : 1) * between(ctx.random, 2, 60);
      ctx.clocks!.set(target, offset);
      return {
        detail: `wall clock of n${target + 1} stepped ${offset > 0 ? "+" : ""}${offset} s`,
        holdMs: hold(ctx),
        async heal() {
          ctx.clocks!.set(target, 0);
        },
      };
    },
  },
  ...FAILPOINT_NEMESES,
  ...MEMBERSHIP_NEMESES,
  {
    name: "loss",
    network: true,
    async inject(ctx) {
      const percent = between(ctx.random, 20, 60);
      await ctx.net!.loss(percent);
      return {
        detail: `${percent}% of packets between members dropped`,
        holdMs: hold(ctx),
        heal: () => ctx.net!.heal(),
      };
    },
  },
];

/** Groups of nemeses selectable by one name on the command line. */
export const NEMESIS_GROUPS: Record<string, string[]> = {
  kill: ["kill-leader", "kill-follower", "kill-minority", "kill-all"],
  pause: ["pause-leader", "pause-follower"],
  partition: ["partition-leader", "partition-halves", "partition-oneway", "partition-bridge"],
  delay: ["delay", "delay-leader", "delay-follower"],
  clock: ["clock"],
  failpoint: FAILPOINT_NEMESES.map((n) => n.name),
  membership: MEMBERSHIP_NEMESES.map((n) => n.name),
  all: NEMESES.map((n) => n.name),
};

/**
 * Resolves names and group names to nemeses usable with this cluster; the skipped ones
 * come back with the reason.
 */
export function selectNemeses(
  spec: string,
  size: number,
  can: { network: boolean; proxy: boolean; clock: boolean; chainfire: boolean },
): { nemeses: Nemesis[]; skipped: string[] } {
  const wanted = new Set<string>();
  for (const part of spec.split(",").map((p) => p.trim())) {
    if (part === "none" || part === "") continue;
    const group = NEMESIS_GROUPS[part];
    if (group) for (const n of group) wanted.add(n);
    else if (NEMESES.some((n) => n.name === part)) wanted.add(part);
    else throw new Error(`unknown nemesis ${JSON.stringify(part)}: ${nemesisNames()}`);
  }
  const nemeses: Nemesis[] = [];
  const skipped: string[] = [];
  for (const nemesis of NEMESES) {
    if (!wanted.has(nemesis.name)) continue;
    if (nemesis.network && !can.network) {
      skipped.push(`${nemesis.name}: needs network namespaces`);
    } else if (nemesis.proxy && !can.proxy) {
      skipped.push(`${nemesis.name}: needs peer proxies (loopback runs)`);
    } else if (nemesis.clock && !can.clock) {
      skipped.push(
        `${nemesis.name}: needs libfaketime and a member that reads the clock through libc (Chainfire)`,
      );
    } else if (nemesis.chainfire && !can.chainfire) {
      skipped.push(`${nemesis.name}: needs Chainfire members (failpoints)`);
    } else if ((nemesis.minSize ?? 1) > size)
      skipped.push(`${nemesis.name}: needs ${nemesis.minSize} members`);
    else if (
      size === 1 &&
      nemesis.name !== "kill-all" &&
      nemesis.name !== "kill-leader" &&
      nemesis.name !== "pause-leader" &&
      nemesis.name !== "failpoint-member" &&
      nemesis.name !== "failpoint-all" &&
      nemesis.name !== "clock"
    ) {
      skipped.push(`${nemesis.name}: meaningless with one member`);
    } else nemeses.push(nemesis);
  }
  return { nemeses, skipped };
}

/** Every accepted name, for help texts. */
export function nemesisNames(): string {
  return [...Object.keys(NEMESIS_GROUPS), ...NEMESES.map((n) => n.name), "none"].join(", ");
}

function killNemesis(name: string, targets: (ctx: NemesisContext) => Promise<number[]>): Nemesis {
  return {
    name,
    async inject(ctx) {
      const chosen = (await targets(ctx)).filter((i) => ctx.cluster.member(i).state !== "exited");
      await Promise.all(chosen.map((i) => ctx.cluster.kill(i, "SIGKILL")));
      return {
        detail: `kill -9 ${names(chosen)}`,
        holdMs: between(ctx.random, 500, 3000),
        async heal() {
          for (const i of chosen) {
            if (ctx.cluster.member(i).state === "exited") {
              await ctx.cluster.restart(i, { waitReady: false });
            }
          }
        },
      };
    },
  };
}

function pauseNemesis(name: string, target: (ctx: NemesisContext) => Promise<number>): Nemesis {
  return {
    name,
    async inject(ctx) {
      const i = await target(ctx);
      if (ctx.cluster.member(i).state !== "running") throw new Error(`n${i + 1} is not running`);
      ctx.cluster.stop(i);
      return {
        detail: `SIGSTOP n${i + 1}`,
        // Longer than the election timeout, so the others elect a new leader.
        holdMs: between(ctx.random, Math.round(ctx.electionMs * 1.5), ctx.electionMs * 4),
        async heal() {
          if (ctx.cluster.member(i).state === "stopped") ctx.cluster.cont(i);
        },
      };
    },
  };
}

async function partition(ctx: NemesisContext, groups: number[][], detail: string): Promise<Fault> {
  await ctx.net!.partition(groups);
  return { detail, holdMs: hold(ctx), heal: () => ctx.net!.heal() };
}

function hold(ctx: NemesisContext): number {
  return between(ctx.random, ctx.electionMs * 2, ctx.electionMs * 6);
}

async function leaderOrAny(ctx: NemesisContext): Promise<number> {
  const leader = await ctx.cluster.leader(500).catch(() => undefined);
  if (leader !== undefined) return leader;
  return pick(ctx.random, running(ctx));
}

async function followerOrAny(ctx: NemesisContext): Promise<number> {
  const leader = await ctx.cluster.leader(500).catch(() => undefined);
  const candidates = running(ctx).filter((i) => i !== leader);
  return pick(ctx.random, candidates.length > 0 ? candidates : indexes(ctx.cluster.size));
}

function running(ctx: NemesisContext): number[] {
  const up = indexes(ctx.cluster.size).filter((i) => ctx.cluster.member(i).state === "running");
  return up.length > 0 ? up : indexes(ctx.cluster.size);
}

function indexes(size: number): number[] {
  return Array.from({ length: size }, (_, i) => i);
}

function names(members: number[]): string {
  return members.map((i) => `n${i + 1}`).join(",");
}
