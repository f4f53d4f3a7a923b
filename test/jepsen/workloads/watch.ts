/**
 * Watchers beside a KV workload: each watches a key prefix with prev_kv, from revision 1
 * or from "now" (0), on its home member. When its stream breaks (its member was killed,
 * paused past the deadline, ...) it resumes from the revision after the last event it
 * saw, on the next member — as every etcd client library does. Everything it receives
 * is recorded for the watch checker.
 */
import { etcdserverpb, type mvccpb } from "@chainfire/api";
import { credentials } from "@grpc/grpc-js";
import { bytes, prefixEnd } from "../../harness/index.js";
import { delay } from "../../harness/wait.js";
import type { Connections } from "../connections.js";
import type { Recorder } from "../recorder.js";

/** One event as a watcher saw it. */
export interface WatchEvent {
  rev: number;
  key: string;
  type: "put" | "del";
  value: string;
  modRev: number;
  /** prev_kv: the key's previous value and mod_revision; null when there was none. */
  prev: { value: string; modRev: number } | null;
}

/** What one watcher saw, across resumptions. */
export interface WatcherLog {
  id: number;
  /** The first revision it was owed (its start revision, or one after creation). */
  from: number;
  events: WatchEvent[];
  /** Each (re)connection: when, where, and from which revision. */
  streams: { at: number; member: number; from: number; end?: string }[];
  /** Protocol oddities (cancelled, compacted, events out of a created watch). */
  problems: string[];
}

/** Options of {@link startWatchers}. */
export interface WatchOptions {
  recorder: Recorder;
  connections: Connections;
  members: number;
  prefix: string;
  /** Start revisions, one watcher each: 1 = from the beginning, 0 = from now. */
  starts: number[];
  signal: AbortSignal;
}

/** Starts the watchers; `done` resolves when `signal` aborts and every stream closed. */
export function startWatchers(options: WatchOptions): { logs: WatcherLog[]; done: Promise<void> } {
  const logs = options.starts.map<WatcherLog>((start, id) => ({
    id,
    from: start,
    events: [],
    streams: [],
    problems: [],
  }));
  const done = Promise.all(logs.map((log, id) => watcher(options, log, id % options.members))).then(
    () => {},
  );
  return { logs, done };
}

/** The last revision a watcher has seen (0 before any event). */
export function lastRevision(log: WatcherLog): number {
  return log.events.length > 0 ? log.events[log.events.length - 1].rev : 0;
}

async function watcher(o: WatchOptions, log: WatcherLog, home: number): Promise<void> {
  let member = home;
  let from = log.from;
  while (!o.signal.aborted) {
    const stream = { at: o.recorder.now(), member, from, end: undefined as string | undefined };
    log.streams.push(stream);
    stream.end = await watchOnce(o, log, member, from);
    if (o.signal.aborted) break;
    o.recorder.event(`watcher ${log.id} on n${member + 1} (from ${from}) ended: ${stream.end}`);
    // Resume after the last event seen; or, if a from-now watcher saw nothing yet, from
    // the revision it was owed.
    from = log.events.length > 0 ? lastRevision(log) + 1 : log.from;
    member = (member + 1) % o.members;
    try {
      await delay(100, o.signal);
    } catch {
      break;
    }
  }
}

/** One watch stream; resolves with why it ended. */
function watchOnce(
  o: WatchOptions,
  log: WatcherLog,
  member: number,
  from: number,
): Promise<string> {
  const conn = o.connections.get(member);
  const address = conn.endpoint.replace(/^https?:\/\//, "");
  const client = new etcdserverpb.WatchClient(address, credentials.createInsecure(), {
    channelOverride: conn.kv.getChannel(),
  });
  return new Promise((resolve) => {
    const call = client.watch();
    let created = false;
    const finish = (why: string) => {
      o.signal.removeEventListener("abort", onAbort);
      call.cancel();
      resolve(why);
    };
    const onAbort = () => finish("stopped");
    o.signal.addEventListener("abort", onAbort, { once: true });
    call.on("data", (res: etcdserverpb.WatchResponse) => {
      if (res.created) {
        created = true;
        // A from-now watcher is owed every event after the revision it was created at.
        if (log.from === 0 && log.events.length === 0) {
          log.from = Number(res.header?.revision ?? 0n) + 1;
        }
      }
      if (res.canceled) {
        log.problems.push(
          `watch cancelled on n${member + 1} from ${from}: compact_revision=${res.compactRevision} reason=${JSON.stringify(res.cancelReason)}`,
        );
        finish("cancelled");
        return;
      }
      if (res.events.length > 0 && !created) {
        log.problems.push(`events before the created response on n${member + 1}`);
      }
      for (const event of res.events) log.events.push(toEvent(event));
    });
    call.on("error", (error: Error) => finish(error.message));
    call.on("end", () => finish("server ended the stream"));
    call.write(
      etcdserverpb.WatchRequest.fromPartial({
        requestUnion: {
          $case: "createRequest",
          value: {
            key: bytes(o.prefix),
            rangeEnd: prefixEnd(o.prefix),
            startRevision: BigInt(from),
            prevKv: true,
          },
        },
      }),
    );
  });
}

function toEvent(event: mvccpb.Event): WatchEvent {
  const kv = event.kv!;
  return {
    rev: Number(kv.modRevision),
    key: kv.key.toString("utf8"),
    type: event.type === 1 ? "del" : "put",
    value: kv.value.toString("utf8"),
    modRev: Number(kv.modRevision),
    prev: event.prevKv
      ? { value: event.prevKv.value.toString("utf8"), modRev: Number(event.prevKv.modRevision) }
      : null,
  };
}

/**
 * The whole event history of `prefix` as `member` tells it: a watch from revision 1 (or
 * `from`, after a compaction) until the event at `untilRev` arrives (rejects after
 * `timeoutMs`).
 */
export function collectHistory(
  connections: Connections,
  member: number,
  prefix: string,
  untilRev: number,
  timeoutMs: number,
  from = 1,
): Promise<WatchEvent[]> {
  const conn = connections.get(member);
  const address = conn.endpoint.replace(/^https?:\/\//, "");
  const client = new etcdserverpb.WatchClient(address, credentials.createInsecure(), {
    channelOverride: conn.kv.getChannel(),
  });
  return new Promise((resolve, reject) => {
    const events: WatchEvent[] = [];
    const call = client.watch();
    const timer = setTimeout(() => {
      call.cancel();
      reject(
        new Error(
          `n${member + 1}: history up to ${untilRev} not complete after ${timeoutMs} ms (${events.length} events, last ${events.at(-1)?.rev})`,
        ),
      );
    }, timeoutMs);
    call.on("data", (res: etcdserverpb.WatchResponse) => {
      if (res.canceled) {
        clearTimeout(timer);
        call.cancel();
        reject(
          new Error(
            `n${member + 1}: history watch cancelled (compact_revision ${res.compactRevision})`,
          ),
        );
        return;
      }
      for (const event of res.events) events.push(toEvent(event));
      if (events.length > 0 && events[events.length - 1].rev >= untilRev) {
        clearTimeout(timer);
        call.cancel();
        resolve(events);
      }
    });
    call.on("error", (error: Error) => {
      if (!/Cancelled/i.test(error.message)) {
        clearTimeout(timer);
        reject(error);
      }
    });
    call.write(
      etcdserverpb.WatchRequest.fromPartial({
        requestUnion: {
          $case: "createRequest",
          value: {
            key: bytes(prefix),
            rangeEnd: prefixEnd(prefix),
            startRevision: BigInt(from),
            prevKv: true,
          },
        },
      }),
    );
  });
}
