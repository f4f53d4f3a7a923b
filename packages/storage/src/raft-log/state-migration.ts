/**
 * Moves the raft log's state records out of the `raft` column family into `raftstate`
 * (the layout before session 8 kept them in `raft`, after the entries).
 *
 * Why: the HardState is rewritten by almost every Ready, and its key sorted after every
 * entry. So every file RocksDB flushed from `raft` spanned from its oldest entry to the
 * state keys, overlapped the files below it, and was rewritten by each compaction
 * instead of being moved down; with 1 MiB values `raft` wrote about 2.5x its input
 * (docs/performance.md, "Session 7"). With entries alone, `raft` is append-only but for
 * range deletes at its front.
 *
 * RaftLogStore.open and MetaStore.open call it first (whichever opens first moves
 * everything). The move is one synced write batch (puts into `raftstate`, deletes from `raft`), so a
 * crash leaves either layout, never a mix; opening again finishes it. Idempotent: with no
 * state key left in `raft` it reads one key and writes nothing. A Chainfire from before
 * the move refuses to open the result (RocksDB requires every column family to be
 * opened), rather than reading an empty log state.
 */
import type { Engine, WriteBatch } from "../engine.js";
import { ENTRY_TAG, RAFT_STATE_CF } from "./codec.js";
import { RaftLogIoError } from "./errors.js";

/** The first key after every entry key: tags above ENTRY_TAG are state records. */
const AFTER_ENTRIES = Buffer.from([ENTRY_TAG + 1]);

/**
 * Moves every non-entry key of `raft` into `raftstate`; returns how many moved. Throws
 * {@link RaftLogIoError} (with the RocksDB error as `cause`) when reading or writing fails,
 * as the log's other reads at open do.
 */
export function moveRaftStateKeys(engine: Engine): number {
  const moved: [Buffer, Buffer][] = [];
  let batch: WriteBatch | undefined;
  try {
    for (const [k, v] of engine.iterateSync("raft", { gte: AFTER_ENTRIES })) {
      moved.push([Buffer.from(k), Buffer.from(v)]);
    }
    if (moved.length === 0) return 0;
    batch = engine.batch();
    for (const [k, v] of moved) {
      batch.put(RAFT_STATE_CF, k, v);
      batch.del("raft", k);
    }
    engine.writeSync(batch, true);
  } catch (err) {
    throw new RaftLogIoError("cannot move the raft state records to raftstate", { cause: err });
  } finally {
    batch?.close();
  }
  return moved.length;
}
