/**
 * Tunables of the watch service, with etcd's defaults where etcd has one.
 *
 * The progress-notification interval is also a process-wide default, like etcd's
 * `SetProgressReportInterval` (v3rpc/watch.go): tests lower it before opening streams;
 * each stream reads it when it starts.
 */

/** Options of the watch service (services/watch.ts) and its {@link WatchableStore}. */
export interface WatchOptions {
  /**
   * Interval of the periodic progress notifications sent to watchers created with
   * `progress_notify` (etcd: 10 minutes, `--experimental-watch-progress-notify-interval`).
   * A jitter of up to a tenth is added per stream, as etcd does. Default: the process-wide
   * value ({@link setProgressReportInterval}).
   */
  progressNotifyIntervalMs: number;
  /**
   * Most watchers one stream may hold (etcd has no limit). A create request beyond it is
   * answered with created + canceled, watch_id -1 and a cancel_reason, like etcd's other
   * refused creates. Default 10,000.
   */
  maxWatchersPerStream: number;
  /**
   * Most bytes of watched keys (key + range_end of every watcher) one stream may hold
   * (etcd has no limit): without it, 10,000 watchers with 1.5 MiB keys would hold 15 GB.
   * A create beyond it is refused like one beyond {@link maxWatchersPerStream}. Default
   * 16 MiB.
   */
  maxWatchKeyBytesPerStream: number;
  /**
   * Bytes of watch responses a stream may hold queued for a client that does not read
   * (beyond what gRPC itself buffers). A watcher whose events would not fit becomes a
   * victim and later catches up from the store's history. Default 4 MiB.
   */
  streamBufferBytes: number;
  /**
   * A response larger than this is split into fragments for watchers created with
   * `fragment` (etcd: --max-request-bytes plus 512 KiB of gRPC overhead). Default: from
   * the member's maxRequestBytes.
   */
  fragmentBytes: number;
  /**
   * Revision-log entries read per catch-up page (one `store.changes` call). Default 256.
   */
  catchUpPageEntries: number;
  /**
   * Catch-up work per event-loop turn, in revision-log entries scanned over all unsynced
   * watchers, before yielding to the apply path and the network. Default 4096.
   */
  catchUpEntriesPerTurn: number;
  /**
   * How long a member may be without a leader before streams opened with metadata
   * `hasleader=true` end with "etcdserver: no leader". etcd checks once per election
   * timeout and cancels after three misses. Default: 3 × the member's election timeout.
   */
  noLeaderCancelMs: number;
}

/** etcd's gRPC framing allowance on top of --max-request-bytes (grpcOverheadBytes). */
export const GRPC_OVERHEAD_BYTES = 512 * 1024;

let progressReportIntervalMs = 10 * 60 * 1000;

/**
 * Sets the process-wide default progress-notification interval (etcd's
 * `SetProgressReportInterval`, for tests). Streams opened afterwards use it.
 */
export function setProgressReportInterval(ms: number): void {
  if (!(ms > 0)) throw new RangeError(`progress report interval must be positive, got ${ms}`);
  progressReportIntervalMs = ms;
}

/** The process-wide default progress-notification interval (without jitter). */
export function getProgressReportInterval(): number {
  return progressReportIntervalMs;
}

/** The defaults for a member with these options, overridden by `overrides`. */
export function watchOptions(
  member: {
    maxRequestBytes: number;
    electionTimeoutMs: number;
    watchProgressNotifyIntervalMs?: number | undefined;
  },
  overrides: Partial<WatchOptions> = {},
): WatchOptions {
  return {
    progressNotifyIntervalMs:
      overrides.progressNotifyIntervalMs ??
      member.watchProgressNotifyIntervalMs ??
      getProgressReportInterval(),
    maxWatchersPerStream: overrides.maxWatchersPerStream ?? 10_000,
    maxWatchKeyBytesPerStream: overrides.maxWatchKeyBytesPerStream ?? 16 * 1024 * 1024,
    streamBufferBytes: overrides.streamBufferBytes ?? 4 * 1024 * 1024,
    fragmentBytes: overrides.fragmentBytes ?? member.maxRequestBytes + GRPC_OVERHEAD_BYTES,
    catchUpPageEntries: overrides.catchUpPageEntries ?? 256,
    catchUpEntriesPerTurn: overrides.catchUpEntriesPerTurn ?? 4096,
    noLeaderCancelMs: overrides.noLeaderCancelMs ?? 3 * member.electionTimeoutMs,
  };
}
