/**
 * Maintenance.Hash over our layout: a CRC-32 (zlib's, IEEE, as etcd's bolt hash) of the
 * replicated key-value state — the column families `kv`, `history`, `revs`, `leasekeys`,
 * `lease` and `kvmeta` (without the progress markers of physical compaction, which are
 * member-local timing) — in that order, then key order. Each entry contributes its column
 * family name, key and value, except `revs`: its chunk boundaries depend on how a member
 * batched its applies, so each change above the compact revision (revision, sub-revision,
 * kind, key) is hashed on its own instead. Not covered: the raft log (`raft`: each member
 * retains a different span) and `meta` (applied index, membership, alarms).
 *
 * Equal on members that applied the same entries once physical compaction has finished
 * on them (history entries disappear at each member's own pace, as bolt pages do in
 * etcd). Reads one consistent snapshot on the thread pool: O(database).
 */
import { crc32 } from "node:zlib";
import type { ColumnFamilyName, Engine } from "../engine.js";
import { compareBytes } from "../keys.js";
import { decodeInt, META_COMPACT, META_COMPACT_CURSOR, META_COMPACT_DONE } from "./layout.js";
import { decodeChunk } from "./revlog.js";

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
  // All iterators are created in one synchronous step (with the compact revision read
  // alongside): one consistent snapshot.
  const compactRev = decodeInt(engine.getSync("kvmeta", META_COMPACT), 0);
  const its = HASHED_FAMILIES.map(
    (cf) => [cf, engine.iterate(cf, { fillCache: false, pageSize: 1024 })] as const,
  );
  let hash = 0;
  const len = Buffer.allocUnsafe(4);
  const rev = Buffer.allocUnsafe(13);
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
        if (cf === "revs") {
          for (const c of decodeChunk(v)) {
            if (c.main <= compactRev) continue;
            rev.writeBigUInt64BE(BigInt(c.main), 0);
            rev.writeUInt32BE(c.sub, 8);
            rev[12] = c.kind;
            add(name);
            add(rev);
            add(c.key);
          }
          continue;
        }
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
