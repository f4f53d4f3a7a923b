/**
 * @chainfire/raft — the Raft consensus core: a pure, deterministic state machine.
 * See README.md for the Ready loop.
 */
export * from "./config.js";
export * from "./ready.js";
export * from "./storage.js";
export * from "./types.js";
