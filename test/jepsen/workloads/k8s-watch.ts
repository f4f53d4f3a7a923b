/**
 * The watches of the k8s workload (workloads/k8s.ts): informers (a paged list at R, then
 * a watch with prev_kv from R + 1; resume after the last event on another member when a
 * stream breaks; relist when cancelled for compaction) and the historian (a watch of the
 * prefix from revision 1 that resumes after its last event; its events are the reference
 * history, and the compactor never compacts past them).
 */
import { etcdserverpb } from "@chainfire/api";
import { credentials } from "@grpc/grpc-js";
import { bytes, prefixEnd } from "../../harness/index.js";
import type { Connections } from "../connections.js";
import type { Random } from "../random.js";
import type { Recorder } from "../recorder.js";
import type { K8sOp } from "./k8s.js";
import { K8S_PREFIX, pause } from "./k8s.js";
import type { WatchEvent } from "./watch.js";

/** What one watch saw between two lists (the historian: one segment from revision 1). */
export interface Segment {
  /** The list this segment follows (id in the op log); undefined for the historian. */
  listOp?: number;
  /** Events are owed from this revision on (list revision + 1). */
  from: number;
  events: WatchEvent[];
  streams: { at: number; member: number; from: number; end?: string }[];
  /** The segment ended with a watch cancelled for compaction. */
  cancel?: { start: number; compactRev: number; member: number };
}

export interface K8sWatch {
  /** The client (-1: the historian). */
  id: number;
  segments: Segment[];
  problems: string[];
}

interface WatchCtx {
  recorder: Recorder;
  connections: Connections;
  members: number;
  signal: AbortSignal;
}

export async function runHistorian(o: WatchCtx, log: K8sWatch): Promise<void> {
  const segment: Segment = { from: 1, events: [], streams: [] };
  log.segments.push(segment);
  let member = 0;
  while (!o.signal.aborted) {
    await follow(o, log, segment, member);
    if (segment.cancel) {
      log.problems.push(
        `historian cancelled for compaction at ${segment.cancel.compactRev} (from ${segment.cancel.start}): the compactor must never pass it`,
      );
      return;
    }
    member = (member + 1) % o.members;
    await pause(100, o.signal);
  }
}

export async function runInformer(
  o: WatchCtx,
  log: K8sWatch,
  home: number,
  lister: (member: number) => Promise<K8sOp>,
  stall?: { random: Random; ms: number },
): Promise<void> {
  let member = home;
  while (!o.signal.aborted) {
    const listed = await lister(member);
    if (listed.status !== "ok") {
      member = (member + 1) % o.members;
      await pause(100, o.signal);
      continue;
    }
    const segment: Segment = { listOp: listed.id, from: listed.rev! + 1, events: [], streams: [] };
    log.segments.push(segment);
    while (!o.signal.aborted && !segment.cancel) {
      const stallAfter = stall ? 3000 + stall.random() * 5000 : undefined;
      const end = await follow(o, log, segment, member, stallAfter);
      if (segment.cancel || o.signal.aborted) break;
      if (end === "stalled") await pause(stall!.ms, o.signal);
      else member = (member + 1) % o.members;
      await pause(100, o.signal);
    }
  }
}

/** One watch stream continuing `segment`; returns when it ends. */
function follow(
  o: WatchCtx,
  log: K8sWatch,
  segment: Segment,
  member: number,
  stallAfterMs?: number,
): Promise<string> {
  const from = (segment.events.at(-1)?.rev ?? segment.from - 1) + 1;
  const stream = { at: o.recorder.now(), member, from, end: undefined as string | undefined };
  segment.streams.push(stream);
  const conn = o.connections.get(member);
  const address = conn.endpoint.replace(/^https?:\/\//, "");
  const client = new etcdserverpb.WatchClient(address, credentials.createInsecure(), {
    channelOverride: conn.kv.getChannel(),
  });
  return new Promise((resolve) => {
    const call = client.watch();
    let created = false;
    let ended = false;
    const timer =
      stallAfterMs === undefined ? undefined : setTimeout(() => finish("stalled"), stallAfterMs);
    const finish = (why: string) => {
      if (ended) return;
      ended = true;
      stream.end = why;
      clearTimeout(timer);
      o.signal.removeEventListener("abort", onAbort);
      call.cancel();
      resolve(why);
    };
    const onAbort = () => finish("stopped");
    o.signal.addEventListener("abort", onAbort, { once: true });
    call.on("data", (res: etcdserverpb.WatchResponse) => {
      if (res.created) created = true;
      if (res.canceled) {
        const compactRev = Number(res.compactRevision);
        if (compactRev > 0) segment.cancel = { start: from, compactRev, member };
        else log.problems.push(`watch cancelled on n${member + 1}: ${res.cancelReason}`);
        finish("cancelled");
        return;
      }
      if (res.events.length > 0 && !created) {
        log.problems.push(`events before the created response on n${member + 1}`);
      }
      for (const event of res.events) {
        const kv = event.kv!;
        segment.events.push({
          rev: Number(kv.modRevision),
          key: kv.key.toString("utf8"),
          type: event.type === 1 ? "del" : "put",
          value: kv.value.toString("utf8"),
          modRev: Number(kv.modRevision),
          prev: event.prevKv
            ? {
                value: event.prevKv.value.toString("utf8"),
                modRev: Number(event.prevKv.modRevision),
              }
            : null,
        });
      }
    });
    call.on("error", (error: Error) => finish(error.message));
    call.on("end", () => finish("server ended the stream"));
    call.write(
      etcdserverpb.WatchRequest.fromPartial({
        requestUnion: {
          $case: "createRequest",
          value: {
            key: bytes(K8S_PREFIX),
            rangeEnd: prefixEnd(K8S_PREFIX),
            startRevision: BigInt(from),
            prevKv: true,
          },
        },
      }),
    );
  });
}

/** The last revision a watch has seen. */
export function lastSeen(w: K8sWatch): number {
  const s = w.segments.at(-1);
  return s ? (s.events.at(-1)?.rev ?? s.from - 1) : 0;
}
