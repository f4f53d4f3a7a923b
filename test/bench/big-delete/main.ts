/**
 * `npm run bench:big-delete` — the large-apply scenario (docs/performance.md, "The
 * overload collapse"): a three-member Chainfire cluster, `--keys` keys written with Txns of
 * 100 puts, then one DeleteRange of the whole prefix; repeated `--runs` times. Prints the
 * DeleteRange time (ms, µs per key), whether the leader or term changed, and the HashKV
 * agreement of the members. Asserts nothing (test/e2e/big-apply.test.ts does).
 *
 *   npm run bench:big-delete -- --keys 30000 --runs 3 [--cpu-prof DIR] [--target etcd]
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { Cluster, type MemberKind } from "../../harness/index.js";
import { progress } from "../common/progress.js";
import { deletePrefix, fillPrefix } from "./big-delete.js";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    target: { type: "string", default: "chainfire" },
    keys: { type: "string", default: "30000" },
    runs: { type: "string", default: "3" },
    "value-bytes": { type: "string", default: "256" },
    "cpu-prof": { type: "string" },
    help: { type: "boolean", short: "h" },
  },
  strict: true,
});
if (values.help) {
  process.stdout.write(
    "usage: npm run bench:big-delete -- [--keys N] [--runs N] [--value-bytes N] [--target chainfire|etcd] [--cpu-prof DIR]\n",
  );
  process.exit(0);
}
const target = values.target as MemberKind;
if (target !== "chainfire" && target !== "etcd") throw new Error("--target: chainfire or etcd");
const keys = Number(values.keys);
const runs = Number(values.runs);
const valueBytes = Number(values["value-bytes"]);
if (!(keys > 0 && runs > 0 && valueBytes >= 0)) throw new Error("--keys, --runs: positive");
const profDir = values["cpu-prof"] === undefined ? undefined : resolve(values["cpu-prof"]);

process.stderr.write(`starting 3 ${target} members...\n`);
const cluster = await Cluster.start({
  kind: target,
  size: 3,
  ...(profDir ? { nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${profDir}`] } : {}),
});
let changes = 0;
try {
  for (let run = 1; run <= runs; run++) {
    const prefix = `/big-delete/${run}/`;
    await fillPrefix(cluster, {
      prefix,
      keys,
      valueBytes,
      onProgress: (n) => {
        if (n % 5000 === 0 || n === keys) progress(`run ${run}: put ${n}/${keys}`, n === keys);
      },
    });
    const o = await deletePrefix(cluster, { prefix });
    const changed = o.termAfter !== o.termBefore || o.leaderAfter !== o.leaderBefore;
    if (changed) changes++;
    process.stdout.write(
      `${target} run ${run}: ` +
        (o.deleted === undefined
          ? `DeleteRange failed after ${o.ms.toFixed(0)} ms (${o.error}), applied later; `
          : `deleted ${o.deleted} in ${o.ms.toFixed(0)} ms (${((o.ms * 1000) / Math.max(1, o.deleted)).toFixed(1)} µs/key); `) +
        `leader n${o.leaderBefore + 1} term ${o.termBefore} -> n${o.leaderAfter + 1} term ${o.termAfter}` +
        `${changed ? " LEADER CHANGE" : ""}; revision ${o.revision}, HashKV ` +
        `${new Set(o.hashes).size === 1 ? "equal" : `DIFFERENT ${o.hashes.join(",")}`}\n`,
    );
  }
  process.stdout.write(`${runs} runs, ${changes} with a leader change\n`);
} finally {
  if (profDir) {
    for (let i = 0; i < cluster.members.length; i++) {
      await cluster.kill(i, "SIGTERM").catch(() => undefined);
    }
    process.stderr.write(`profiles in ${profDir}\n`);
  }
  await cluster.close();
}
