import { describe, expect, it } from "vitest";
import { formatReport, medianRun, type TargetRun, type WorkloadRun } from "./report.js";

function run(workload: string, opsPerSec: number): WorkloadRun {
  return {
    workload,
    ops: opsPerSec * 10,
    errors: 0,
    seconds: 10,
    opsPerSec,
    latencyMs: { p50: 1000 / opsPerSec, p90: 0, p99: 0, max: 0, mean: 0 },
    loadGeneratorCpuSec: 1,
    description: workload,
    clients: 1,
    connections: 1,
    placement: "leader",
  };
}

function target(name: string, ...runs: WorkloadRun[]): TargetRun {
  return { target: name, endpoints: [], members: [], runs };
}

describe("medianRun", () => {
  it("keeps, per workload, the round with the median ops/s and lists every round", () => {
    const merged = medianRun([
      target("chainfire", run("put-1", 300), run("put-100", 2000)),
      target("chainfire", run("put-1", 500), run("put-100", 1000)),
      target("chainfire", run("put-1", 400), run("put-100", 3000)),
    ]);
    expect(merged.runs.map((r) => r.opsPerSec)).toEqual([400, 2000]);
    // The whole round's result, latencies included, not a mix.
    expect(merged.runs[0].latencyMs.p50).toBe(1000 / 400);
    expect(merged.runs[0].roundsOpsPerSec).toEqual([300, 500, 400]);
    expect(merged.runs[1].roundsOpsPerSec).toEqual([2000, 1000, 3000]);
  });

  it("takes the lower middle of an even count, and returns a single round as it is", () => {
    const two = medianRun([target("etcd", run("put-1", 700)), target("etcd", run("put-1", 600))]);
    expect(two.runs[0].opsPerSec).toBe(600);
    const one = target("etcd", run("put-1", 700));
    expect(medianRun([one])).toBe(one);
    expect(() => medianRun([])).toThrow();
  });

  it("prints every round's ops/s under the comparison", () => {
    const etcd = medianRun([target("etcd", run("put-1", 600)), target("etcd", run("put-1", 700))]);
    const cf = medianRun([
      target("chainfire", run("put-1", 650)),
      target("chainfire", run("put-1", 750)),
    ]);
    const text = formatReport({
      startedAt: "",
      machine: { cpus: 2, node: "v20", loadGenerator: "test" },
      options: {},
      targets: [etcd, cf],
    });
    expect(text).toContain("put-1: etcd 600, 700; chainfire 650, 750");
    expect(text).toMatch(/put-1\s+600\s+650\s+1\.08x/);
  });
});
