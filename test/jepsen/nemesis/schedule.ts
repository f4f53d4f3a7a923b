/**
 * The nemesis schedule: quiet, fault, hold, heal, wait for a leader, repeat — until the
 * deadline, taking the nemeses in shuffled rounds so each one gets its turn. Holds are
 * timed (that is what a fault is); waiting for recovery polls with a deadline. Every
 * fault is recorded as a window on the run's clock.
 */
import { delay, describeError } from "../../harness/wait.js";
import { between, sample } from "../random.js";
import { disarm } from "./failpoint-nemeses.js";
import type { Fault, Nemesis, NemesisContext } from "./nemeses.js";

/** Options of {@link runSchedule}. */
export interface ScheduleOptions {
  /** Stop injecting at this time on the recorder's clock (ms). */
  untilMs: number;
  /** Quiet time between faults (ms, inclusive range). */
  quietMs: [number, number];
  signal?: AbortSignal;
  log?: (line: string) => void;
}

/** Runs faults until the deadline; every injected fault is healed before it returns. */
export async function runSchedule(
  ctx: NemesisContext,
  nemeses: readonly Nemesis[],
  options: ScheduleOptions,
): Promise<void> {
  const log = options.log ?? (() => {});
  const clock = ctx.recorder;
  // Rounds of a shuffled list: every nemesis gets its turn, in a seeded random order.
  let round: Nemesis[] = [];
  while (clock.now() < options.untilMs && !options.signal?.aborted) {
    await hold(between(ctx.random, ...options.quietMs), options.signal);
    if (clock.now() >= options.untilMs || options.signal?.aborted || nemeses.length === 0) break;
    if (round.length === 0) round = sample(ctx.random, nemeses, nemeses.length);
    const nemesis = round.shift()!;
    const startedAt = clock.now();
    let fault: Fault | undefined;
    let close: (() => void) | undefined;
    try {
      fault = await nemesis.inject(ctx);
      close = clock.fault(nemesis.name, fault.detail);
      // The window starts when the injection began, not when it finished.
      clock.faults[clock.faults.length - 1].start = startedAt;
      log(`nemesis: ${nemesis.name}: ${fault.detail} for ${fault.holdMs} ms`);
      await hold(
        Math.min(fault.holdMs, Math.max(0, options.untilMs - clock.now()) + 500),
        options.signal,
      );
    } catch (error) {
      clock.event(`nemesis ${nemesis.name} failed to inject: ${describeError(error)}`);
      log(`nemesis: ${nemesis.name} failed: ${describeError(error)}`);
    } finally {
      if (fault) {
        try {
          await fault.heal();
        } catch (error) {
          clock.event(`nemesis ${nemesis.name} failed to heal: ${describeError(error)}`);
        }
        close?.();
      }
    }
    try {
      await ctx.cluster.waitForLeader(20_000);
    } catch (error) {
      clock.event(`no leader 20 s after healing ${nemesis.name}: ${describeError(error)}`);
      log(`nemesis: no leader after healing ${nemesis.name}`);
    }
  }
}

/** Undoes anything a run may have left: resumes stopped members, restarts dead ones, heals the network. */
export async function healAll(ctx: NemesisContext): Promise<void> {
  await ctx.net?.heal();
  for (const p of ctx.proxies ?? []) p.setDelay({ meanMs: 0, jitterMs: 0 });
  for (let i = 0; i < (ctx.clocks?.size ?? 0); i++) ctx.clocks?.set(i, 0);
  for (let i = 0; i < ctx.cluster.size; i++) {
    const member = ctx.cluster.member(i);
    if (member.state === "stopped") ctx.cluster.cont(i);
    if (member.state === "exited") {
      disarm(ctx, i);
      await ctx.cluster.restart(i, { waitReady: false });
    }
  }
}

async function hold(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, signal);
  } catch {
    // aborted
  }
}
