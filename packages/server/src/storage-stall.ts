/**
 * RocksDB write stalls, and how a member keeps them off its event loop.
 *
 * RocksDB slows writes down when compaction falls behind: a write sleeps about
 * `bytes / delayedRate` before it goes in, where `bytes` is the size of the PREVIOUS write
 * group (db_impl_write.cc: DelayWrite(last_batch_group_size_)), less the credit earned at
 * that rate since; the rate falls step by step while the debt grows (16 MB/s down to
 * 0.3 MB/s while bench:large filled a store with 1 MiB transactions on this machine). It
 * stops writes until a flush or compaction frees them when its memtables or level-0
 * files are full. The binding writes on the calling thread, and a member writes each
 * Ready on its event loop, so a write after a Ready of megabytes, at a low rate, held the
 * whole member, heartbeats included, for seconds, and cost the leadership (bench:large,
 * docs/performance.md). Two gates keep that sleep off the loop:
 *
 * - Before a Ready's write, while RocksDB stalls, the raft driver first has the sync
 *   worker make its tiny synced write: that write takes the sleep charged for the previous
 *   write, or blocks until a stop ends, on the worker's thread. The Ready stays in flight
 *   meanwhile: heartbeats and their answers still leave (raft-driver.ts); acks and results
 *   wait. Then the Ready's own write is charged only the worker's few bytes. Writes so go
 *   on at the rate RocksDB asks for. While writes stay stopped the driver repeats this
 *   every {@link STALL_POLL_MS}; after {@link MAX_STALL_WAIT_MS} it writes anyway, with a
 *   warning. A stalled Ready's fsync runs on the worker, never inline.
 * - The proposer holds new proposals while the bytes already in flight would take more
 *   than {@link STALL_WINDOW_S} at the delayed rate (raft-driver-proposer.ts), so a stall
 *   does not also grow the Readies.
 *
 * Without a stall neither gate waits; the check is two property reads per Ready.
 */
import type { WriteStall } from "@chainfire/storage";

/** How often a stall is re-read while something waits for it. */
export const STALL_POLL_MS = 10;
/** The write time, at RocksDB's delayed rate, that proposals in flight may add up to. */
export const STALL_WINDOW_S = 0.05;
/** The longest the driver holds a Ready's write for a stop before writing anyway. */
export const MAX_STALL_WAIT_MS = 60_000;

/** At most one "held Ready writes" log line per this interval. */
export const STALL_LOG_EVERY_MS = 10_000;

/** Whether `bytes` of writes fit the window at the delayed rate (never while stopped). */
export function writeFits(s: WriteStall, bytes: number): boolean {
  if (s.stopped) return false;
  return s.delayedRate <= 0 || bytes <= s.delayedRate * STALL_WINDOW_S;
}
