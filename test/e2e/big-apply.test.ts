/**
 * A large apply does not stall the cluster (docs/performance.md, "The overload collapse"):
 * one DeleteRange of a 30,000-key prefix — one raft entry, applied by every member across
 * event-loop turns — causes no election (same leader, same term), and every member
 * applies it (same revision, same HashKV). `BIG_APPLY_KEYS` changes the key count.
 * Needs the built CLI (`npx tsc -b`); skipped with the reason otherwise.
 */
import { describe, expect, it } from "vitest";
import { deletePrefix, fillPrefix } from "../bench/big-delete/big-delete.js";
import { CHAINFIRE_MAIN, kindAvailable } from "../harness/index.js";
import { useCluster } from "../harness/vitest.js";

const available = kindAvailable("chainfire");
if (!available) console.warn(`big-apply: skipped, ${CHAINFIRE_MAIN} is missing (run npx tsc -b)`);
const KEYS = Number(process.env.BIG_APPLY_KEYS ?? 30_000);

describe.skipIf(!available)("a DeleteRange of a large prefix", () => {
  const cluster = useCluster({ kind: "chainfire", size: 3 });

  it(`of ${KEYS} keys causes no leader change and is applied by every member`, async () => {
    const c = cluster();
    const prefix = "/big-apply/";
    await fillPrefix(c, { prefix, keys: KEYS, valueBytes: 256 });
    // A linearizable read: the cluster's revision after the fill (Status answers from the
    // member's own applied state, which may still lag the last fill write).
    const before =
      (await c.client(0).range({ key: Buffer.from(prefix), limit: 1n }, 10_000)).header?.revision ??
      0n;
    const o = await deletePrefix(c, { prefix });
    console.log(
      `big-apply: ${o.deleted === undefined ? `request timed out after ${o.ms.toFixed(0)} ms (applied later)` : `deleted ${o.deleted} in ${o.ms.toFixed(0)} ms`}; leader n${o.leaderBefore + 1} term ${o.termBefore} -> n${o.leaderAfter + 1} term ${o.termAfter}`,
    );
    // On a loaded machine the call may outlive the member's request timeout (7 s): the
    // delete is applied anyway (deletePrefix waited for every member to have no key left).
    if (o.deleted !== undefined) expect(o.deleted).toBe(KEYS);
    expect({ leader: o.leaderAfter, term: o.termAfter }).toEqual({
      leader: o.leaderBefore,
      term: o.termBefore,
    });
    expect(new Set(o.hashes).size).toBe(1);
    expect(o.revision).toBe(before + 1n); // the delete: one revision
  }, 120_000);
});
