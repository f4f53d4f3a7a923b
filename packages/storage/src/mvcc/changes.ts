/**
 * Watch catch-up: the changes recorded in the revision log from a revision on, with the
 * versions they created and etcd's prev_kv, a page at a time.
 */
import type { Engine } from "../engine.js";
import { StorageBugError, StorageError } from "../errors.js";
import {
  compareBytes,
  encodedKeyUpperBound,
  encodeKey,
  encodeKeyRevisionDesc,
  encodeRevision,
  intervalContains,
  keyInterval,
  MAX_SUB,
} from "../keys.js";
import { StoredEvent } from "./event.js";
import { REV_PUT } from "./layout.js";
import { versionAt } from "./read.js";
import { isPut, recordMod, recordSub, recordVersion } from "./record.js";
import { decodeChunk } from "./revlog.js";
import { CommittedView, type KvView, type ViewCursor } from "./view.js";

/** A page of {@link readChanges}. */
export interface ChangesPage {
  /** Events in revision order (whole revisions only). */
  events: StoredEvent[];
  /** Where the next page starts; > current revision when caught up. */
  nextRevision: bigint;
  /** True when the page reached the current revision. */
  done: boolean;
}

/** Options of {@link readChanges}. */
export interface ChangesOptions {
  /** First revision to return (must be >= the compact revision). */
  fromRevision: bigint;
  /** Only keys in (key, rangeEnd) with etcd's range_end rules; default all keys. */
  key?: Uint8Array;
  rangeEnd?: Uint8Array;
  /** Last revision to return (default: the current revision). */
  toRevision?: bigint;
  /** Stop after about this many revision-log entries (at a revision boundary). */
  limit?: number;
}

/**
 * Events from `fromRevision` on, in revision order, for watch catch-up, a page at a
 * time. `prevKv` is what etcd's watch reports: the key's version at revision - 1,
 * except for creations (version 1) and at the compact revision. Throws ErrCompacted if
 * `fromRevision` is below the compact revision (as etcd's watch). At the compact
 * revision itself only the versions compaction keeps are reported (PUTs that are their
 * key's newest change at that revision), as etcd.
 */
export function readChanges(
  engine: Engine,
  opts: ChangesOptions,
  currentRev: number,
  compactRev: number,
): ChangesPage {
  const from = opts.fromRevision < 1n ? 1 : Number(opts.fromRevision);
  if (from < compactRev) throw new StorageError("ErrCompacted");
  const limit = opts.limit ?? 1000;
  const iv = opts.key ? keyInterval(opts.key, opts.rangeEnd) : undefined;
  const events: StoredEvent[] = [];
  const to =
    opts.toRevision !== undefined && opts.toRevision < BigInt(currentRev)
      ? Number(opts.toRevision)
      : currentRev;
  if (from > to) return { events, nextRevision: BigInt(from), done: true };
  const view = new CommittedView(engine);
  // The chunk holding `from` starts at or before it.
  const back = engine.cursor("revs", { reverse: true, lte: encodeRevision(from, 0) });
  const first = back.next();
  back.close();
  const c = engine.cursor("revs", first ? { gte: first[0] } : {});
  const hist = view.cursor("history", undefined, undefined);
  let scanned = 0;
  let lastMain = from - 1;
  try {
    for (let e = c.next(); e !== undefined; e = c.next()) {
      for (const { main, sub, kind, key } of decodeChunk(e[1])) {
        if (main < from) continue;
        if (main > to) return { events, nextRevision: BigInt(to + 1), done: true };
        if (main !== lastMain && scanned >= limit) {
          return { events, nextRevision: BigInt(main), done: false };
        }
        lastMain = main;
        scanned++;
        if (iv && !intervalContains(iv, key)) continue;
        const ev = eventAt(view, hist, compactRev, kind, key, main, sub);
        if (ev) events.push(ev);
      }
    }
  } finally {
    c.close();
    hist.close();
  }
  return { events, nextRevision: BigInt(to + 1), done: true };
}

function eventAt(
  view: KvView,
  hist: ViewCursor,
  compactRev: number,
  kind: number,
  key: Buffer,
  main: number,
  sub: number,
): StoredEvent | undefined {
  // The version this change created (PUT) and the one before it.
  const enc = encodeKey(key);
  const upper = encodedKeyUpperBound(enc);
  let rec: Buffer | undefined;
  if (kind === REV_PUT) {
    const cur = view.get("kv", key);
    if (cur && recordMod(cur) === main && recordSub(cur) === sub) rec = cur;
    else rec = view.get("history", encodeKeyRevisionDesc(key, main, sub));
    if (rec === undefined || !isPut(rec)) {
      if (main <= compactRev) return undefined; // compacted away
      throw new StorageBugError(`revision log names a missing version ${main}.${sub}`);
    }
  }
  if (main === compactRev) {
    // Only versions kept by compaction: a PUT that is its key's newest change at main.
    if (kind !== REV_PUT) return undefined;
    const latest = versionAt(view, key, main);
    if (!latest || recordMod(latest) !== main || recordSub(latest) !== sub) return undefined;
  }
  // etcd's watch reads prev_kv at (revision - 1), not for creations (version 1), and
  // gets nothing when that is below the compact revision.
  let prev: Buffer | undefined;
  if (main > compactRev && !(rec && recordVersion(rec) === 1)) {
    hist.seek(encodeKeyRevisionDesc(key, main - 1, MAX_SUB));
    const p = hist.next();
    if (p && compareBytes(p[0], upper) < 0 && compareBytes(p[0], enc) >= 0 && isPut(p[1])) {
      prev = p[1];
    }
  }
  return new StoredEvent(kind === REV_PUT ? "PUT" : "DELETE", key, main, sub, rec, prev);
}
