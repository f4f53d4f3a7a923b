/**
 * `--workload k8s` (workloads/k8s.ts, checker/k8s.ts). After the faults: the clients stop,
 * every leased event must expire (bound: TTL + 3 elections + 10 s), a final create every
 * informer and the historian must reach, then kill -9 of every member and restart; each
 * member's replay of the uncompacted history (a watch from the last compaction + 1) and its
 * final list must agree with the historian's history.
 */
import { bytes, prefixEnd } from "../harness/index.js";
import { describeError, pollUntil } from "../harness/wait.js";
import { checkK8s, replay } from "./checker/k8s.js";
import type { PhaseInput } from "./run-workloads.js";
import {
  EVENTS,
  K8S_PREFIX,
  type K8sOptions,
  newK8sLog,
  PODS,
  runK8s,
  startK8sWatches,
  toKv,
} from "./workloads/k8s.js";
import { lastSeen } from "./workloads/k8s-watch.js";
import { collectHistory } from "./workloads/watch.js";

export async function k8sPhase(p: PhaseInput): Promise<void> {
  const { options, conns, recorder, checks } = p;
  const log = newK8sLog();
  p.artifacts.k8s = log;
  const stop = new AbortController();
  const stopWatches = new AbortController();
  const o: K8sOptions = {
    recorder,
    connections: conns,
    members: options.size,
    clients: options.clients,
    pods: Math.max(2, options.keys * 2),
    leaseTtlSec: Math.max(2, options.leaseTtlSec),
    compactEveryMs: 4000,
    opTimeoutMs: options.opTimeoutMs,
    seed: options.seed,
    signal: stop.signal,
  };
  const watches = startK8sWatches(o, log, stopWatches.signal);
  const workload = runK8s(o, log);
  let finalRev = 0;
  const everyone = Array.from({ length: options.size }, (_, i) => i);
  try {
    try {
      await p.faults();
    } finally {
      stop.abort();
      await workload;
    }
    const leased = `leased events expired within ${o.leaseTtlSec * 1000 + options.electionMs * 3 + 10_000} ms after the clients stopped`;
    try {
      await pollUntil(
        async () => {
          const res = await conns
            .get(0)
            .range({ key: bytes(EVENTS), rangeEnd: prefixEnd(EVENTS), countOnly: true }, 2000);
          return res.count === 0n ? true : undefined;
        },
        {
          timeoutMs: o.leaseTtlSec * 1000 + options.electionMs * 3 + 10_000,
          intervalMs: 500,
          what: "every leased event to expire",
        },
      );
      checks.push({
        name: "k8s-leases",
        status: "pass",
        detail: `${log.leases.length} leases, never kept alive: ${leased}`,
      });
    } catch (error) {
      checks.push({ name: "k8s-leases", status: "fail", detail: describeError(error) });
    }
    // The end marker: every watch must reach it.
    finalRev = await pollUntil(
      async () => {
        const res = await conns
          .get(0)
          .put({ key: bytes(`${PODS}~end`), value: bytes("end") }, 2000);
        return Number(res.header!.revision);
      },
      { timeoutMs: 30_000, what: "the final write" },
    );
    const watchers = [log.history, ...log.informers];
    await pollUntil(() => (watchers.every((w) => lastSeen(w) >= finalRev) ? true : undefined), {
      timeoutMs: 30_000,
      what: "every watch to reach the final write",
    }).catch((error: unknown) => recorder.event(describeError(error)));
  } finally {
    stopWatches.abort();
    await watches;
  }
  // The end marker is not a client write: give it an attempt so the checker knows it.
  log.ops.push({
    id: log.ops.length,
    client: -1,
    member: 0,
    f: "create",
    key: `${PODS}~end`,
    value: "end",
    invoke: 0,
    status: "unknown",
  });
  await p.crashRestart();
  const history = log.history.segments.flatMap((s) => s.events);
  const compacted = Math.max(0, ...log.compactions.map((x) => x.rev));
  const reference = history.filter((e) => e.rev > compacted);
  const members: string[] = [];
  const state = [...replay(history).at(finalRev).values()].sort((a, b) => (a.key < b.key ? -1 : 1));
  for (const i of everyone) {
    try {
      const got = await collectHistory(conns, i, K8S_PREFIX, finalRev, 30_000, compacted + 1);
      if (JSON.stringify(got) !== JSON.stringify(reference)) {
        members.push(
          `n${i + 1}: replay from ${compacted + 1} (${got.length} events) differs from the historian (${reference.length})`,
        );
      }
      const res = await conns
        .get(i)
        .range({ key: bytes(K8S_PREFIX), rangeEnd: prefixEnd(K8S_PREFIX) }, 10_000);
      const kvs = res.kvs.map(toKv);
      const same =
        kvs.length === state.length &&
        kvs.every(
          (kv, j) =>
            kv.key === state[j].key && kv.value === state[j].value && kv.modRev === state[j].modRev,
        );
      if (!same)
        members.push(
          `n${i + 1}: final list (${kvs.length} keys) differs from the replayed state (${state.length})`,
        );
    } catch (error) {
      members.push(`n${i + 1}: ${describeError(error)}`);
    }
  }
  const notes = { prevKvCompacted: 0 };
  const violations = [...members, ...checkK8s({ log, finalRev, notes })];
  const count = (f: string, s: string) => log.ops.filter((x) => x.f === f && x.status === s).length;
  const segments = log.informers.reduce((n, w) => n + w.segments.length, 0);
  const relists = log.informers.reduce((n, w) => n + w.segments.filter((s) => s.cancel).length, 0);
  const compactedLists = log.ops.filter((x) => x.compacted).length;
  checks.push({
    name: "k8s",
    status: violations.length === 0 ? "pass" : "fail",
    detail: `${history.length} events to ${finalRev}; creates/updates/deletes ok ${count("create", "ok")}/${count("update", "ok")}/${count("delete", "ok")}, unknown ${count("create", "unknown") + count("update", "unknown") + count("delete", "unknown")}; lists ok ${count("list", "ok")} (${compactedLists} hit a compaction); ${log.compactions.filter((x) => x.ok).length} compactions (last ${compacted}); ${log.informers.length} informers, ${segments} list+watch segments, ${relists} relists after compact_revision; ${notes.prevKvCompacted} watch events without prev_kv at a compacted rev - 1 (as etcd)${violations.length ? `\n${violations.join("\n")}` : "; all consistent, members agree after the restart"}`,
  });
  recorder.event(`k8s: final revision ${finalRev}`);
}
