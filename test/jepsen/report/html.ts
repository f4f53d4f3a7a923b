/**
 * The HTML page of a run: verdicts, counts, and two SVG plots over time — operation
 * latency (log scale; ok by kind, failed and unknown marked) and successful operations
 * per second — with every fault window shaded and labelled.
 */
import type { Op } from "../history.js";
import type { RunReport } from "./report.js";

const WIDTH = 1100;
const LEFT = 60;
const RIGHT = 20;
const PLOT_W = WIDTH - LEFT - RIGHT;
const COLORS: Record<string, string> = {
  get: "#1f77b4",
  put: "#2ca02c",
  cas: "#9467bd",
  del: "#8c564b",
};
const FAULT_COLORS = ["#ff7f0e", "#d62728", "#17becf", "#bcbd22", "#e377c2", "#7f7f7f"];
const MAX_POINTS = 30_000;

export function renderHtml(report: RunReport, ops: readonly Op[]): string {
  const end = Math.max(report.durationMs, 1);
  const x = (t: number) => LEFT + (Math.min(t, end) / end) * PLOT_W;
  const checks = report.checks
    .map(
      (c) =>
        `<tr class="${c.status}"><td>${c.name}</td><td>${c.status}</td><td><pre>${escapeHtml(c.detail)}</pre></td></tr>`,
    )
    .join("\n");
  const counts = Object.entries(report.counts)
    .map(
      ([f, c]) =>
        `<tr><td>${f}</td><td>${Object.entries(c)
          .map(([s, n]) => `${s} ${n}`)
          .join(", ")}</td><td>${latencyText(report, f)}</td></tr>`,
    )
    .join("\n");
  const faultRows = report.faults
    .map(
      (f) =>
        `<tr><td>${f.name}</td><td>${escapeHtml(f.detail)}</td><td>${secs(f.start)}</td><td>${f.end === undefined ? "never healed" : secs(f.end)}</td></tr>`,
    )
    .join("\n");
  const events = report.events
    .map((e) => `<li>${secs(e.at)} s: ${escapeHtml(e.message)}</li>`)
    .join("\n");
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>jepsen ${escapeHtml(String(report.options.kind))} ${report.verdict}</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 20px; color: #222 }
table { border-collapse: collapse; margin: 8px 0 16px } td, th { border: 1px solid #ccc; padding: 3px 8px; vertical-align: top }
tr.pass td:nth-child(2) { color: #2a2 } tr.fail td:nth-child(2) { color: #d22; font-weight: bold } tr.unknown td:nth-child(2), tr.skipped td:nth-child(2) { color: #b80 }
pre { margin: 0; white-space: pre-wrap; max-height: 300px; overflow: auto; font-size: 12px }
h1 .pass { color: #2a2 } h1 .fail { color: #d22 } h1 .unknown { color: #b80 }
</style></head><body>
<h1>${escapeHtml(String(report.options.kind))} × ${report.options.size}: <span class="${report.verdict}">${report.verdict.toUpperCase()}</span></h1>
<p>workload ${escapeHtml(String(report.options.workload))}, nemeses ${escapeHtml(report.nemeses.join(", ") || "none")}, network ${report.network},
seed ${report.options.seed}, started ${report.startedAt}, ${secs(report.durationMs)} s, longest outage ${Math.round(report.longestOutage.ms)} ms at ${secs(report.longestOutage.from)} s</p>
<h2>Checks</h2><table><tr><th>check</th><th>verdict</th><th>detail</th></tr>${checks}</table>
<h2>Latency</h2>${latencyPlot(ops, report, x)}
<h2>Throughput (successful operations per second)</h2>${throughputPlot(ops, report, x)}
<h2>Operations</h2><table><tr><th>kind</th><th>outcomes</th><th>latency of ok (ms)</th></tr>${counts}</table>
<h2>Faults</h2><table><tr><th>nemesis</th><th>detail</th><th>from (s)</th><th>to (s)</th></tr>${faultRows}</table>
<h2>Events</h2><ul>${events}</ul>
<p>Options: <code>${escapeHtml(JSON.stringify(report.options))}</code></p>
</body></html>
`;
}

function latencyPlot(ops: readonly Op[], report: RunReport, x: (t: number) => number): string {
  const height = 360;
  const top = 20;
  const bottom = height - 30;
  const lo = Math.log10(0.1);
  let slowest = 100;
  for (const o of ops)
    if (o.complete !== undefined) slowest = Math.max(slowest, o.complete - o.invoke);
  const hi = Math.log10(slowest);
  const y = (ms: number) =>
    bottom - ((Math.log10(Math.max(ms, 0.1)) - lo) / (hi - lo)) * (bottom - top);
  const stride = Math.max(1, Math.ceil(ops.length / MAX_POINTS));
  const marks: string[] = [];
  for (let i = 0; i < ops.length; i += stride) {
    const op = ops[i];
    if (op.status === "unknown") {
      marks.push(
        `<path d="M${x(op.invoke).toFixed(1)} ${top} v8" stroke="#d62728" stroke-width="1"><title>${op.f} unknown: ${escapeHtml(op.error ?? "")}</title></path>`,
      );
      continue;
    }
    const latency = op.complete! - op.invoke;
    const cx = x(op.complete!).toFixed(1);
    const cy = y(latency).toFixed(1);
    if (op.status === "fail") {
      marks.push(
        `<path d="M${cx} ${cy} m-2 -2 l4 4 m0 -4 l-4 4" stroke="#d62728" stroke-width="1"/>`,
      );
    } else {
      marks.push(
        `<circle cx="${cx}" cy="${cy}" r="1.4" fill="${COLORS[op.f] ?? "#333"}" fill-opacity="0.6"/>`,
      );
    }
  }
  const ticks: string[] = [];
  for (let d = Math.ceil(lo); d <= Math.floor(hi); d++) {
    const ms = 10 ** d;
    ticks.push(
      `<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${y(ms)}" y2="${y(ms)}" stroke="#eee"/><text x="${LEFT - 6}" y="${y(ms) + 4}" text-anchor="end" font-size="11">${ms >= 1 ? ms : ms.toFixed(1)} ms</text>`,
    );
  }
  const legend = Object.entries(COLORS)
    .map(
      ([f, c], i) =>
        `<circle cx="${LEFT + 10 + i * 70}" cy="${height - 8}" r="4" fill="${c}"/><text x="${LEFT + 18 + i * 70}" y="${height - 4}" font-size="11">${f} ok</text>`,
    )
    .join("");
  return svg(height, [
    faultBands(report, x, top, bottom),
    ...ticks,
    timeAxis(report, x, bottom),
    ...marks,
    legend,
    `<text x="${LEFT + 300}" y="${height - 4}" font-size="11" fill="#d62728">× failed   | (top) unknown outcome, at invoke</text>`,
  ]);
}

function throughputPlot(ops: readonly Op[], report: RunReport, x: (t: number) => number): string {
  const height = 200;
  const top = 20;
  const bottom = height - 30;
  const buckets = new Map<number, number>();
  for (const op of ops) {
    if (op.status !== "ok") continue;
    const b = Math.floor(op.complete! / 1000);
    buckets.set(b, (buckets.get(b) ?? 0) + 1);
  }
  const max = Math.max(1, ...buckets.values());
  const y = (n: number) => bottom - (n / max) * (bottom - top);
  const bars = [...buckets]
    .map(
      ([b, n]) =>
        `<rect x="${x(b * 1000).toFixed(1)}" y="${y(n).toFixed(1)}" width="${Math.max(1, x(1000) - x(0) - 1).toFixed(1)}" height="${(bottom - y(n)).toFixed(1)}" fill="#1f77b4" fill-opacity="0.7"><title>${b} s: ${n}</title></rect>`,
    )
    .join("");
  return svg(height, [
    faultBands(report, x, top, bottom),
    timeAxis(report, x, bottom),
    bars,
    `<text x="${LEFT - 6}" y="${top + 4}" text-anchor="end" font-size="11">${max}/s</text>`,
  ]);
}

function faultBands(
  report: RunReport,
  x: (t: number) => number,
  top: number,
  bottom: number,
): string {
  const names = [...new Set(report.faults.map((f) => f.name))];
  return report.faults
    .map((f) => {
      const color = FAULT_COLORS[names.indexOf(f.name) % FAULT_COLORS.length];
      const x1 = x(f.start);
      const x2 = x(f.end ?? report.durationMs);
      return `<rect x="${x1.toFixed(1)}" y="${top}" width="${Math.max(1, x2 - x1).toFixed(1)}" height="${bottom - top}" fill="${color}" fill-opacity="0.15"><title>${escapeHtml(`${f.name}: ${f.detail}`)}</title></rect><text x="${(x1 + 2).toFixed(1)}" y="${top - 4}" font-size="10" fill="${color}">${escapeHtml(f.name)}</text>`;
    })
    .join("");
}

function timeAxis(report: RunReport, x: (t: number) => number, bottom: number): string {
  const seconds = report.durationMs / 1000;
  const step = seconds > 600 ? 60 : seconds > 120 ? 10 : 5;
  const parts = [
    `<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${bottom}" y2="${bottom}" stroke="#999"/>`,
  ];
  for (let s = 0; s <= seconds; s += step) {
    parts.push(
      `<text x="${x(s * 1000)}" y="${bottom + 14}" text-anchor="middle" font-size="11">${s}s</text>`,
    );
  }
  return parts.join("");
}

function svg(height: number, parts: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}">${parts.join("\n")}</svg>`;
}

function latencyText(report: RunReport, f: string): string {
  const l = report.latency[f];
  return l ? `p50 ${l.p50}, p99 ${l.p99}, max ${l.max}` : "";
}

function secs(ms: number): string {
  return (ms / 1000).toFixed(1);
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
