/**
 * The k8s workload (workloads/k8s.ts, checker/k8s.ts) in CI: a short run on the current
 * compatibility target under kill -9 of the leader, with the compactor and the stalling
 * informers, then kill -9 of every member and restart. Every check must pass, the
 * nemesis must have fired, compactions must have happened and nothing may be left
 * running. Longer runs: `npm run jepsen -- --workload k8s --time 90 --nemesis all`.
 *
 * The seed is random per run and printed; replay with JEPSEN_SEED=<seed>.
 */
import { describe, expect, it } from "vitest";
import { compatTargets } from "../compat/targets.js";
import { trackedProcesses } from "../harness/cleanup.js";
import { netnsSupport, ownNamespaces } from "../harness/netns.js";
import { formatReport } from "./report/report.js";
import { DEFAULT_OPTIONS, runJepsen } from "./run.js";

const net = netnsSupport();
const seed = Number(process.env.JEPSEN_SEED ?? Math.floor(Math.random() * 2 ** 31));

describe.each(compatTargets())("k8s workload on %s", (kind) => {
  it("OCC writes, paged lists, informers, leases and compaction under kill -9 of the leader", async () => {
    console.log(`jepsen k8s: ${kind}, seed ${seed} (replay: JEPSEN_SEED=${seed})`);
    const report = await runJepsen({
      ...DEFAULT_OPTIONS,
      kind,
      workload: "k8s",
      timeSec: 12,
      nemesis: "kill-leader",
      // Members in their own namespaces when possible: on loopback, a port freed by the
      // kill can be taken by another test's member on this shared machine, and the
      // clients then talk to a foreign cluster (seen once: revisions from 192 back to 2).
      network: net.ok ? "netns" : "loopback",
      seed,
      out: undefined,
      log: (line) => console.log(line),
    });
    console.log(formatReport(report));
    for (const check of report.checks) {
      expect(
        check.status === "pass" || check.status === "skipped",
        `${check.name}: ${check.detail}`,
      ).toBe(true);
    }
    expect(new Set(report.faults.map((f) => f.name))).toEqual(
      new Set(["kill-leader", "kill-all (final)"]),
    );
    expect(report.events.some((e) => e.message.startsWith("compacted to"))).toBe(true);
    expect(report.counts.cas?.ok ?? 0).toBeGreaterThan(50);
    expect([...trackedProcesses().values()]).toEqual([]);
    if (net.ok) expect(ownNamespaces()).toEqual([]);
  }, 180_000);
});
