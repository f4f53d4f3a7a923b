/**
 * MVCC cost of one large DeleteRange (not a test): fills BENCH_KEYS keys (256 B values,
 * Txn-sized batches of 100 puts), then deletes the whole prefix in one MvccWrite, and
 * prints the time of the delete (and of its batch write) per key, BENCH_RUNS times, each
 * on a fresh database. The raft-level scenario is `npm run bench:big-delete`.
 *
 *   node --import tsx packages/storage/bench/big-delete-bench.ts
 *   BENCH_KEYS=50000 BENCH_RUNS=5 node --import tsx packages/storage/bench/big-delete-bench.ts
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Engine } from "../src/engine.js";
import { MvccStore } from "../src/mvcc/store.js";

const KEYS = Number(process.env.BENCH_KEYS ?? 30_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const root = fs.mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), "cf-bigdel-"));
const value = Buffer.alloc(256, 0x61);

async function run(i: number): Promise<{ apply: number; cpu: number; write: number }> {
  const engine = await Engine.open(path.join(root, `db${i}`));
  try {
    const store = MvccStore.open(engine);
    for (let k = 0; k < KEYS; k += 100) {
      const w = store.beginWrite();
      for (let j = k; j < Math.min(KEYS, k + 100); j++) {
        w.put({ key: Buffer.from(`/check-perf/${String(j).padStart(8, "0")}`), value });
      }
      await w.commit({ sync: false });
    }
    const w = store.beginWrite();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const res = w.deleteRange({
      key: Buffer.from("/check-perf/"),
      rangeEnd: Buffer.from("/check-perf0"),
    });
    const t1 = performance.now();
    const c1 = process.cpuUsage(c0);
    await w.commit({ sync: false });
    const t2 = performance.now();
    if (res.deleted !== BigInt(KEYS)) throw new Error(`deleted ${res.deleted}, not ${KEYS}`);
    return { apply: t1 - t0, cpu: (c1.user + c1.system) / 1000, write: t2 - t1 };
  } finally {
    await engine.close();
  }
}

const rows: { apply: number; cpu: number; write: number }[] = [];
try {
  for (let i = 0; i < RUNS; i++) {
    const r = await run(i);
    rows.push(r);
    process.stdout.write(
      `run ${i + 1}: delete of ${KEYS} keys: apply ${r.apply.toFixed(0)} ms (${((r.apply * 1000) / KEYS).toFixed(1)} µs/key; CPU ${r.cpu.toFixed(0)} ms), batch write ${r.write.toFixed(0)} ms\n`,
    );
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const med = median(rows.map((r) => r.apply));
  const cpu = median(rows.map((r) => r.cpu));
  process.stdout.write(
    `median apply ${med.toFixed(0)} ms (${((med * 1000) / KEYS).toFixed(1)} µs/key), CPU ${cpu.toFixed(0)} ms (${((cpu * 1000) / KEYS).toFixed(1)} µs/key)\n`,
  );
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
