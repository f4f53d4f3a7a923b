/**
 * The Kubernetes-style workload: what kube-apiserver does against etcd.
 *
 * - Objects under {@link K8S_PREFIX}: pods (`pods/p<i>`, a small pool: created, updated,
 *   deleted, re-created) and events (`events/e<client>.<seq>`, created once with the
 *   current shared lease, never kept alive: they expire). Create is
 *   `Txn(CREATE(key) == 0) Then Put Else Get`; update `Txn(MOD(key) == R) Then Put Else
 *   Get`; delete `Txn(MOD(key) == R) Then DeleteRange Else Get`, R from the client's cache.
 * - Paged lists: the first page at the current revision R (its header), the next ones
 *   from the last key + "\0" at revision R; a compacted R restarts the list.
 * - Informers, one per client: a paged list at R, then a watch with prev_kv from R + 1;
 *   a broken stream resumes after the last event on the next member; a watch cancelled
 *   with compact_revision relists.
 * - A historian watches the prefix from revision 1 (the reference history; compaction
 *   never passes what it has seen), and a compactor compacts every few seconds to a
 *   revision it saw one period ago (the apiserver's compactor does this every 5 min).
 *
 * checker/k8s.ts checks the log. Writes are never retried; a timed-out write is unknown.
 */
import { etcdserverpb } from "@chainfire/api";
import { bytes, op, prefixEnd } from "../../harness/index.js";
import { delay } from "../../harness/wait.js";
import type { Connections } from "../connections.js";
import type { OpKind } from "../history.js";
import { definitelyFailed, errorText } from "../kv-ops.js";
import { leaseGrant } from "../lease-ops.js";
import { between, type Random, rng } from "../random.js";
import type { Recorder } from "../recorder.js";
import { type K8sWatch, runHistorian, runInformer } from "./k8s-watch.js";

export const K8S_PREFIX = "/jepsen/k8s/";
export const PODS = `${K8S_PREFIX}pods/`;
export const EVENTS = `${K8S_PREFIX}events/`;
export const PAGE_LIMIT = 4;

/** A key as a Range returned it. */
export interface Kv {
  key: string;
  value: string;
  modRev: number;
  createRev: number;
  /** Lease ID in decimal (IDs exceed 2^53). "0": none. */
  lease: string;
}

/** One page of a list. */
export interface Page {
  /** The revision asked for (0 on the first page). */
  askedRev: number;
  headerRev: number;
  kvs: Kv[];
  more: boolean;
}

/** One client operation. */
export interface K8sOp {
  id: number;
  client: number;
  member: number;
  f: "create" | "update" | "delete" | "list";
  key: string;
  value?: string;
  /** update/delete: the expected mod_revision. */
  expect?: number;
  /** Lease ID in decimal; absent or "0": none. */
  lease?: string;
  invoke: number;
  complete?: number;
  status: "ok" | "fail" | "unknown";
  /** Txn: whether the compare held. */
  succeeded?: boolean;
  /** Response header revision (list: the first page's). */
  rev?: number;
  /** Failed compare: what the Else Get read (null: absent). */
  read?: Kv | null;
  pages?: Page[];
  /** A list whose revision was compacted mid-way (the apiserver's 410 Gone). */
  compacted?: boolean;
  error?: string;
}

export interface K8sLog {
  ops: K8sOp[];
  /** The historian's events (the reference history of the prefix). */
  history: K8sWatch;
  informers: K8sWatch[];
  /** Compactions requested: revision, and whether the member acknowledged it. */
  compactions: { rev: number; ok: boolean; at: number }[];
  leases: { id: string; ttlSec: number; at: number }[];
}

export interface K8sOptions {
  recorder: Recorder;
  connections: Connections;
  members: number;
  clients: number;
  pods: number;
  leaseTtlSec: number;
  compactEveryMs: number;
  opTimeoutMs: number;
  seed: number;
  /** Stops the clients, the lease granter and the compactor. */
  signal: AbortSignal;
}

export function newK8sLog(): K8sLog {
  const watch = (id: number): K8sWatch => ({ id, segments: [], problems: [] });
  return { ops: [], history: watch(-1), informers: [], compactions: [], leases: [] };
}

/** Starts the historian and one informer per client; they run until `watchSignal`. */
export function startK8sWatches(o: K8sOptions, log: K8sLog, watchSignal: AbortSignal) {
  const lister = (client: number, member: number) =>
    list({ ...o, signal: watchSignal }, log, client, member);
  const w = { ...o, signal: watchSignal };
  const done: Promise<void>[] = [runHistorian(w, log.history)];
  for (let c = 0; c < o.clients; c++) {
    const watch: K8sWatch = { id: c, segments: [], problems: [] };
    log.informers.push(watch);
    // Odd informers stall now and then (a slow consumer): their resume may be compacted.
    const stall =
      c % 2 === 1 ? { random: rng(o.seed * 17 + c), ms: o.compactEveryMs * 2.5 } : undefined;
    done.push(runInformer(w, watch, c % o.members, (m) => lister(o.clients + c, m), stall));
  }
  return Promise.all(done).then(() => {});
}

/** Runs the clients, the lease granter and the compactor until `o.signal` aborts. */
export async function runK8s(o: K8sOptions, log: K8sLog): Promise<void> {
  const lease = { id: "0" };
  await Promise.all([
    granter(o, log, lease),
    compactor(o, log),
    ...Array.from({ length: o.clients }, (_, c) => client(o, log, c, lease, rng(o.seed * 31 + c))),
  ]);
}

/** Grants a fresh lease (never kept alive) every TTL/2; events attach the current one. */
async function granter(o: K8sOptions, log: K8sLog, lease: { id: string }) {
  let member = 0;
  while (!o.signal.aborted) {
    try {
      const id = String(await leaseGrant(o.connections.get(member), o.leaseTtlSec, o.opTimeoutMs));
      lease.id = id;
      log.leases.push({ id, ttlSec: o.leaseTtlSec, at: o.recorder.now() });
      await pause((o.leaseTtlSec * 1000) / 2, o.signal);
    } catch {
      member = (member + 1) % o.members;
      await pause(200, o.signal);
    }
  }
}

/**
 * Every period: compact to the revision seen one period ago (never past what the
 * historian has seen). A probe or compaction that fails is retried on the next member
 * (up to one try per member, 200 ms apart). Every requested compaction is logged, also
 * one that failed: its outcome may be unknown.
 */
async function compactor(o: K8sOptions, log: K8sLog) {
  let previous = 0;
  let member = 0;
  const retry = async (what: (m: number) => Promise<void>) => {
    for (let i = 0; i < o.members && !o.signal.aborted; i++) {
      try {
        await what(member);
        return;
      } catch (error) {
        o.recorder.event(`compactor on n${member + 1}: ${errorText(error)}`);
        member = (member + 1) % o.members;
        await pause(200, o.signal);
      }
    }
  };
  while (!o.signal.aborted) {
    await pause(o.compactEveryMs, o.signal);
    if (o.signal.aborted) break;
    const seen = log.history.segments.at(-1)?.events.at(-1)?.rev ?? 0;
    const target = Math.min(previous, seen);
    await retry(async (m) => {
      const res = await o.connections.get(m).range({ key: bytes("/"), limit: 1n }, 2000);
      previous = Number(res.header!.revision);
    });
    if (target <= (log.compactions.at(-1)?.rev ?? 0)) continue;
    const entry = { rev: target, ok: false, at: o.recorder.now() };
    log.compactions.push(entry);
    await retry(async (m) => {
      await o.connections.get(m).compact({ revision: BigInt(target) }, o.opTimeoutMs);
      entry.ok = true;
      o.recorder.event(`compacted to ${target}`);
    });
  }
}

async function client(o: K8sOptions, log: K8sLog, c: number, lease: { id: string }, r: Random) {
  let member = c % o.members;
  let seq = 0;
  const cache = new Map<string, Kv>();
  while (!o.signal.aborted) {
    const x = r();
    const pod = `${PODS}p${between(r, 0, o.pods - 1)}`;
    const known = cache.get(pod);
    let done: K8sOp;
    if (x < 0.2) {
      // Now and then a slow pager (2.5 compaction periods between pages): its revision
      // may be compacted mid-list, which must fail it as compacted.
      const slowMs = r() < 0.05 ? o.compactEveryMs * 2.5 : 0;
      done = await list(o, log, c, member, slowMs);
      if (done.status === "ok") {
        cache.clear();
        for (const p of done.pages!) for (const kv of p.kvs) cache.set(kv.key, kv);
      }
    } else if (x < 0.35 && lease.id !== "0") {
      done = await write(o, log, c, member, "create", `${EVENTS}e${c}.${seq}`, 0, lease.id, seq++);
    } else if (!known || x < 0.45) {
      done = await write(o, log, c, member, "create", pod, 0, "0", seq++);
    } else {
      const f = x < 0.9 ? "update" : "delete";
      done = await write(o, log, c, member, f, pod, known.modRev, "0", seq++);
    }
    if (done.f !== "list") {
      if (done.status !== "ok") cache.delete(done.key);
      else if (done.succeeded && done.f === "delete") cache.delete(done.key);
      else if (done.succeeded && done.key.startsWith(PODS)) {
        const createRev = done.f === "create" ? done.rev! : (known?.createRev ?? 0);
        cache.set(done.key, { ...kvOf(done), createRev });
      } else if (done.read) cache.set(done.key, done.read);
      else cache.delete(done.key);
    }
    if (done.status !== "ok") {
      member = (member + 1) % o.members;
      await pause(50 + r() * 100, o.signal);
    } else await pause(r() * 30, o.signal);
  }
}

const kvOf = (d: K8sOp): Kv => ({
  key: d.key,
  value: d.value!,
  modRev: d.rev!,
  createRev: d.rev!,
  lease: d.lease ?? "0",
});

function begin(o: K8sOptions, log: K8sLog, x: Omit<K8sOp, "id" | "invoke" | "status">) {
  const d: K8sOp = { id: log.ops.length, ...x, invoke: o.recorder.now(), status: "unknown" };
  log.ops.push(d);
  const f: OpKind = x.f === "list" ? "get" : x.f === "delete" ? "del" : "cas";
  const r = o.recorder.invoke({ client: x.client, member: x.member, f, key: x.key });
  return { d, r };
}

async function write(
  o: K8sOptions,
  log: K8sLog,
  c: number,
  member: number,
  f: "create" | "update" | "delete",
  key: string,
  expect: number,
  lease: string,
  seq: number,
): Promise<K8sOp> {
  const value = f === "delete" ? undefined : `c${c}.${seq}`;
  const { d, r } = begin(o, log, { client: c, member, f, key, value, expect, lease });
  const cmp = etcdserverpb.Compare.fromPartial({
    key: bytes(key),
    result: etcdserverpb.Compare_CompareResult.EQUAL,
    target:
      f === "create"
        ? etcdserverpb.Compare_CompareTarget.CREATE
        : etcdserverpb.Compare_CompareTarget.MOD,
    targetUnion:
      f === "create"
        ? { $case: "createRevision", value: 0n }
        : { $case: "modRevision", value: BigInt(expect) },
  });
  const then =
    f === "delete"
      ? op.del(key)
      : op.put(key, value!, lease !== "0" ? { lease: BigInt(lease) } : {});
  try {
    const res = await o.connections.get(member).txn(
      etcdserverpb.TxnRequest.fromPartial({
        compare: [cmp],
        success: [then],
        failure: [op.get(key)],
      }),
      o.opTimeoutMs,
    );
    d.rev = Number(res.header!.revision);
    d.succeeded = res.succeeded;
    if (!res.succeeded) {
      const got = res.responses[0]?.response;
      const kv = got?.$case === "responseRange" ? got.value.kvs[0] : undefined;
      d.read = kv ? toKv(kv) : null;
    }
    d.status = "ok";
    d.complete = o.recorder.now();
    o.recorder.ok(r, { rev: d.rev, succeeded: d.succeeded });
  } catch (error) {
    d.error = errorText(error);
    if (definitelyFailed(error)) {
      d.status = "fail";
      d.complete = o.recorder.now();
      o.recorder.fail(r, d.error);
    } else o.recorder.unknown(r, d.error);
  }
  return d;
}

/** A paged list of the whole prefix at one revision. */
export async function list(
  o: K8sOptions,
  log: K8sLog,
  c: number,
  member: number,
  slowMs = 0,
): Promise<K8sOp> {
  const { d, r } = begin(o, log, { client: c, member, f: "list", key: K8S_PREFIX });
  const pages: Page[] = (d.pages = []);
  let from = bytes(K8S_PREFIX);
  let rev = 0;
  try {
    for (;;) {
      const res = await o.connections.get(member).range(
        {
          key: from,
          rangeEnd: prefixEnd(K8S_PREFIX),
          limit: BigInt(PAGE_LIMIT),
          revision: BigInt(rev),
        },
        o.opTimeoutMs,
      );
      const page: Page = {
        askedRev: rev,
        headerRev: Number(res.header!.revision),
        kvs: res.kvs.map(toKv),
        more: res.more,
      };
      pages.push(page);
      if (rev === 0) rev = d.rev = page.headerRev;
      if (!res.more || res.kvs.length === 0) break;
      from = Buffer.concat([res.kvs[res.kvs.length - 1].key, Buffer.from([0])]);
      if (slowMs > 0 && pages.length === 1) await pause(slowMs, o.signal);
    }
    d.status = "ok";
    d.complete = o.recorder.now();
    o.recorder.ok(r, { rev: d.rev });
  } catch (error) {
    d.error = errorText(error);
    d.compacted = /required revision has been compacted/.test(d.error);
    d.status = "fail";
    d.complete = o.recorder.now();
    o.recorder.fail(r, d.error);
  }
  return d;
}

export function toKv(kv: {
  key: Buffer;
  value: Buffer;
  modRevision: bigint;
  createRevision: bigint;
  lease: bigint;
}): Kv {
  return {
    key: kv.key.toString("utf8"),
    value: kv.value.toString("utf8"),
    modRev: Number(kv.modRevision),
    createRev: Number(kv.createRevision),
    lease: String(kv.lease),
  };
}

export async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await delay(ms, signal);
  } catch {
    // aborted
  }
}
