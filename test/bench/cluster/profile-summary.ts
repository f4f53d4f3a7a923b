/**
 * Summarizes V8 .cpuprofile files (from `npm run bench:cluster -- --cpu-prof DIR`): for
 * each file, the busy time split by where the code lives (grpc-js, Node internals, each
 * workspace package, GC, ...) and the functions with the most self time.
 *
 *   node --import tsx test/bench/cluster/profile-summary.ts DIR [--top 25] [--last SEC]
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a function's code lives. */
export function category(url: string, name: string): string {
  if (url === "") {
    if (name === "(idle)" || name === "(program)" || name === "(garbage collector)") return name;
    return "(native)";
  }
  const pkg = /\/packages\/([^/]+)\//.exec(url);
  if (pkg && !url.includes("node_modules")) return `chainfire/${pkg[1]}`;
  const mod = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (mod) return mod[1];
  if (url.startsWith("node:")) return "node internals";
  return "other";
}

export interface Summary {
  wallMs: number;
  busyMs: number;
  byCategory: Map<string, number>;
  bySelf: Map<string, number>;
}

/** Only samples within `lastSec` of the profile's end count when given (the measured run,
 * not the start-up: members are stopped right after the run). */
export function summarize(profile: CpuProfile, lastSec?: number): Summary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const from = lastSec === undefined ? -Infinity : profile.endTime - lastSec * 1e6;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < from) continue;
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const byCategory = new Map<string, number>();
  const bySelf = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const cat = category(url, functionName);
    byCategory.set(cat, (byCategory.get(cat) ?? 0) + us / 1000);
    if (cat !== "(idle)") busy += us / 1000;
    const short = url.replace(/^.*\/(node_modules|packages)\//, "");
    const key = `${functionName || "(anonymous)"} ${short}:${lineNumber + 1}`;
    bySelf.set(key, (bySelf.get(key) ?? 0) + us / 1000);
  }
  return {
    wallMs: Math.min(profile.endTime - profile.startTime, profile.endTime - from) / 1000,
    busyMs: busy,
    byCategory,
    bySelf,
  };
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: "string" }, last: { type: "string" } },
  });
  const top = Number(values.top ?? 25);
  const dir = positionals[0];
  if (!dir) throw new Error("usage: profile-summary.ts DIR [--top N]");
  const files = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
  for (const f of files) {
    const profile = JSON.parse(readFileSync(join(dir, f), "utf8")) as CpuProfile;
    const s = summarize(profile, values.last === undefined ? undefined : Number(values.last));
    const pct = (ms: number) => `${((100 * ms) / s.busyMs).toFixed(1)}%`;
    process.stdout.write(
      `\n== ${f}: wall ${(s.wallMs / 1000).toFixed(1)} s, busy (main thread) ${(s.busyMs / 1000).toFixed(1)} s\n`,
    );
    for (const [cat, ms] of [...s.byCategory].sort((a, b) => b[1] - a[1])) {
      if (cat === "(idle)") continue;
      process.stdout.write(`  ${cat.padEnd(28)} ${ms.toFixed(0).padStart(7)} ms  ${pct(ms)}\n`);
    }
    process.stdout.write("  -- self time --\n");
    for (const [name, ms] of [...s.bySelf].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      if (name.startsWith("(idle)")) continue;
      process.stdout.write(`  ${ms.toFixed(0).padStart(7)} ms  ${pct(ms).padStart(6)}  ${name}\n`);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main();
