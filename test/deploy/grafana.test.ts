/**
 * deploy/grafana/chainfire.json: a Grafana dashboard on the etcd-named metrics the
 * members export. Every metric the issue names is on it, every query uses only those
 * metrics (plus Prometheus' `up`), selects the dashboard's job and member variables,
 * and the panels tile the grid without overlapping.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "./tools.js";

const REQUIRED = [
  "etcd_server_has_leader",
  "etcd_server_leader_changes_seen_total",
  "etcd_server_proposals_committed_total",
  "etcd_server_proposals_applied_total",
  "etcd_server_proposals_pending",
  "etcd_server_proposals_failed_total",
  "etcd_disk_wal_fsync_duration_seconds",
  "etcd_disk_backend_commit_duration_seconds",
  "etcd_mvcc_db_total_size_in_bytes",
  "etcd_network_peer_round_trip_time_seconds",
  "grpc_server_handled_total",
  "process_resident_memory_bytes",
];
const PROMQL_WORDS = new Set([
  "sum",
  "by",
  "rate",
  "increase",
  "histogram_quantile",
  "le",
  "instance",
  "To",
  "grpc_code",
  "job",
]);

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets: { expr: string; refId: string }[];
}
const dashboard = JSON.parse(readFileSync(join(REPO, "deploy/grafana/chainfire.json"), "utf8")) as {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string }[] };
};

/** Metric names in a PromQL expression (identifiers outside strings and label sets). */
function metricsOf(expr: string): string[] {
  const bare = expr
    .replace(/"[^"]*"/g, '""')
    .replace(/\{[^}]*\}/g, "")
    .replace(/\[[^\]]*\]/g, "");
  const names = bare.match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? [];
  return names.filter((n) => !PROMQL_WORDS.has(n));
}

describe("Grafana dashboard", () => {
  const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
  const used = new Set(exprs.flatMap(metricsOf).map((m) => m.replace(/_bucket$/, "")));

  it("shows every metric the operators' alerts and etcd dashboards rely on", () => {
    for (const metric of REQUIRED) expect(used, metric).toContain(metric);
  });

  it("queries nothing else", () => {
    for (const metric of used) expect([...REQUIRED, "up"], metric).toContain(metric);
  });

  it("every query selects the job and member variables", () => {
    for (const expr of exprs) {
      for (const selector of expr.match(/\{[^}]*\}/g) ?? []) {
        expect(selector, expr).toContain('job="$job"');
        expect(selector, expr).toContain('instance=~"$instance"');
      }
    }
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(["datasource", "job", "instance"]);
  });

  it("has unique ids, titled panels, and a grid without overlaps", () => {
    expect(dashboard.uid).toBe("chainfire-overview");
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      expect(p.title).not.toBe("");
      expect(p.targets.length).toBeGreaterThan(0);
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
    }
  });

  it("the metric extraction sees through functions and labels", () => {
    expect(
      metricsOf(
        'histogram_quantile(0.99, sum by (instance, le) (rate(foo_bucket{job="$job"}[5m])))',
      ),
    ).toEqual(["foo_bucket"]);
  });
});
