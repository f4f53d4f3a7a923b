/**
 * Maintenance.Hash over our layout: a CRC-32 (Castagnoli is not needed; zlib's CRC-32,
 * as etcd's bolt hash uses IEEE) of every entry of the replicated key-value state — the
 * column families `kv`, `history`, `revs`, `leasekeys`, `lease` and `kvmeta` (without the
 * progress markers of physical compaction, which are member-local timing) — in column
 * family order, then key order. Each entry contributes its column family name, key and
 * value. Not covered: the raft log (`raft`: each member retains a different span) and
 * `meta` (applied index, membership, alarms).
 *
 * Equal on members that applied the same entries once physical compaction has finished
 * on them (history entries disappear at each member's own pace, as bolt pages do in
 * etcd). Reads one consistent snapshot on the thread pool: O(database).
 */
import { crc32 } from "node:zlib";
import type { ColumnFamilyName, Engine } from "../engine.js";
import { compareBytes } from "../keys.js";
import { META_COMPACT_CURSOR, META_COMPACT_DONE } from "./layout.js";

/** The column families {@link hashState} covers, in hashing order. */
export const HASHED_FAMILIES: readonly ColumnFamilyName[] = [
  "kv",
  "history",
  "revs",
  "leasekeys",
  "lease",
  "kvmeta",
];

const SKIPPED_KVMETA = [META_COMPACT_CURSOR, META_COMPACT_DONE];

/** The state hash of `engine`; see the module comment. */
export async function hashState(engine: Engine): Promise<number> {
  // All iterators are created in one synchronous step: one consistent snapshot.
  const its = HASHED_FAMILIES.map(
    (cf) => [cf, engine.iterate(cf, { fillCache: false, pageSize: 1024 })] as const,
  );
  let hash = 0;
  const len = Buffer.allocUnsafe(4);
  const add = (b: Uint8Array) => {
    len.writeUInt32BE(b.length, 0);
    hash = crc32(len, hash);
    hash = crc32(b, hash);
  };
  try {
    for (const [cf, it] of its) {
      const name = Buffer.from(cf);
      for await (const [k, v] of it) {
        if (cf === "kvmeta" && SKIPPED_KVMETA.some((s) => compareBytes(s, k) === 0)) continue;
        add(name);
        add(k);
        add(v);
      }
    }
  } finally {
    for (const [, it] of its) await it.return(undefined);
  }
  return hash >>> 0;
}
