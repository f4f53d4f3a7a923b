/** @chainfire/raft */
export {};
