/**
 * The large-apply scenario of docs/performance.md ("The overload collapse"): fill a
 * prefix with many keys (Txns of 100 puts), then delete the whole prefix with ONE
 * DeleteRange — one raft entry that every member applies — and report how long it took,
 * whether the leader or term changed, and whether every member applied it (same revision,
 * same HashKV). Shared by `npm run bench:big-delete` and test/e2e/big-apply.test.ts.
 */
import { etcdserverpb } from "@chainfire/api";
import { bytes, type Cluster, pollUntil, prefixEnd } from "../../harness/index.js";

/** Puts `keys` keys `${prefix}NNNNNNNN` with `valueBytes`-byte values, 100 per Txn. */
export async function fillPrefix(
  cluster: Cluster,
  o: { prefix: string; keys: number; valueBytes: number; onProgress?: (done: number) => void },
): Promise<void> {
  const value = Buffer.alloc(o.valueBytes, 0x61);
  const txns = Math.ceil(o.keys / 100);
  let next = 0;
  let done = 0;
  const worker = async (w: number) => {
    const client = cluster.client(w % cluster.members.length);
    for (let t = next++; t < txns; t = next++) {
      const success: etcdserverpb.RequestOp[] = [];
      for (let i = t * 100; i < Math.min(o.keys, (t + 1) * 100); i++) {
        const key = bytes(`${o.prefix}${String(i).padStart(8, "0")}`);
        success.push(
          etcdserverpb.RequestOp.fromPartial({
            request: { $case: "requestPut", value: { key, value } },
          }),
        );
      }
      await client.txn(etcdserverpb.TxnRequest.fromPartial({ success }), 30_000);
      done += success.length;
      o.onProgress?.(done);
    }
  };
  await Promise.all([0, 1, 2, 3].map(worker));
}

/** What {@link deletePrefix} observed. */
export interface DeleteOutcome {
  /** Keys deleted, or undefined when the request timed out (it is applied anyway). */
  deleted: number | undefined;
  /** Wall time of the DeleteRange call (until its answer or its timeout), ms. */
  ms: number;
  /** The server's "request timed out" (UNAVAILABLE), when the call ended with it. */
  error?: string;
  leaderBefore: number;
  termBefore: bigint;
  leaderAfter: number;
  termAfter: bigint;
  /** The revision every member reached and their HashKV there (all equal). */
  revision: bigint;
  hashes: number[];
}

/**
 * Deletes every key under `prefix` with one DeleteRange sent to the leader, then waits
 * (up to `settleMs`) until every member has no key left under `prefix` and reports the
 * same revision, and reads their HashKV. A DeleteRange that outlives the member's request
 * timeout (7 s; a loaded machine) ends with "request timed out" but is still applied: that
 * is reported in `error`, and the wait proves it was applied.
 */
export async function deletePrefix(
  cluster: Cluster,
  o: { prefix: string; settleMs?: number },
): Promise<DeleteOutcome> {
  const leaderBefore = await cluster.waitForLeader(30_000);
  const termBefore = (await cluster.client(leaderBefore).status(10_000)).raftTerm;
  const range = { key: bytes(o.prefix), rangeEnd: prefixEnd(o.prefix) };
  const t0 = performance.now();
  let deleted: number | undefined;
  let error: string | undefined;
  try {
    deleted = Number((await cluster.client(leaderBefore).deleteRange(range, 60_000)).deleted);
  } catch (e) {
    const err = e as { code?: number; details?: string };
    if (err.code !== 14 || !err.details?.includes("request timed out")) throw e;
    error = err.details;
  }
  const ms = performance.now() - t0;
  const members = cluster.members.map((_, i) => cluster.client(i));
  const settled = await pollUntil(
    async () => {
      const left = await Promise.all(
        members.map((c) => c.range({ ...range, countOnly: true, serializable: true }, 10_000)),
      );
      if (left.some((r) => r.count !== 0n)) return undefined;
      const rows = await Promise.all(members.map((c) => c.hashKv(0n, 10_000)));
      const revs = rows.map((r) => r.header?.revision ?? 0n);
      if (revs.some((r) => r !== revs[0])) return undefined;
      return { revision: revs[0]!, hashes: rows.map((r) => r.hash) };
    },
    { timeoutMs: o.settleMs ?? 60_000, what: `no key under ${o.prefix}, one revision, HashKV` },
  );
  const leaderAfter = await cluster.waitForLeader(30_000);
  const termAfter = (await cluster.client(leaderAfter).status(10_000)).raftTerm;
  return {
    deleted,
    ms,
    ...(error ? { error } : {}),
    leaderBefore,
    termBefore,
    leaderAfter,
    termAfter,
    ...settled,
  };
}
