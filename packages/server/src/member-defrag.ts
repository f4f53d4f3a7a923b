/**
 * Maintenance.Defragment on one member, without stopping it.
 *
 * `@nxtedition/rocksdb` exposes no CompactRange and no Flush, so the member does what the
 * binding allows and what reclaims space:
 *
 * 1. Waits for the history removal of the last MVCC compaction (the physical compaction).
 * 2. Waits (bounded) until no snapshot stream, hash or other long read holds a RocksDB
 *    iterator, then pauses the raft loop (the Ready in flight finishes). Meanwhile this
 *    member's proposals are held, peer messages (forwarded proposals among them) are kept
 *    and stepped afterwards, and linearizable reads wait. The member keeps ticking: raft's
 *    clock stands still, but a leader sends heartbeats on each tick (RaftDriver.tick), so
 *    followers do not elect another leader when the pause outlasts the election timeout
 *    (it did on a loaded machine: 500-1000 ms against the tests' 250 ms), which would drop
 *    the proposals the paused leader holds and fail their writes after the request timeout.
 * 3. Compacts the raft log: a raft snapshot at the applied index, then the log is cut at
 *    the applied index — on the leader, at the lowest match index of its followers, so
 *    no follower that is merely behind needs a full snapshot.
 * 4. Closes and reopens RocksDB in place (storage's Engine.reopen): memtables are flushed
 *    (entries deleted while still in memory are dropped), WAL files no longer needed are
 *    deleted, and compactions are scheduled, which reclaims deleted data in the SSTs.
 * 5. Resumes the raft loop, then waits (serving; until {@link PURGE_WAIT_UNTIL_MS} after
 *    the start at most) until RocksDB has purged the WAL files the reopen made obsolete.
 *
 * The pause lasts for one close and open of RocksDB (tens to hundreds of milliseconds,
 * more with large memtables); serializable reads arriving in that window fail with
 * "etcdserver: request timed out" (UNAVAILABLE; clients retry). etcd's defragment blocks
 * the member for the whole copy of its database.
 */
import { ErrCanceled, ErrTimeout, EtcdError } from "@chainfire/api";
import type { RaftDriver } from "./raft-driver.js";

/** What a defragment needs from the member. */
export interface DefragHost {
  driver(): RaftDriver;
  /** The member's database engine (read each time: a snapshot install replaces it). */
  engine(): { readonly idle: boolean; reopen(): Promise<void>; walFileCount(): number };
  /** Waits for a snapshot install in progress (new ones are refused meanwhile). */
  snapshotsSettled(): Promise<void>;
  /** The index to compact the raft log to (see the module comment). */
  compactTarget(): number;
  /** Called after the loop resumed (steps held peer messages, flushes held proposals). */
  resumed(): void;
  logger: { info(o: object, m: string): void };
}

/**
 * How long after its start a defragment may still wait for RocksDB to purge the obsolete
 * WAL files before it answers (step 5). A fresh-clone CI run on a loaded host had one
 * member's defragment pass etcdctl's default 5 s command timeout when this wait alone
 * could take 5 s after the pause.
 */
export const PURGE_WAIT_UNTIL_MS = 3_000;

/** Runs one defragment (the caller serializes them). See the module comment. */
export async function defragment(
  host: DefragHost,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const started = performance.now();
  const deadline = started + timeoutMs;
  await host.snapshotsSettled();
  const driver = host.driver();
  for (;;) {
    await until(() => host.engine().idle, deadline, signal);
    await driver.pause({ holdMessages: true });
    if (host.engine().idle) break;
    // An iterator opened while the Ready in flight finished: let it end first.
    driver.resume();
    host.resumed();
  }
  const paused = performance.now();
  let firstIndex = 0;
  let compactMs = 0;
  let pausedMs = 0;
  try {
    firstIndex = await driver.compactLog(host.compactTarget());
    compactMs = performance.now() - paused;
    await host.engine().reopen();
  } finally {
    driver.resume();
    host.resumed();
    pausedMs = performance.now() - paused;
  }
  // RocksDB purges the WAL files the reopen made obsolete in the background: wait for it
  // (bounded; serving meanwhile) so that Status and the quota see the space reclaimed.
  // Bounded so that the whole call stays within etcdctl's default 5 s command timeout: the
  // purge is RocksDB's background work and happens anyway.
  const purged = await until(() => host.engine().walFileCount() <= 1, started + PURGE_WAIT_UNTIL_MS)
    .then(() => true)
    .catch(() => false);
  host.logger.info(
    {
      purged,
      firstIndex,
      pausedMs: Math.round(pausedMs),
      logCompactMs: Math.round(compactMs),
      ms: Math.round(performance.now() - started),
    },
    "defragmented: raft log compacted, database reopened",
  );
}

/** Polls `cond` every 10 ms until it holds; rejects ErrTimeout past `deadline`, ErrCanceled. */
async function until(cond: () => boolean, deadline: number, signal?: AbortSignal): Promise<void> {
  while (!cond()) {
    if (signal?.aborted) throw new EtcdError(ErrCanceled);
    if (performance.now() > deadline) throw new EtcdError(ErrTimeout);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * How far a defragment compacts the raft log: the applied index; on the leader
 * (`progress` given), no further than the match index of any follower `counts` (the
 * connected ones), so that none of them needs a full snapshot.
 */
export function logCompactTarget(
  applied: number,
  progress: ReadonlyMap<bigint, { match: number }> | undefined,
  counts: (id: bigint) => boolean,
): number {
  let target = applied;
  for (const [id, pr] of progress ?? []) {
    if (counts(id)) target = Math.min(target, pr.match);
  }
  return target;
}
