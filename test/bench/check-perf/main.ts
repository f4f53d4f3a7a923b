/**
 * `npm run bench:check-perf` — runs `etcdctl check perf` (etcdctl 3.4 from Debian) against
 * a three-member cluster started by the test harness, and prints etcdctl's verdict.
 *
 *   npm run bench:check-perf                         # Chainfire, --load l
 *   npm run bench:check-perf -- --target etcd --load m
 *
 * A benchmark, not a test: it prints etcdctl's result and asserts nothing. On failure
 * etcdctl prints the reason (throughput, slowest request, stddev, or a request error).
 */
import { execFile } from "node:child_process";
import { parseArgs } from "node:util";
import { Cluster, type MemberKind } from "../../harness/index.js";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    target: { type: "string", default: "chainfire" },
    load: { type: "string", default: "l" },
    help: { type: "boolean", short: "h" },
  },
  strict: true,
});
if (values.help) {
  process.stdout.write(
    "usage: npm run bench:check-perf -- [--target chainfire|etcd] [--load s|m|l|xl]\n",
  );
  process.exit(0);
}
const target = values.target as MemberKind;
if (target !== "chainfire" && target !== "etcd") throw new Error("--target: chainfire or etcd");
if (!["s", "m", "l", "xl"].includes(values.load)) throw new Error("--load: s, m, l or xl");

process.stderr.write(`starting 3 ${target} members...\n`);
const cluster = await Cluster.start({ kind: target, size: 3 });
let code = 1;
try {
  const args = ["--endpoints", cluster.endpoints.join(","), "check", "perf", "--load", values.load];
  process.stderr.write(`etcdctl ${args.join(" ")}\n`);
  const output = await new Promise<{ text: string; ok: boolean }>((resolve) => {
    execFile(
      process.env.ETCDCTL_BIN ?? "etcdctl",
      args,
      { env: { ...process.env, ETCDCTL_API: "3" }, maxBuffer: 16 << 20, timeout: 300_000 },
      (error, stdout, stderr) => resolve({ text: `${stdout}${stderr}`, ok: !error }),
    );
  });
  // etcdctl redraws its progress bar with \r; keep the last state of each line.
  const text = output.text
    .split("\n")
    .map((line) => line.split("\r").pop() ?? "")
    .join("\n");
  process.stdout.write(`${target}, etcdctl check perf --load ${values.load}:\n${text}\n`);
  code = output.ok ? 0 : 1;
} finally {
  await cluster.close();
}
process.exit(code);
