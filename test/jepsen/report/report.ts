/**
 * The report of a run: `report.json` (options, counts, latencies, faults, events, every
 * check's verdict), `history.jsonl` (one operation per line, replayable through the
 * checkers: `npm run jepsen -- --check <dir>`), and `report.html` (the verdicts and a
 * latency plot over time with the fault windows shaded).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FaultWindow, Op } from "../history.js";
import type { Recorder } from "../recorder.js";
import { renderHtml } from "./html.js";

/** One check's verdict. */
export interface CheckResult {
  name: string;
  status: "pass" | "fail" | "unknown" | "skipped";
  detail: string;
}

/** Latency summary of ok operations of one kind (ms). */
export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface RunReport {
  verdict: "pass" | "fail" | "unknown";
  options: Record<string, unknown>;
  network: "netns" | "loopback";
  nemeses: string[];
  startedAt: string;
  durationMs: number;
  /** Operations by kind and status, e.g. `{ put: { ok: 10, unknown: 2 } }`. */
  counts: Record<string, Record<string, number>>;
  latency: Record<string, LatencySummary>;
  /** Longest stretch of the workload with no successful operation (ms), and when. */
  longestOutage: { ms: number; from: number };
  faults: FaultWindow[];
  events: { at: number; message: string }[];
  checks: CheckResult[];
  /** Where the files were written. */
  dir?: string;
}

/** Builds the report from a finished run. */
export function summarize(input: {
  options: Record<string, unknown>;
  network: "netns" | "loopback";
  nemeses: string[];
  startedAt: Date;
  recorder: Recorder;
  checks: CheckResult[];
  /** Index of the first final read (the outage is measured before it). */
  finalFrom: number;
}): RunReport {
  const ops = input.recorder.ops;
  const counts: Record<string, Record<string, number>> = {};
  const latencies: Record<string, number[]> = {};
  for (const op of ops) {
    counts[op.f] ??= {};
    counts[op.f][op.status] = (counts[op.f][op.status] ?? 0) + 1;
    if (op.status === "ok") (latencies[op.f] ??= []).push(op.complete! - op.invoke);
  }
  const latency: Record<string, LatencySummary> = {};
  for (const [f, values] of Object.entries(latencies)) {
    values.sort((a, b) => a - b);
    const at = (q: number) =>
      round(values[Math.min(values.length - 1, Math.floor(q * values.length))]);
    latency[f] = {
      count: values.length,
      p50: at(0.5),
      p99: at(0.99),
      max: round(values[values.length - 1]),
    };
  }
  const statuses = input.checks.map((c) => c.status);
  const verdict = statuses.includes("fail")
    ? "fail"
    : statuses.includes("unknown")
      ? "unknown"
      : "pass";
  return {
    verdict,
    options: input.options,
    network: input.network,
    nemeses: input.nemeses,
    startedAt: input.startedAt.toISOString(),
    durationMs: round(input.recorder.now()),
    counts,
    latency,
    longestOutage: longestOutage(ops.slice(0, input.finalFrom || ops.length)),
    faults: input.recorder.faults,
    events: input.recorder.events,
    checks: input.checks,
  };
}

/** Writes the report files into a new folder under `root`; returns the folder. */
export function writeReport(root: string, report: RunReport, recorder: Recorder): string {
  const o = report.options;
  const stamp = report.startedAt.replace(/[:.]/g, "-");
  const dir = join(
    root,
    `jepsen-${stamp}-${o.kind}-${o.workload}-${String(o.nemesis).replace(/,/g, "+")}`,
  );
  mkdirSync(dir, { recursive: true });
  report.dir = dir;
  writeFileSync(join(dir, "report.json"), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(
    join(dir, "history.jsonl"),
    recorder.ops.map((op) => JSON.stringify(op)).join("\n") + "\n",
  );
  writeFileSync(join(dir, "report.html"), renderHtml(report, recorder.ops));
  return dir;
}

/** Formats the verdicts for a terminal. */
export function formatReport(report: RunReport): string {
  const lines = [
    `verdict: ${report.verdict.toUpperCase()}`,
    `operations: ${Object.entries(report.counts)
      .map(
        ([f, c]) =>
          `${f} ${Object.entries(c)
            .map(([s, n]) => `${s}=${n}`)
            .join(" ")}`,
      )
      .join(", ")}`,
    `faults: ${report.faults.length} (${[...new Set(report.faults.map((f) => f.name))].join(", ") || "none"})`,
    `longest outage: ${Math.round(report.longestOutage.ms)} ms at ${(report.longestOutage.from / 1000).toFixed(1)} s`,
  ];
  for (const check of report.checks) {
    const detail =
      check.status === "pass" || check.status === "skipped"
        ? ` — ${firstLine(check.detail)}`
        : `\n${indent(check.detail)}`;
    lines.push(`  ${check.status.toUpperCase().padEnd(7)} ${check.name}${detail}`);
  }
  if (report.dir) lines.push(`report: ${report.dir}`);
  return lines.join("\n");
}

function longestOutage(ops: readonly Op[]): { ms: number; from: number } {
  const done = ops
    .filter((op) => op.status === "ok")
    .map((op) => op.complete!)
    .sort((a, b) => a - b);
  let best = { ms: 0, from: 0 };
  for (let i = 1; i < done.length; i++) {
    const gap = done[i] - done[i - 1];
    if (gap > best.ms) best = { ms: round(gap), from: round(done[i - 1]) };
  }
  return best;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function firstLine(text: string): string {
  const lines = text.split("\n");
  return lines.length > 1 ? `${lines[0]} …` : lines[0];
}

function indent(text: string): string {
  return text
    .split("\n")
    .slice(0, 60)
    .map((l) => `          ${l}`)
    .join("\n");
}
