/**
 * The raft core's configuration on a member (etcd's defaults where they exist), and the
 * seeded random source it needs.
 */
import { RawNode } from "@chainfire/raft";
import type { RaftLogStore } from "@chainfire/storage";
import type { Logger } from "pino";

/** A seeded PRNG (mulberry32) returning floats in [0, 1): raft's election jitter. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Election timeout in ticks of one heartbeat interval (at least 2: raft needs > 1). */
export function electionTicks(electionTimeoutMs: number, heartbeatIntervalMs: number): number {
  return Math.max(2, Math.round(electionTimeoutMs / heartbeatIntervalMs));
}

export interface RawNodeOptions {
  id: bigint;
  electionTick: number;
  storage: RaftLogStore;
  /** The durable applied index (raft re-delivers committed entries after it). */
  applied: number;
  random: () => number;
  logger: Logger;
}

/**
 * A RawNode as a member runs it: heartbeat every tick, pre-vote and check-quorum on,
 * 1 MiB per MsgApp, 256 MsgApps in flight per follower, 1 GiB of uncommitted entries
 * (etcd's values).
 */
export function newRawNode(o: RawNodeOptions): RawNode {
  const log = o.logger;
  return new RawNode({
    id: o.id,
    electionTick: o.electionTick,
    heartbeatTick: 1,
    storage: o.storage,
    applied: o.applied,
    maxSizePerMsg: 1024 * 1024,
    maxInflightMsgs: 256,
    maxUncommittedEntriesSize: 1 << 30,
    checkQuorum: true,
    preVote: true,
    random: o.random,
    logger: {
      debug: (msg) => log.debug(msg),
      info: (msg) => log.info(msg),
      warn: (msg) => log.warn(msg),
    },
  });
}
