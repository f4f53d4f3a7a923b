// `npm run sim -- --seeds N [--start S] [--nodes 3|5] [--steps K]`: runs the deterministic
// cluster simulation (packages/raft/src/sim) over many seeds, from the compiled package.
import process from "node:process";
import { parseArgs, runCli, USAGE } from "../dist/sim/cli.js";

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`${e.message}\n${USAGE}\n`);
  process.exit(2);
}
const failed = runCli(
  opts,
  (line) => process.stdout.write(`${line}\n`),
  () => performance.now(),
);
process.exitCode = failed === 0 ? 0 : 1;
