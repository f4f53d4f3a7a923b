import { ClusterSim, type SimResult } from "./cluster-sim.js";

/** Options of `npm run sim`. */
export interface CliOptions {
  seeds: number;
  start: number;
  /** Cluster sizes to alternate between (3 and 5 unless --nodes is given). */
  nodes: number[];
  steps: number;
  livenessTicks: number;
  /** Print the full trace of every failing seed (else its last lines). */
  fullTrace: boolean;
  /** Stop at the first failure. */
  failFast: boolean;
}

export const USAGE = `usage: npm run sim -- [--seeds N] [--start S] [--nodes 3|5] [--steps K]
                      [--liveness-ticks T] [--full-trace] [--fail-fast]
  Runs N seeded simulations (seeds S..S+N-1), alternating 3- and 5-voter clusters unless
  --nodes is given, each for K events of faults followed by a liveness phase. Prints
  progress, and for each failing seed its seed, error and trace.`;

/** Parses argv (without the node and script paths). Throws on bad input. */
export function parseArgs(argv: readonly string[]): CliOptions {
  const o: CliOptions = {
    seeds: 100,
    start: 1,
    nodes: [3, 5],
    steps: 3000,
    livenessTicks: 400,
    fullTrace: false,
    failFast: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${a} needs a non-negative integer`);
      return v;
    };
    switch (a) {
      case "--seeds":
        o.seeds = num();
        break;
      case "--start":
        o.start = num();
        break;
      case "--nodes":
        o.nodes = [num()];
        break;
      case "--steps":
        o.steps = num();
        break;
      case "--liveness-ticks":
        o.livenessTicks = num();
        break;
      case "--full-trace":
        o.fullTrace = true;
        break;
      case "--fail-fast":
        o.failFast = true;
        break;
      default:
        throw new Error(`unknown argument ${a}\n${USAGE}`);
    }
  }
  return o;
}

/** Runs one seed with the CLI's defaults (the cluster size alternates with the seed). */
export function runSeed(seed: number, o: CliOptions, fullTrace = false): SimResult {
  const voters = o.nodes[seed % o.nodes.length];
  return new ClusterSim({
    seed,
    voters,
    steps: o.steps,
    livenessTicks: o.livenessTicks,
    keepFullTrace: fullTrace,
  }).run();
}

/** Summarizes a failing result: seed, error and trace. */
export function describeFailure(r: SimResult): string {
  return [
    `FAIL seed=${r.seed} voters=${r.voters}: ${r.error}`,
    `--- trace (${r.tail.length} of ${r.traceLines} lines, hash ${r.traceHash}) ---`,
    ...r.tail,
    `--- end of trace; rerun: npm run sim -- --seeds 1 --start ${r.seed} --nodes ${r.voters} --full-trace ---`,
  ].join("\n");
}

/**
 * Runs the seeds, printing progress and failures through `print`; returns the number of
 * failing seeds. `now` (milliseconds) is only used for the progress rate.
 */
export function runCli(o: CliOptions, print: (line: string) => void, now: () => number): number {
  const t0 = now();
  let failed = 0;
  let events = 0;
  let ticks = 0;
  let leaderTicks = 0;
  let ticksSeed = 0;
  let leaderSeed = 0;
  const every = Math.max(1, Math.min(500, Math.floor(o.seeds / 20)));
  for (let k = 0; k < o.seeds; k++) {
    const seed = o.start + k;
    const r = runSeed(seed, o);
    events += r.stats.events;
    if (r.stats.livenessTicks > ticks) {
      ticks = r.stats.livenessTicks;
      ticksSeed = seed;
    }
    if (r.stats.leaderTicks > leaderTicks) {
      leaderTicks = r.stats.leaderTicks;
      leaderSeed = seed;
    }
    if (!r.ok) {
      failed++;
      print(describeFailure(o.fullTrace ? runSeed(seed, o, true) : r));
      if (o.failFast) break;
    }
    if ((k + 1) % every === 0 || k + 1 === o.seeds) {
      const s = (now() - t0) / 1000;
      print(
        `${k + 1}/${o.seeds} seeds (${seed}), ${failed} failed, ${events} events, ${s.toFixed(1)}s, ${((k + 1) / s).toFixed(1)} seeds/s, slowest recovery: leader ${leaderTicks} ticks (seed ${leaderSeed}), commit everywhere ${ticks} ticks (seed ${ticksSeed})`,
      );
    }
  }
  print(failed === 0 ? `OK: ${o.seeds} seeds passed` : `FAILED: ${failed} of ${o.seeds} seeds`);
  return failed;
}
