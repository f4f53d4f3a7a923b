/**
 * Producing a state snapshot: a consistent copy of everything a member's state machine
 * holds (the MVCC column families, meta, leases; not the raft log, which is local) as a
 * byte stream in the format of ./format.ts.
 *
 * Consistency. The binding offers no RocksDB Checkpoint and no explicit snapshots, but
 * every RocksDB iterator reads the implicit snapshot taken when it is created, and every
 * write to the database happens synchronously on this thread (Engine.write; the engine's
 * worker thread only fsyncs). So {@link createStateSnapshot} creates one iterator per
 * column family in a single synchronous step: all of them see the same cut, at one
 * applied index, however long the stream takes to drain and however many writes follow.
 * Pages are then read on the libuv thread pool, so streaming does not block the event
 * loop (a held iterator pins the memtables and SST files of its cut until it is done).
 * (A logical copy rather than hard-linked SST files: O(state) reads, no extra disk until
 * the receiver writes it. The engine's `checkpoint(dir)` uses the same idea for a local
 * copy.) The small families (meta, kvmeta) are read into memory at the cut, so the header
 * (applied index, term, revision, ConfState) comes from the same cut.
 */

import { emptyConfState } from "@chainfire/raft";
import type { ColumnFamilyName, Cursor, Engine, Entry as KvEntry } from "../engine.js";
import { COLUMN_FAMILIES } from "../engine.js";
import { APPLIED_KEY, CONF_STATE_KEY, decodeApplied } from "../meta/codec.js";
import { decodeConfState } from "../raft-log/codec.js";
import { SnapshotIoError } from "./errors.js";
import { SNAPSHOT_FORMAT_VERSION, SnapshotEncoder, type SnapshotHeader } from "./format.js";

/** Column families local to a member: the raft log and its state records. */
export const MEMBER_LOCAL_COLUMNS: ReadonlySet<string> = new Set(["raft", "raftstate"]);

/** Column families a state snapshot carries: all but {@link MEMBER_LOCAL_COLUMNS}. */
export const SNAPSHOT_COLUMNS: readonly ColumnFamilyName[] = COLUMN_FAMILIES.filter(
  (cf) => !MEMBER_LOCAL_COLUMNS.has(cf),
);

/** Families read fully into memory at the cut (small, needed for the header). */
const IN_MEMORY: ReadonlySet<ColumnFamilyName> = new Set(["meta", "kvmeta"]);

/** MVCC positions for the header, read from the `kvmeta` records at the cut. */
export type MvccPositionsReader = (kvmeta: readonly KvEntry[]) => {
  revision: bigint;
  compactRevision: bigint;
};

export interface StateSnapshotOptions {
  /** Target size of stream chunks. Default 1 MiB. */
  chunkBytes?: number;
  /**
   * Reads the MVCC revision and compact revision from the kvmeta records. Default:
   * {@link defaultMvccPositions} (the MvccStore layout).
   */
  mvccPositions?: MvccPositionsReader;
  /** Clock for the header's createdAtMs (tests). Default Date.now. */
  now?: () => number;
}

/** A snapshot in progress: the header is known at once; `stream` yields the bytes. */
export interface StateSnapshot {
  readonly header: SnapshotHeader;
  /**
   * The stream: MAGIC, header, data, END, SHA-256 trailer. Iterate once. Breaking out
   * early releases the iterators.
   */
  readonly stream: AsyncIterable<Uint8Array>;
  /** The SHA-256 (hex) of the stream, once it has been fully read. */
  readonly sha256: Promise<string>;
  /** Releases the iterators if the stream is not going to be read. Idempotent. */
  close(): void;
}

/**
 * Takes a consistent cut of the member's state now (synchronously) and returns its stream.
 * Writes may continue while the stream is read; they are not in it.
 */
export function createStateSnapshot(
  engine: Engine,
  opts: StateSnapshotOptions = {},
): StateSnapshot {
  const iterators = new Map<ColumnFamilyName, AsyncGenerator<KvEntry>>();
  const loaded = new Map<ColumnFamilyName, KvEntry[]>();
  const cursors: Cursor[] = [];
  try {
    // The cut: every native iterator is created in this one synchronous step (an
    // Engine.iterate call creates its iterator at once; its pages are read later, on the
    // thread pool, so a large stream does not block the event loop).
    for (const cf of SNAPSHOT_COLUMNS) {
      if (IN_MEMORY.has(cf)) cursors.push(engine.cursor(cf, { fillCache: false }));
      else iterators.set(cf, engine.iterate(cf, { fillCache: false, pageSize: 1024 }));
    }
    let k = 0;
    for (const cf of SNAPSHOT_COLUMNS) {
      if (!IN_MEMORY.has(cf)) continue;
      const c = cursors[k++];
      const rows: KvEntry[] = [];
      for (let e = c.next(); e !== undefined; e = c.next()) rows.push(e);
      loaded.set(cf, rows);
    }
  } catch (err) {
    for (const it of iterators.values()) void it.return(undefined);
    throw new SnapshotIoError("cannot take a state snapshot", { cause: err });
  } finally {
    for (const c of cursors) c.close();
  }
  const meta = loaded.get("meta") ?? [];
  const applied = find(meta, APPLIED_KEY);
  const cs = find(meta, CONF_STATE_KEY);
  const { index, term } = applied ? decodeApplied(applied) : { index: 0, term: 0 };
  const positions = (opts.mvccPositions ?? defaultMvccPositions)(loaded.get("kvmeta") ?? []);
  const header: SnapshotHeader = {
    formatVersion: SNAPSHOT_FORMAT_VERSION,
    appliedIndex: index,
    appliedTerm: term,
    revision: positions.revision,
    compactRevision: positions.compactRevision,
    confState: cs ? decodeConfState(cs) : emptyConfState(),
    createdAtMs: (opts.now ?? Date.now)(),
    columns: [...SNAPSHOT_COLUMNS],
  };

  let resolveSha!: (s: string) => void;
  let rejectSha!: (e: unknown) => void;
  const sha256 = new Promise<string>((res, rej) => {
    resolveSha = res;
    rejectSha = rej;
  });
  sha256.catch(() => {});
  let started = false;
  const close = () => {
    for (const it of iterators.values()) void it.return(undefined).catch(() => {});
    iterators.clear();
  };

  async function* generate(): AsyncGenerator<Uint8Array> {
    const enc = new SnapshotEncoder(opts.chunkBytes);
    try {
      yield enc.header(header);
      for (const cf of SNAPSHOT_COLUMNS) {
        yield* enc.column(cf);
        const rows = loaded.get(cf);
        if (rows) {
          for (const [k, v] of rows) yield* enc.pair(k, v);
          continue;
        }
        const it = iterators.get(cf)!;
        iterators.delete(cf);
        try {
          for await (const [k, v] of it) {
            const out = enc.pair(k, v);
            if (out.length > 0) yield* out;
          }
        } catch (err) {
          throw new SnapshotIoError(`cannot read column family ${cf} for a snapshot`, {
            cause: err,
          });
        }
      }
      const tail = enc.end();
      yield* tail;
      resolveSha(Buffer.from(tail[tail.length - 1]).toString("hex"));
    } catch (err) {
      rejectSha(err);
      throw err;
    } finally {
      close();
    }
  }

  return {
    header,
    stream: {
      [Symbol.asyncIterator]() {
        if (started) throw new Error("a state snapshot stream can be read only once");
        started = true;
        return generate();
      },
    },
    sha256,
    close() {
      close();
      if (!started) rejectSha(new Error("state snapshot closed before it was read"));
    },
  };
}

function find(rows: readonly KvEntry[], key: Buffer): Buffer | undefined {
  for (const [k, v] of rows) if (k.equals(key)) return v;
  return undefined;
}

/**
 * The MVCC positions from the MvccStore's kvmeta records (mvcc/layout.ts): "rev" and
 * "compact", int64 big-endian; absent means revision 1 and compact revision -1 (never
 * compacted), the store's own defaults.
 */
export function defaultMvccPositions(kvmeta: readonly KvEntry[]): {
  revision: bigint;
  compactRevision: bigint;
} {
  const rev = find(kvmeta, MVCC_REV_KEY);
  const compact = find(kvmeta, MVCC_COMPACT_KEY);
  return {
    revision: rev && rev.length === 8 ? rev.readBigInt64BE(0) : 1n,
    compactRevision: compact && compact.length === 8 ? compact.readBigInt64BE(0) : -1n,
  };
}

const MVCC_REV_KEY = Buffer.from("rev");
const MVCC_COMPACT_KEY = Buffer.from("compact");
