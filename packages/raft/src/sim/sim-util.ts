import type { ConfState } from "../index.js";

/** The chain hash every log and state machine starts from (see hash.ts). */
export const BOOT_CHAIN = 0x5eed;

/** Virtual time units per tick. Message delays and fsync delays are in the same units. */
export const TICK = 10;

/** A configuration in etcd's notation: `voters=(1 2 3)&&(1 2) learners=(4)`. */
export function describeCs(cs: ConfState): string {
  let s = `voters=(${cs.voters.join(" ")})`;
  if (cs.votersOutgoing.length > 0) s += `&&(${cs.votersOutgoing.join(" ")})`;
  if (cs.learners.length > 0) s += ` learners=(${cs.learners.join(" ")})`;
  if (cs.learnersNext.length > 0) s += ` learners_next=(${cs.learnersNext.join(" ")})`;
  if (cs.autoLeave) s += " autoleave";
  return s;
}
