/**
 * etcd's watch metrics (server/mvcc/metrics.go), registered into the member's registry
 * (MemberMetrics.registry) and read when /metrics is scraped, so dashboards that plot
 * etcd's watchers work unchanged.
 */
import { Counter, Gauge, type Registry } from "prom-client";

/** What the metrics read (the watch service supplies it). */
export interface WatchMetricsSource {
  streams(): number;
  /** Watchers registered with the store: synced, unsynced and victims. */
  watchers(): number;
  /** Unsynced watchers and victims (etcd's "slow" watchers). */
  slowWatchers(): number;
}

/** The counters the watch module increments. */
export interface WatchMetrics {
  /** Events queued for clients. */
  readonly events: { inc(n: number): void };
}

/** Registers etcd's watch gauges and counters in `registry` (once per registry). */
export function registerWatchMetrics(registry: Registry, source: WatchMetricsSource): WatchMetrics {
  const existing = registry.getSingleMetric("etcd_debugging_mvcc_events_total");
  if (existing) return { events: existing as Counter };
  new Gauge({
    name: "etcd_debugging_mvcc_watch_stream_total",
    help: "Total number of watch streams.",
    registers: [registry],
    collect() {
      this.set(source.streams());
    },
  });
  new Gauge({
    name: "etcd_debugging_mvcc_watcher_total",
    help: "Total number of watchers.",
    registers: [registry],
    collect() {
      this.set(source.watchers());
    },
  });
  new Gauge({
    name: "etcd_debugging_mvcc_slow_watcher_total",
    help: "Total number of unsynced slow watchers.",
    registers: [registry],
    collect() {
      this.set(source.slowWatchers());
    },
  });
  const events = new Counter({
    name: "etcd_debugging_mvcc_events_total",
    help: "Total number of events sent by this member.",
    registers: [registry],
  });
  return { events };
}
