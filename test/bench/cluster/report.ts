/**
 * Printing and saving benchmark results: a text table per target, a comparison table
 * (chainfire / etcd) when both ran, and JSON plus an HTML page with SVG bar charts.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LoadResult } from "./load.js";
import type { Workload } from "./workloads.js";

/** One workload's result on one target, with what the members used meanwhile. */
export interface WorkloadRun extends LoadResult {
  description: string;
  clients: number;
  connections: number;
  placement: Workload["placement"];
  /** CPU seconds each member used during the workload (harness-started members). */
  memberCpuSec?: (number | undefined)[];
  /** Resident memory of each member right after the workload, MB. */
  rssAfterMb?: (number | undefined)[];
  /** With --rounds: ops/s of this workload in every round, in order (this run is the median). */
  roundsOpsPerSec?: number[];
}

/** Everything measured on one target. */
export interface TargetRun {
  target: string;
  version?: string;
  endpoints: string[];
  members: string[];
  runs: WorkloadRun[];
  /** Resident memory of each member after the whole run, MB. */
  rssAfterMb?: (number | undefined)[];
}

export interface BenchReport {
  startedAt: string;
  machine: { cpus: number; node: string; loadGenerator: string };
  options: Record<string, unknown>;
  targets: TargetRun[];
}

/**
 * One TargetRun from several rounds of the same target: for each workload, the round whose
 * ops/s is the median (the lower middle one for an even count), with every round's ops/s
 * in `roundsOpsPerSec`. A single round is returned as it is.
 */
export function medianRun(rounds: TargetRun[]): TargetRun {
  if (rounds.length === 0) throw new Error("medianRun of no rounds");
  if (rounds.length === 1) return rounds[0];
  const first = rounds[0];
  return {
    ...first,
    runs: first.runs.map((r) => {
      const all = rounds
        .map((t) => t.runs.find((x) => x.workload === r.workload))
        .filter((x): x is WorkloadRun => x !== undefined);
      const sorted = [...all].sort((a, b) => a.opsPerSec - b.opsPerSec);
      const median = sorted[(sorted.length - 1) >> 1];
      return { ...median, roundsOpsPerSec: all.map((x) => x.opsPerSec) };
    }),
    rssAfterMb: rounds[rounds.length - 1].rssAfterMb,
  };
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mb = (values: (number | undefined)[] | undefined) =>
  values?.map((v) => (v === undefined ? "-" : fmt(v))).join("/") ?? "-";

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** The per-target tables, then the comparison when etcd and chainfire both ran. */
export function formatReport(report: BenchReport): string {
  const out: string[] = [];
  for (const t of report.targets) {
    out.push(`\n${t.target}${t.version ? ` ${t.version}` : ""} (${t.endpoints.join(", ")})`);
    out.push(
      table(
        [
          "workload",
          "clients/conns",
          "to",
          "ops/s",
          "p50 ms",
          "p90 ms",
          "p99 ms",
          "max ms",
          "errors",
          "member CPU s",
          "loadgen CPU s",
          "RSS MB",
        ],
        t.runs.map((r) => [
          r.workload,
          `${r.clients}/${r.connections}`,
          r.placement,
          fmt(r.opsPerSec),
          fmt(r.latencyMs.p50, 1),
          fmt(r.latencyMs.p90, 1),
          fmt(r.latencyMs.p99, 1),
          fmt(r.latencyMs.max, 1),
          String(r.errors),
          r.memberCpuSec?.map((c) => (c === undefined ? "-" : fmt(c, 1))).join("/") ?? "-",
          fmt(r.loadGeneratorCpuSec, 1),
          mb(r.rssAfterMb),
        ]),
      ),
    );
    for (const r of t.runs) {
      if (r.firstError) out.push(`  ${r.workload}: first error: ${r.firstError}`);
    }
  }
  const etcd = report.targets.find((t) => t.target === "etcd");
  const chainfire = report.targets.find((t) => t.target === "chainfire");
  if (etcd && chainfire) {
    out.push("\nchainfire / etcd (same machine, same load generator, same run)");
    const rows = chainfire.runs.map((c) => {
      const e = etcd.runs.find((r) => r.workload === c.workload);
      const ratio = (a: number, b: number | undefined) => (b ? `${fmt(a / b, 2)}x` : "-");
      return [
        c.workload,
        e ? fmt(e.opsPerSec) : "-",
        fmt(c.opsPerSec),
        ratio(c.opsPerSec, e?.opsPerSec),
        e ? fmt(e.latencyMs.p99, 1) : "-",
        fmt(c.latencyMs.p99, 1),
        ratio(c.latencyMs.p99, e?.latencyMs.p99),
        e ? mb(e.rssAfterMb) : "-",
        mb(c.rssAfterMb),
      ];
    });
    out.push(
      table(
        [
          "workload",
          "etcd ops/s",
          "chainfire ops/s",
          "ops ratio",
          "etcd p99",
          "cf p99",
          "p99 ratio",
          "etcd RSS MB",
          "cf RSS MB",
        ],
        rows,
      ),
    );
    const withRounds = chainfire.runs.filter((c) => c.roundsOpsPerSec);
    if (withRounds.length > 0) {
      out.push("\nops/s in each round (alternating; the tables show the median round)");
      for (const c of withRounds) {
        const e = etcd.runs.find((r) => r.workload === c.workload);
        const list = (x: WorkloadRun | undefined) =>
          x?.roundsOpsPerSec?.map((v) => fmt(v)).join(", ") ?? "-";
        out.push(`  ${c.workload}: etcd ${list(e)}; chainfire ${list(c)}`);
      }
    }
  }
  return `${out.join("\n")}\n`;
}

/** Writes `<dir>/bench-cluster-<stamp>.json` and `.html`; returns their paths. */
export function saveReport(report: BenchReport, dir: string): { json: string; html: string } {
  mkdirSync(dir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, "-");
  const json = join(dir, `bench-cluster-${stamp}.json`);
  const html = join(dir, `bench-cluster-${stamp}.html`);
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(html, renderHtml(report));
  return { json, html };
}

const COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759"];

function barChart(
  title: string,
  unit: string,
  workloads: string[],
  series: { name: string; values: (number | undefined)[] }[],
): string {
  const width = 860;
  const height = 320;
  const left = 70;
  const bottom = 60;
  const top = 40;
  const plotH = height - top - bottom;
  const max = Math.max(1, ...series.flatMap((s) => s.values.map((v) => v ?? 0)));
  const groupW = (width - left - 20) / Math.max(1, workloads.length);
  const barW = (groupW * 0.8) / Math.max(1, series.length);
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15">${esc(title)}</text>`,
    `<line x1="${left}" y1="${top + plotH}" x2="${width - 10}" y2="${top + plotH}" stroke="#333"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const y = top + plotH - (plotH * i) / 4;
    parts.push(
      `<line x1="${left}" y1="${y}" x2="${width - 10}" y2="${y}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${y + 4}" text-anchor="end">${fmt((max * i) / 4)}</text>`,
    );
  }
  workloads.forEach((w, wi) => {
    const x0 = left + wi * groupW + groupW * 0.1;
    series.forEach((s, si) => {
      const v = s.values[wi];
      if (v === undefined) return;
      const h = (plotH * v) / max;
      const x = x0 + si * barW;
      parts.push(
        `<rect x="${x}" y="${top + plotH - h}" width="${barW - 2}" height="${h}" fill="${COLORS[si % COLORS.length]}"><title>${esc(s.name)} ${esc(w)}: ${fmt(v, 1)} ${unit}</title></rect>`,
        `<text x="${x + barW / 2}" y="${top + plotH - h - 3}" text-anchor="middle" font-size="10">${fmt(v)}</text>`,
      );
    });
    parts.push(
      `<text x="${x0 + groupW * 0.4}" y="${top + plotH + 16}" text-anchor="middle">${esc(w)}</text>`,
    );
  });
  series.forEach((s, si) => {
    const x = left + si * 140;
    parts.push(
      `<rect x="${x}" y="${height - 22}" width="12" height="12" fill="${COLORS[si % COLORS.length]}"/>`,
      `<text x="${x + 16}" y="${height - 12}">${esc(s.name)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n");
}

function renderHtml(report: BenchReport): string {
  const workloads = [...new Set(report.targets.flatMap((t) => t.runs.map((r) => r.workload)))];
  const pick = (t: TargetRun, f: (r: WorkloadRun) => number) =>
    workloads.map((w) => {
      const r = t.runs.find((x) => x.workload === w);
      return r ? f(r) : undefined;
    });
  const ops = barChart(
    "throughput (ops/s, higher is better)",
    "ops/s",
    workloads,
    report.targets.map((t) => ({ name: t.target, values: pick(t, (r) => r.opsPerSec) })),
  );
  const p99 = barChart(
    "p99 latency (ms, lower is better)",
    "ms",
    workloads,
    report.targets.map((t) => ({ name: t.target, values: pick(t, (r) => r.latencyMs.p99) })),
  );
  const text = formatReport(report).replace(/&/g, "&amp;").replace(/</g, "&lt;");
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>chainfire bench:cluster ${report.startedAt}</title></head>
<body style="font-family:sans-serif">
<h1>bench:cluster — ${report.startedAt}</h1>
<p>${report.machine.cpus} CPUs, Node ${report.machine.node}; load generator: ${report.machine.loadGenerator}.
Compare targets only within one run: the Node load generator shares the CPUs with the members.</p>
${ops}
${p99}
<pre>${text}</pre>
</body></html>
`;
}
