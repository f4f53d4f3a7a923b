// A child for failpoints.test.ts: opens an engine (built package), performs the writes
// named on the command line in order, and relies on CHAINFIRE_TEST_FAILPOINTS (read when
// failpoints.js loads) to crash it.
//
//   node failpoint-child.mjs <dataDir> <op>...   op: s:<key> (synced put), u:<key> (unsynced),
//   w:<key> / i:<key> (unsynced put, then syncWal() on the sync worker / syncWal inline)
//
// Prints "WROTE <key>" after each write returns (after its fsync for s:), "DONE" at the
// end; a crash never prints DONE.
import { Engine } from "../../dist/engine.js";

const [dir, ...ops] = process.argv.slice(2);
const engine = await Engine.open(dir, { cacheBytes: 8 << 20, memtableBytes: 4 << 20 });
for (const op of ops) {
  const [mode, key] = op.split(":");
  const b = engine.batch();
  b.put("kv", Buffer.from(key), Buffer.from(`v-${key}`));
  await engine.write(b, { sync: mode === "s" });
  if (mode === "w" || mode === "i") await engine.syncWal({ inline: mode === "i" });
  b.close();
  process.stdout.write(`WROTE ${key}\n`);
}
process.stdout.write("DONE\n");
await engine.close();
