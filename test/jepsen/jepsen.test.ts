/**
 * The CI selection of the fault-injection suite (a few minutes at most): the register
 * workload on the current compatibility target under kill -9 of the leader, SIGSTOP of
 * the leader and — when running as root — the leader partitioned away in network
 * namespaces, and on Chainfire a member restarted with a crash failpoint armed and
 * unsynced loss (nemesis/failpoint-nemeses.ts); then kill -9 of every member and a restart. Every check must pass:
 * linearizability, revisions, liveness, durability, HashKV (skipped with the reason when
 * unimplemented). Longer runs: `npm run jepsen -- --time 300 --nemesis all`.
 *
 * The seed is random per run and printed; replay with JEPSEN_SEED=<seed>.
 */
import { describe, expect, it } from "vitest";
import { compatTargets } from "../compat/targets.js";
import { trackedProcesses } from "../harness/cleanup.js";
import { netnsSupport, ownNamespaces } from "../harness/netns.js";
import { formatReport } from "./report/report.js";
import { DEFAULT_OPTIONS, runJepsen } from "./run.js";

const seed = Number(process.env.JEPSEN_SEED ?? Math.floor(Math.random() * 2 ** 31));
const net = netnsSupport();
if (!net.ok) console.warn(`jepsen: partitions skipped (${net.reason}); kill and pause still run`);

describe.each(compatTargets())("jepsen on %s", (kind) => {
  it("register under kill -9 leader, SIGSTOP leader, (root) leader partition, (chainfire) failpoint crash", async () => {
    const nemesis = [
      "kill-leader",
      "pause-leader",
      ...(net.ok ? ["partition-leader"] : []),
      ...(kind === "chainfire" ? ["failpoint-member"] : []),
    ];
    console.log(`jepsen: ${kind}, seed ${seed} (replay: JEPSEN_SEED=${seed})`);
    const report = await runJepsen({
      ...DEFAULT_OPTIONS,
      kind,
      timeSec: kind === "chainfire" ? 50 : 40,
      nemesis: nemesis.join(","),
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
    expect(new Set(report.faults.map((f) => f.name))).toEqual(
      new Set([...nemesis, "kill-all (final)"]),
    );
    expect(report.counts.put?.ok ?? 0).toBeGreaterThan(100);
    // Nothing left behind: no member process, no namespace.
    expect([...trackedProcesses().values()]).toEqual([]);
    if (net.ok) expect(ownNamespaces()).toEqual([]);
  }, 240_000);

  it("negative control: serializable reads from a lagging follower fail the check", async () => {
    // The same pipeline must say FAIL when reads may be stale, or a PASS means nothing.
    const report = await runJepsen({
      ...DEFAULT_OPTIONS,
      kind,
      timeSec: 10,
      nemesis: "delay-follower",
      network: "loopback",
      serializableReads: true,
      watchers: 0,
      leaseTtlSec: 0,
      crashRestart: false,
      seed,
      out: undefined,
      log: (line) => console.log(line),
    });
    const verdict = Object.fromEntries(report.checks.map((c) => [c.name, c.status]));
    expect(verdict.linearizable, formatReport(report)).toBe("fail");
    expect(verdict.revisions).toBe("fail");
  }, 120_000);
});
