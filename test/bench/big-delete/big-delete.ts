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
  deleted: number;
  /** Wall time of the DeleteRange call, ms. */
  ms: number;
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
 * (up to `settleMs`) until every member reports the same revision and HashKV.
 */
export async function deletePrefix(
  cluster: Cluster,
  o: { prefix: string; settleMs?: number },
): Promise<DeleteOutcome> {
  const leaderBefore = await cluster.waitForLeader(30_000);
  const termBefore = (await cluster.client(leaderBefore).status(10_000)).raftTerm;
  const t0 = performance.now();
  const res = await cluster
    .client(leaderBefore)
    .deleteRange({ key: bytes(o.prefix), rangeEnd: prefixEnd(o.prefix) }, 60_000);
  const ms = performance.now() - t0;
  const target = res.header?.revision ?? 0n;
  const settled = await pollUntil(
    async () => {
      const rows = await Promise.all(
        cluster.members.map((_, i) => cluster.client(i).hashKv(0n, 10_000)),
      );
      const revs = rows.map((r) => r.header?.revision ?? 0n);
      if (revs.some((r) => r !== revs[0] || r < target)) return undefined;
      return { revision: revs[0]!, hashes: rows.map((r) => r.hash) };
    },
    { timeoutMs: o.settleMs ?? 60_000, what: "every member at one revision with its HashKV" },
  );
  const leaderAfter = await cluster.waitForLeader(30_000);
  const termAfter = (await cluster.client(leaderAfter).status(10_000)).raftTerm;
  return {
    deleted: Number(res.deleted),
    ms,
    leaderBefore,
    termBefore,
    leaderAfter,
    termAfter,
    ...settled,
  };
}
