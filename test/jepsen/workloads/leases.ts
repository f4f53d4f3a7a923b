/**
 * Leases with short TTLs beside a KV workload:
 *
 * - one *kept* lease (TTL `ttlSec`) with a key attached, kept alive every second through
 *   the members in turn, and its key read every half second: the key must never vanish
 *   earlier than TTL after a keep-alive that was answered (counted from when that
 *   keep-alive was sent — the server reset the TTL no earlier than that);
 * - *unkept* leases granted every few seconds (TTL `ttlSec`) with a key each and never
 *   kept alive, Kubernetes-style: after the run every one of them must be gone within a
 *   bound (checked by {@link checkUnkeptGone}).
 */

import { etcdserverpb } from "@chainfire/api";
import { credentials } from "@grpc/grpc-js";
import { bytes } from "../../harness/index.js";
import { delay } from "../../harness/wait.js";
import type { Connections } from "../connections.js";
import { leaseGrant } from "../lease-ops.js";
import type { Recorder } from "../recorder.js";

export const LEASE_PREFIX = "/jepsen/lease/";

/** What the lease workload observed. */
export interface LeaseLog {
  ttlSec: number;
  kept?: { id: string; key: string };
  /** Keep-alives of the kept lease: sent, answered (recorder clock), TTL answered. */
  keepAlives: { sent: number; answered?: number; ttl?: number }[];
  /** Reads of the kept lease's key: invoke, complete, whether it existed. */
  reads: { invoke: number; complete: number; exists: boolean }[];
  /** Unkept leases: key and when the grant was acknowledged. */
  unkept: { id: string; key: string; granted: number }[];
  errors: string[];
}

/** Options of {@link runLeases}. */
export interface LeaseOptions {
  recorder: Recorder;
  connections: Connections;
  members: number;
  ttlSec: number;
  signal: AbortSignal;
}

/** Runs until `signal` aborts. */
export async function runLeases(o: LeaseOptions, log: LeaseLog): Promise<void> {
  const clock = o.recorder;
  // Set up the kept lease (retrying: a fault may be active).
  let turn = 0;
  while (!o.signal.aborted && !log.kept) {
    const member = turn++ % o.members;
    try {
      const id = await leaseGrant(o.connections.get(member), o.ttlSec, 2000);
      const key = `${LEASE_PREFIX}kept`;
      await o.connections
        .get(member)
        .put({ key: bytes(key), value: bytes("kept"), lease: id }, 2000);
      log.kept = { id: id.toString(), key };
    } catch (error) {
      log.errors.push(`setting up the kept lease: ${String(error)}`);
      await pause(200, o.signal);
    }
  }
  if (!log.kept) return;
  const id = BigInt(log.kept.id);
  const key = log.kept.key;
  const keeper = (async () => {
    let k = 0;
    while (!o.signal.aborted) {
      const entry: LeaseLog["keepAlives"][number] = { sent: clock.now() };
      log.keepAlives.push(entry);
      const ttl = await keepAliveOnce(o.connections, k++ % o.members, id, 1000);
      if (ttl !== undefined) {
        entry.answered = clock.now();
        entry.ttl = ttl;
      }
      await pause(Math.max(0, 1000 - (clock.now() - entry.sent)), o.signal);
    }
  })();
  const reader = (async () => {
    let k = 0;
    while (!o.signal.aborted) {
      const invoke = clock.now();
      try {
        const res = await o.connections.get(k++ % o.members).range({ key: bytes(key) }, 1000);
        log.reads.push({ invoke, complete: clock.now(), exists: res.kvs.length > 0 });
      } catch {
        // no answer: nothing learned
      }
      await pause(500, o.signal);
    }
  })();
  const granter = (async () => {
    let k = 0;
    while (!o.signal.aborted) {
      const member = k % o.members;
      const unkeptKey = `${LEASE_PREFIX}unkept/${k++}`;
      try {
        const unkeptId = await leaseGrant(o.connections.get(member), o.ttlSec, 2000);
        await o.connections
          .get(member)
          .put({ key: bytes(unkeptKey), value: bytes("x"), lease: unkeptId }, 2000);
        log.unkept.push({ id: unkeptId.toString(), key: unkeptKey, granted: clock.now() });
      } catch {
        // unknown outcome: a lease granted and never kept alive expires anyway
      }
      await pause(3000, o.signal);
    }
  })();
  await Promise.all([keeper, reader, granter]);
}

/** Violations of "the kept lease never expired before its TTL since an answered keep-alive". */
export function checkKeptLease(log: LeaseLog): string[] {
  const violations: string[] = [];
  if (!log.kept) return ["the kept lease was never set up"];
  const answered = log.keepAlives.filter((k) => k.answered !== undefined && (k.ttl ?? 0) > 0);
  for (const read of log.reads) {
    if (read.exists) continue;
    // The latest keep-alive answered before the read completed that was sent before it.
    const covering = answered.filter((k) => k.answered! <= read.complete);
    const last = covering.at(-1);
    if (last && read.complete < last.sent + log.ttlSec * 1000) {
      violations.push(
        `the kept lease's key was gone at ${(read.complete / 1000).toFixed(2)} s, ${Math.round(read.complete - last.sent)} ms after a keep-alive sent at ${(last.sent / 1000).toFixed(2)} s was answered (TTL ${log.ttlSec} s)`,
      );
      break;
    }
  }
  return violations;
}

/** Keys of unkept leases still present (each member is asked). */
export async function unkeptPresent(
  connections: Connections,
  members: number,
  log: LeaseLog,
): Promise<string[]> {
  const present = new Set<string>();
  for (let m = 0; m < members; m++) {
    for (const u of log.unkept) {
      const res = await connections.get(m).range({ key: bytes(u.key) }, 2000);
      if (res.kvs.length > 0) present.add(`${u.key} on n${m + 1}`);
    }
  }
  return [...present];
}

async function keepAliveOnce(
  connections: Connections,
  member: number,
  id: bigint,
  timeoutMs: number,
): Promise<number | undefined> {
  const conn = connections.get(member);
  const address = conn.endpoint.replace(/^https?:\/\//, "");
  const client = new etcdserverpb.LeaseClient(address, credentials.createInsecure(), {
    channelOverride: conn.kv.getChannel(),
  });
  const call = client.leaseKeepAlive({ deadline: Date.now() + timeoutMs });
  const ttl = await new Promise<number | undefined>((resolve) => {
    call.on("data", (res: etcdserverpb.LeaseKeepAliveResponse) => resolve(Number(res.TTL)));
    call.on("error", () => resolve(undefined));
    call.on("end", () => resolve(undefined));
    call.write(etcdserverpb.LeaseKeepAliveRequest.fromPartial({ ID: id }));
  });
  call.cancel();
  return ttl;
}

async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await delay(ms, signal);
  } catch {
    // aborted
  }
}
