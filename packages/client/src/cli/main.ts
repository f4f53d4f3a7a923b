#!/usr/bin/env node
/**
 * The `chainfirectl` executable: runs {@link runCli} on the process's arguments and
 * streams, and exits with its code.
 *
 * @module
 */
import { processIo } from "./io.js";
import { runCli } from "./run.js";

const code = await runCli(process.argv.slice(2), processIo());
// Flush stdout before exiting (a pipe may still hold output).
process.stdout.write("", () => process.exit(code));
