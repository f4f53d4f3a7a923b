#!/usr/bin/env node
// The `chainfire` command (npm bin). A tracked, executable shim: tsc writes dist/ without
// the executable bit, so the bin cannot point into dist/ directly.
import "../dist/cli/main.js";
