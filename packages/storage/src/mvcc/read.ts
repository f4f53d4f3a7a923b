/**
 * Reading versions from the MVCC tables (see store.ts for the layout).
 *
 * - The version of key k at revision R: `kv[k]` if its mod revision is <= R; otherwise
 *   the first `history` entry at or after `encodeKey(k) ‖ ~R ‖ ~MAX` that still belongs
 *   to k (history sorts each key's versions newest first): a put is the version, a
 *   tombstone or nothing means k did not exist at R. One point read plus one seek.
 * - A range at the current revision is one ordered scan of `kv`.
 * - A range at an older revision merges the keys of `kv` and `history` in order and does
 *   the lookup above per key, reusing one cursor per table: O(log n) per key returned,
 *   independent of how long each key's history is.
 */

import type { Entry } from "../engine.js";
import { StorageError } from "../errors.js";
import {
  compareBytes,
  decodeKey,
  decodeRevisionDesc,
  encodedKeyEnd,
  encodedKeyUpperBound,
  encodeKey,
  encodeKeyRevisionDesc,
  keyInterval,
  MAX_SUB,
} from "../keys.js";
import { isPut, recordMod, toKeyValue } from "./record.js";
import type { KeyValue } from "./types.js";
import type { KvView } from "./view.js";

/** A byte interval [start, end); `end` undefined means unbounded. */
export interface Span {
  start: Uint8Array;
  end: Uint8Array | undefined;
}

/** The record bytes of the put that is k's version at revision `rev`, if any. */
export function versionAt(view: KvView, key: Uint8Array, rev: number): Buffer | undefined {
  const cur = view.get("kv", key);
  if (cur && recordMod(cur) <= rev) return cur;
  const enc = encodeKey(key);
  const c = view.cursor(
    "history",
    encodeKeyRevisionDesc(key, rev, MAX_SUB),
    encodedKeyUpperBound(enc),
  );
  try {
    const e = c.next();
    return e && isPut(e[1]) ? e[1] : undefined;
  } finally {
    c.close();
  }
}

/**
 * How many bytes of KeyValues one read may still collect (a response size limit that
 * bounds memory: a range over millions of keys fails early instead of building a huge
 * array). Each KeyValue costs its key and value lengths plus {@link KV_OVERHEAD_BYTES}.
 * Shared by every range of one read-only txn. Reads that carry none are unbounded (the
 * apply path: every member must decide alike, whatever its local limit).
 */
export interface ReadBudget {
  remaining: number;
}

/** What a KeyValue costs a {@link ReadBudget} beyond its key and value bytes. */
export const KV_OVERHEAD_BYTES = 64;

/** Charges `kv` to `budget`; throws ErrResponseTooLarge once it is spent. */
export function charge(budget: ReadBudget | undefined, kv: KeyValue): void {
  if (budget === undefined) return;
  budget.remaining -= kv.key.length + kv.value.length + KV_OVERHEAD_BYTES;
  if (budget.remaining < 0) throw new StorageError("ErrResponseTooLarge");
}

/** Output of {@link scan}. */
export interface ScanResult {
  kvs: KeyValue[];
  /** Number of keys in the span at the revision (all of them, not just those returned). */
  count: number;
}

/**
 * The keys live in `span` at `rev`, in key order: at most `fetch` KeyValues (0: all) and
 * the count of all of them. `countOnly` returns no KeyValues. `withValue: false` leaves
 * values empty.
 */
export function scan(
  view: KvView,
  span: Span,
  rev: number,
  currentRev: number,
  fetch: number,
  countOnly: boolean,
  withValue: boolean,
  budget?: ReadBudget,
): ScanResult {
  if (span.end !== undefined && compareBytes(span.end, span.start) <= 0) {
    return { kvs: [], count: 0 };
  }
  return rev >= currentRev
    ? scanCurrent(view, span, fetch, countOnly, withValue, budget)
    : scanHistorical(view, span, rev, fetch, countOnly, withValue, budget);
}

function scanCurrent(
  view: KvView,
  span: Span,
  fetch: number,
  countOnly: boolean,
  withValue: boolean,
  budget: ReadBudget | undefined,
): ScanResult {
  const kvs: KeyValue[] = [];
  if (countOnly) return { kvs, count: countKeys(view, span.start, span.end) };
  const c = view.cursor("kv", span.start, span.end);
  let last: Buffer | undefined;
  try {
    for (let e = c.next(); e !== undefined; e = c.next()) {
      const kv = toKeyValue(e[0], e[1], withValue);
      charge(budget, kv);
      kvs.push(kv);
      if (fetch > 0 && kvs.length >= fetch) {
        last = e[0];
        break;
      }
    }
  } finally {
    c.close();
  }
  if (last === undefined) return { kvs, count: kvs.length };
  // The rest is only counted: a keys-only scan after the last key returned.
  const after = Buffer.allocUnsafe(last.length + 1);
  last.copy(after);
  after[last.length] = 0;
  return { kvs, count: kvs.length + countKeys(view, after, span.end) };
}

function countKeys(view: KvView, start: Uint8Array, end: Uint8Array | undefined): number {
  return view.count("kv", start, end);
}

function hasPrefix(b: Uint8Array, prefix: Uint8Array): boolean {
  if (b.length < prefix.length) return false;
  for (let i = prefix.length - 1; i >= 0; i--) if (b[i] !== prefix[i]) return false;
  return true;
}

function scanHistorical(
  view: KvView,
  span: Span,
  rev: number,
  fetch: number,
  countOnly: boolean,
  withValue: boolean,
  budget: ReadBudget | undefined,
): ScanResult {
  const kvs: KeyValue[] = [];
  let count = 0;
  const kvCur = view.cursor("kv", span.start, span.end);
  const hCur = view.cursor(
    "history",
    encodeKey(span.start),
    span.end === undefined ? undefined : encodeKey(span.end),
  );
  try {
    let kvHead = kvCur.next();
    let hHead = hCur.next();
    let hKey: Buffer | undefined = hHead ? decodeKey(hHead[0]).key : undefined;
    // Invariant: hHead, when defined, is the newest history entry of key hKey.
    while (kvHead !== undefined || hHead !== undefined) {
      const c = kvHead === undefined ? 1 : hKey === undefined ? -1 : compareBytes(kvHead[0], hKey);
      const key = c <= 0 ? kvHead![0] : hKey!;
      let version: Buffer | undefined;
      if (c <= 0) {
        if (recordMod(kvHead![1]) <= rev) version = kvHead![1];
        kvHead = kvCur.next();
      }
      if (c >= 0 && hHead !== undefined) {
        // hHead is the newest history entry of `key`.
        const encEnd = encodedKeyEnd(hHead[0]);
        const enc = hHead[0].subarray(0, encEnd);
        let entry: Entry | undefined = hHead;
        let next: Entry | undefined;
        let positioned = false;
        if (version === undefined && decodeRevisionDesc(hHead[0], encEnd).main > rev) {
          hCur.seek(encodeKeyRevisionDesc(key, rev, MAX_SUB));
          const e = hCur.next();
          if (e !== undefined && hasPrefix(e[0], enc)) entry = e;
          else {
            entry = undefined;
            next = e;
            positioned = true;
          }
        }
        if (version === undefined && entry !== undefined && isPut(entry[1])) version = entry[1];
        if (!positioned) {
          // Skip the rest of this key's versions: usually the next entry is the next key.
          next = hCur.next();
          if (next !== undefined && hasPrefix(next[0], enc)) {
            hCur.seek(encodedKeyUpperBound(enc));
            next = hCur.next();
          }
        }
        hHead = next;
        hKey = hHead ? decodeKey(hHead[0]).key : undefined;
      }
      if (version !== undefined) {
        count++;
        if (!countOnly && (fetch === 0 || kvs.length < fetch)) {
          const kv = toKeyValue(key, version, withValue);
          charge(budget, kv);
          kvs.push(kv);
        }
      }
    }
  } finally {
    kvCur.close();
    hCur.close();
  }
  return { kvs, count };
}

/** The live (key, record) pairs selected by an etcd (key, range_end), in key order. */
export function liveEntries(
  view: KvView,
  key: Uint8Array,
  rangeEnd: Uint8Array | undefined,
): [Uint8Array, Buffer][] {
  const span = spanOf(key, rangeEnd);
  if (span === undefined) {
    const cur = view.get("kv", key);
    return cur ? [[key, cur]] : [];
  }
  if (span.end !== undefined && compareBytes(span.end, span.start) <= 0) return [];
  const out: [Uint8Array, Buffer][] = [];
  const c = view.cursor("kv", span.start, span.end);
  try {
    for (let e = c.next(); e !== undefined; e = c.next()) out.push(e);
  } finally {
    c.close();
  }
  return out;
}

/**
 * {@link liveEntries} of a range (not a single key), yielding after every `stepKeys`
 * entries read; the entries are returned at the end.
 */
export function* liveEntriesSteps(
  view: KvView,
  span: Span,
  stepKeys: number,
): Generator<void, [Uint8Array, Buffer][], void> {
  const out: [Uint8Array, Buffer][] = [];
  if (span.end !== undefined && compareBytes(span.end, span.start) <= 0) return out;
  const c = view.cursor("kv", span.start, span.end);
  try {
    for (let e = c.next(); e !== undefined; e = c.next()) {
      if (out.push(e) % stepKeys === 0) yield;
    }
  } finally {
    c.close();
  }
  return out;
}

/** The span of an etcd (key, range_end) pair, or undefined for a single key. */
export function spanOf(key: Uint8Array, rangeEnd: Uint8Array | undefined): Span | undefined {
  const iv = keyInterval(key, rangeEnd);
  return iv.kind === "single" ? undefined : { start: iv.start, end: iv.end };
}
