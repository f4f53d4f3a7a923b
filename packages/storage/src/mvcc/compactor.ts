/**
 * The compactor: physically removes the history a Compact made unreadable, a bounded step
 * at a time, outside the apply path (etcd's scheduled compaction).
 *
 * For each key changed at or below the compact revision c (found through the revision
 * log), drop its history entries at or below c except the newest one there when that is
 * a put — or all of them when the key's current version is itself at or below c. Log
 * chunks whose changes are all below c go too. Progress (`compact-cursor`,
 * `compact-done` in kvmeta) survives restarts; each step is one RocksDB batch.
 */
import type { Engine, WriteBatch } from "../engine.js";
import { failpoint, failpointsActive } from "../failpoints.js";
import {
  encodedKeyUpperBound,
  encodeKey,
  encodeKeyRevisionDesc,
  encodeRevision,
  MAX_SUB,
} from "../keys.js";
import { decodeInt, encodeInt, META_COMPACT_CURSOR, META_COMPACT_DONE } from "./layout.js";
import { isPut, recordMod } from "./record.js";
import { decodeChunk } from "./revlog.js";

/** Whether the physical part of the compaction at `compactRev` is unfinished. */
export function compactionPending(engine: Engine, compactRev: number): boolean {
  return (
    compactRev > 0 && decodeInt(engine.getSync("kvmeta", META_COMPACT_DONE), -1) !== compactRev
  );
}

/**
 * One step of the compaction at `c`: about `maxEntries` revision-log entries, one RocksDB
 * batch. Returns true when nothing is left. The caller ensures no MVCC write is open.
 */
export function compactStep(engine: Engine, c: number, maxEntries: number): boolean {
  if (c <= 0) return true;
  if (decodeInt(engine.getSync("kvmeta", META_COMPACT_DONE), -1) === c) return true;
  const cursorKey = engine.getSync("kvmeta", META_COMPACT_CURSOR);
  // Chunks starting at or below c; a chunk is deleted when all its changes are below c.
  const revs = engine.cursor("revs", {
    ...(cursorKey ? { gte: cursorKey } : {}),
    lt: encodeRevision(c + 1, 0),
    pageSize: 64,
  });
  const batch = engine.batch();
  const seen = new Set<string>();
  let n = 0;
  let next: Buffer | undefined;
  let firstKept: Buffer | undefined;
  try {
    for (let e = revs.next(); e !== undefined; e = revs.next()) {
      if (n >= maxEntries && firstKept === undefined) {
        next = e[0];
        break;
      }
      const entries = decodeChunk(e[1]);
      n += entries.length;
      if (entries[entries.length - 1]!.main < c) batch.del("revs", e[0]);
      else firstKept ??= e[0];
      for (const { main, key } of entries) {
        if (main > c) break;
        const s = key.toString("latin1");
        if (seen.has(s)) continue;
        seen.add(s);
        compactKey(engine, batch, key, c);
      }
    }
  } finally {
    revs.close();
  }
  if (next) batch.put("kvmeta", META_COMPACT_CURSOR, next);
  else {
    batch.put("kvmeta", META_COMPACT_CURSOR, firstKept ?? encodeRevision(c + 1, 0));
    batch.put("kvmeta", META_COMPACT_DONE, encodeInt(c));
  }
  if (failpointsActive) {
    failpoint(next ? "compactBeforeCommitBatch" : "compactBeforeSetFinishedCompact");
  }
  engine.writeSync(batch);
  batch.close();
  if (failpointsActive) {
    failpoint(next ? "compactAfterCommitBatch" : "compactAfterSetFinishedCompact");
  }
  return next === undefined;
}

/** Drop `key`'s history at or below `c` except its newest version there if a put. */
function compactKey(engine: Engine, batch: WriteBatch, key: Uint8Array, c: number): void {
  const cur = engine.getSync("kv", key);
  let keepOne = !(cur && recordMod(cur) <= c);
  const enc = encodeKey(key);
  const h = engine.cursor("history", {
    gte: encodeKeyRevisionDesc(key, c, MAX_SUB),
    lt: encodedKeyUpperBound(enc),
    values: true,
  });
  try {
    for (let e = h.next(); e !== undefined; e = h.next()) {
      if (keepOne) {
        keepOne = false;
        if (isPut(e[1])) continue;
      }
      batch.del("history", e[0]);
    }
  } finally {
    h.close();
  }
}
