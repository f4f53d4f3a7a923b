/**
 * The disk side of the raft log store: loading the log's records at open, reading entry
 * ranges the cache does not hold, and the full verification scan. Synchronous reads of
 * the `raft` column family (layout: codec.ts). No state of its own.
 */
import type { Entry, HardState, Snapshot } from "@chainfire/raft";
import type { Engine } from "../engine.js";
import { CorruptRecordError } from "./binary.js";
import {
  BOUNDARY_KEY,
  decodeBoundary,
  decodeEntryKey,
  decodeEntryValue,
  decodeHardState,
  decodeSnapshotRecord,
  decodeTermRuns,
  entryKey,
  entryValueTerm,
  HARD_STATE_KEY,
  type LogBoundary,
  RAFT_STATE_CF,
  SNAPSHOT_KEY,
  TERM_RUNS_KEY,
} from "./codec.js";
import { entryCost } from "./entry-cache.js";
import { RaftLogCorruptError, RaftLogIoError } from "./errors.js";
import { TermIndex } from "./term-index.js";

/** One past the largest entry key. */
const ENTRY_END = Buffer.from([0x02]);

/** What {@link loadLog} found. */
export interface LoadedLog {
  hardState?: HardState;
  boundary: LogBoundary;
  snapshot?: { metadata: Snapshot["metadata"]; data: Uint8Array };
  last: number;
  terms: TermIndex;
  /** The newest entries, oldest first, up to the prefill budget. */
  tail: Entry[];
}

/**
 * Reads the records, the last index (one reverse seek), the term runs and a bounded tail.
 * Does not scan the log (unless it predates persisted term runs). Throws
 * {@link RaftLogCorruptError} or {@link RaftLogIoError}.
 */
export function loadLog(engine: Engine, prefillBytes: number, verify: boolean): LoadedLog {
  try {
    const hs = engine.getSync(RAFT_STATE_CF, HARD_STATE_KEY);
    const b = engine.getSync(RAFT_STATE_CF, BOUNDARY_KEY);
    const sn = engine.getSync(RAFT_STATE_CF, SNAPSHOT_KEY);
    const boundary = b ? decodeBoundary(b) : { index: 0, term: 0 };
    const last = findLastIndex(engine, boundary.index);
    const runs = engine.getSync(RAFT_STATE_CF, TERM_RUNS_KEY);
    const terms = runs
      ? termsFromRecord(decodeTermRuns(runs), boundary, last)
      : scanTerms(engine, boundary); // a log written before term runs were persisted
    const tail = readTail(engine, boundary.index, last, terms, prefillBytes);
    if (verify) verifyLog(engine, boundary.index, last, terms);
    return {
      hardState: hs ? decodeHardState(hs) : undefined,
      boundary,
      snapshot: sn ? decodeSnapshotRecord(sn) : undefined,
      last,
      terms,
      tail,
    };
  } catch (err) {
    if (err instanceof RaftLogCorruptError) throw err;
    if (err instanceof CorruptRecordError) {
      throw new RaftLogCorruptError(`raft log record does not decode: ${err.message}`, {
        cause: err,
      });
    }
    throw new RaftLogIoError("cannot load the raft log", { cause: err });
  }
}

/** The index of the last stored entry after the boundary (the boundary if none). */
function findLastIndex(engine: Engine, boundary: number): number {
  const c = engine.cursor("raft", {
    gte: entryKey(boundary + 1),
    lt: ENTRY_END,
    reverse: true,
    limit: 1,
    values: false,
  });
  try {
    const kv = c.next();
    return kv ? decodeEntryKey(kv[0]) : boundary;
  } finally {
    c.close();
  }
}

function termsFromRecord(runs: [number, number][], boundary: LogBoundary, last: number): TermIndex {
  let t: TermIndex;
  try {
    t = TermIndex.fromRuns(runs);
  } catch (err) {
    throw new RaftLogCorruptError("raft log term runs are not increasing", { cause: err });
  }
  if (runs.length === 0 || runs[0][0] > boundary.index) {
    throw new RaftLogCorruptError(`raft log term runs start after the boundary ${boundary.index}`);
  }
  // The record may hold runs the log no longer has: below a compaction it raced with,
  // or past entries lost in a crash together with the batch that would have fixed it.
  t.compactTo(boundary.index);
  t.truncateFrom(last + 1);
  if (t.term(boundary.index) !== boundary.term) {
    throw new RaftLogCorruptError(
      `term runs give ${t.term(boundary.index)} for the boundary ${boundary.index}, ` +
        `which has term ${boundary.term}`,
    );
  }
  return t;
}

/** Rebuilds the term runs by reading every entry (only for logs without a runs record). */
function scanTerms(engine: Engine, boundary: LogBoundary): TermIndex {
  const terms = new TermIndex();
  terms.reset(boundary.index, boundary.term);
  let expect = boundary.index + 1;
  for (const [k, v] of engine.iterateSync("raft", { gte: entryKey(expect), lt: ENTRY_END })) {
    const index = decodeEntryKey(k);
    if (index !== expect) throw gapError(index, expect, boundary.index);
    terms.set(index, entryValueTerm(v));
    expect++;
  }
  return terms;
}

/** The newest entries up to `bytes` (cache cost), read backwards from the end. */
function readTail(
  engine: Engine,
  boundary: number,
  last: number,
  terms: TermIndex,
  bytes: number,
): Entry[] {
  const tail: Entry[] = [];
  if (last <= boundary || bytes <= 0) return tail;
  let used = 0;
  let expect = last;
  const c = engine.cursor("raft", {
    gte: entryKey(boundary + 1),
    lte: entryKey(last),
    reverse: true,
    fillCache: false,
  });
  try {
    for (let kv = c.next(); kv !== undefined; kv = c.next()) {
      const index = decodeEntryKey(kv[0]);
      if (index !== expect) throw gapError(index, expect, boundary);
      const e = decodeEntryValue(index, kv[1]);
      if (e.term !== terms.term(index)) {
        throw new RaftLogCorruptError(
          `raft entry ${index} has term ${e.term}, the term runs say ${terms.term(index)}`,
        );
      }
      used += entryCost(e);
      if (used > bytes) break;
      tail.push(e);
      expect--;
    }
  } finally {
    c.close();
  }
  return tail.reverse();
}

/**
 * Reads the whole log and checks that it is contiguous from the boundary to `last` and
 * that every entry's term matches `terms`. O(log size). Throws RaftLogCorruptError.
 */
export function verifyLog(engine: Engine, boundary: number, last: number, terms: TermIndex): void {
  let expect = boundary + 1;
  for (const [k, v] of engine.iterateSync("raft", { gte: entryKey(expect), lt: ENTRY_END })) {
    const index = decodeEntryKey(k);
    if (index !== expect) throw gapError(index, expect, boundary);
    const term = entryValueTerm(v);
    if (index > last || term !== terms.term(index)) {
      throw new RaftLogCorruptError(
        `raft entry ${index} (term ${term}) disagrees with the log's last index ${last} ` +
          `or term runs`,
      );
    }
    expect++;
  }
  if (expect !== last + 1) {
    throw new RaftLogCorruptError(`raft log ends at ${expect - 1}, expected ${last}`);
  }
}

/**
 * Reads entries [lo, hi) from RocksDB into `out` while their data stays within maxBytes
 * (at least one entry if `out` is empty). Returns the data bytes used, or -1 if it
 * stopped at maxBytes.
 */
export function readEntries(
  engine: Engine,
  lo: number,
  hi: number,
  maxBytes: number,
  out: Entry[],
): number {
  let used = 0;
  let expect = lo;
  const cursor = engine.cursor("raft", {
    gte: entryKey(lo),
    lt: entryKey(hi),
    limit: hi - lo,
    pageSize: Math.min(hi - lo, 256),
  });
  try {
    for (let kv = cursor.next(); kv !== undefined; kv = cursor.next()) {
      const index = decodeEntryKey(kv[0]);
      if (index !== expect) {
        throw new RaftLogCorruptError(`raft log read ${index}, expected ${expect}`);
      }
      const e = decodeEntryValue(index, kv[1]);
      if (out.length > 0 && used + e.data.length > maxBytes) return -1;
      out.push(e);
      used += e.data.length;
      expect++;
    }
  } catch (err) {
    if (err instanceof RaftLogCorruptError) throw err;
    throw new RaftLogIoError(`cannot read raft log entries [${lo}, ${hi})`, { cause: err });
  } finally {
    cursor.close();
  }
  if (expect !== hi) {
    throw new RaftLogCorruptError(`raft log entries [${expect}, ${hi}) missing on disk`);
  }
  return used;
}

function gapError(index: number, expected: number, boundary: number): RaftLogCorruptError {
  return new RaftLogCorruptError(
    `raft log has a gap: found entry ${index} where ${expected} belongs (boundary ${boundary})`,
  );
}
