import { describe, expect, it } from "vitest";
import { describeFailure } from "./cli.js";
import { ClusterSim, type SimOptions, type SimResult } from "./cluster-sim.js";

// The deterministic cluster simulation (see README.md here): many seeds of 3- and
// 5-voter clusters under faults, every safety property checked after every event, then a
// liveness check. Sized for CI; `npm run sim -- --seeds 10000` runs many more.
// A failure prints the seed, the violation and the end of the trace; rerun it with
// `npm run sim -- --seeds 1 --start <seed> --nodes <n> --full-trace`.

const STEPS = 2000;
const SEEDS_PER_SIZE = 400;

function run(opts: Partial<SimOptions> & { seed: number; voters: number }): SimResult {
  return new ClusterSim({ steps: STEPS, ...opts }).run();
}

/** Runs seeds [from, from+count) and returns the first failure's report, or "". */
function firstFailure(voters: number, from: number, count: number): string {
  for (let seed = from; seed < from + count; seed++) {
    const r = run({ seed, voters });
    if (!r.ok) return describeFailure(r);
  }
  return "";
}

describe("cluster simulation", () => {
  it(`3 voters: ${SEEDS_PER_SIZE} seeds keep every safety property and recover`, () => {
    const failure = firstFailure(3, 1, SEEDS_PER_SIZE);
    expect(failure, failure).toBe("");
  }, 120_000);

  it(`5 voters: ${SEEDS_PER_SIZE} seeds keep every safety property and recover`, () => {
    const failure = firstFailure(5, 100_001, SEEDS_PER_SIZE);
    expect(failure, failure).toBe("");
  }, 120_000);

  it("is deterministic: a seed always produces the same trace", () => {
    for (const [seed, voters] of [
      [7, 3],
      [8, 5],
    ]) {
      const a = run({ seed, voters });
      const b = run({ seed, voters });
      expect(a.traceLines).toBeGreaterThan(500);
      expect(b.traceHash).toBe(a.traceHash);
      expect(b.traceLines).toBe(a.traceLines);
      expect(b.stats).toEqual(a.stats);
    }
    expect(run({ seed: 9, voters: 3 }).traceHash).not.toBe(run({ seed: 10, voters: 3 }).traceHash);
  });

  it("exercises what it claims: elections, commits, crashes, membership, compaction, reads", () => {
    const total = {
      terms: 0,
      maxCommitted: 0,
      crashes: 0,
      confChanges: 0,
      snapshots: 0,
      readsServed: 0,
    };
    for (let seed = 1; seed <= 10; seed++) {
      const s = run({ seed, voters: seed % 2 === 0 ? 5 : 3 }).stats;
      total.terms += s.terms;
      total.maxCommitted += s.maxCommitted;
      total.crashes += s.crashes;
      total.confChanges += s.confChanges;
      total.snapshots += s.snapshots;
      total.readsServed += s.readsServed;
    }
    for (const [k, v] of Object.entries(total)) expect(v, k).toBeGreaterThan(10);
  });

  // The checkers are only worth something if they catch a broken driver.
  it("catches a driver that sends votes and acks before they are durable", () => {
    const r = firstBroken("send-before-persist");
    expect(r?.error).toMatch(/Durability Contract|One Vote Per Term|Election Safety|Log Matching/);
  });

  it("catches a storage that forgets the vote on a crash", () => {
    const r = firstBroken("lose-vote-on-crash");
    expect(r?.error).toMatch(/Durability Contract|One Vote Per Term|Election Safety/);
  });
});

function firstBroken(driverBug: SimOptions["driverBug"]): SimResult | undefined {
  for (let seed = 1; seed <= 50; seed++) {
    const r = run({ seed, voters: 3, driverBug });
    if (!r.ok) return r;
  }
  return undefined;
}
