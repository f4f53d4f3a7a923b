/**
 * Unsynced loss (test mode, `CHAINFIRE_TEST_UNSYNCED_LOSS=1`, see failpoints.ts): makes a
 * failpoint crash lose what a power failure would, i.e. every write since the last fsync.
 *
 * kill -9 keeps what the process wrote into the page cache, so it never shows a write
 * acknowledged before its fsync. RocksDB appends every write to its WAL file (flushed to
 * the OS per write group), so the WAL's length when a sync is *requested* covers exactly
 * the writes made before the request; when that sync completes, that length is durable.
 * A crash truncates the live WAL to the last durable length (to 0 if the WAL was created
 * after it) and then exits.
 *
 * Why the live WAL only: RocksDB switches WALs when it flushes a memtable, and with more
 * than one column family it syncs the closed WAL before the flush, so a closed WAL is
 * durable. SST files are written and fsynced by RocksDB itself; they stay. The cut may
 * fall inside a record of the sync worker's own tiny write: RocksDB's default recovery
 * (point in time) drops a torn tail record, as after a real crash.
 */
import fs from "node:fs";
import path from "node:path";
import { onFailpointCrash } from "./failpoints.js";

interface WalMark {
  file: string;
  size: number;
}

/** One per open engine in unsynced-loss mode. */
export class UnsyncedLoss {
  readonly #dir: string;
  #durable: WalMark | null;
  readonly #unregister: () => void;

  constructor(dir: string) {
    this.#dir = dir;
    // What was there at open was recovered and is durable.
    this.#durable = this.mark();
    this.#unregister = onFailpointCrash(() => this.dropUnsynced());
  }

  /** The live WAL and its length now (null if there is none). */
  mark(): WalMark | null {
    const file = liveWal(this.#dir);
    if (file === null) return null;
    try {
      return { file, size: fs.statSync(path.join(this.#dir, file)).size };
    } catch {
      return null;
    }
  }

  /** A sync requested at `m` has completed. */
  synced(m: WalMark | null): void {
    if (m === null) return;
    const d = this.#durable;
    const newer =
      d === null || walNumber(m.file) > walNumber(d.file) || (m.file === d.file && m.size > d.size);
    if (newer) this.#durable = m;
  }

  /** Truncates the live WAL to what the last completed sync covered. Returns the bytes cut. */
  dropUnsynced(): number {
    const file = liveWal(this.#dir);
    if (file === null) return 0;
    const p = path.join(this.#dir, file);
    const size = fs.statSync(p).size;
    const d = this.#durable;
    const keep = d !== null && d.file === file ? Math.min(d.size, size) : 0;
    fs.truncateSync(p, keep);
    return size - keep;
  }

  close(): void {
    this.#unregister();
  }
}

function walNumber(file: string): number {
  return Number.parseInt(file, 10);
}

/** The newest `NNNNNN.log` in `dir`. */
function liveWal(dir: string): string | null {
  let best: string | null = null;
  for (const name of fs.readdirSync(dir)) {
    if (!/^\d+\.log$/.test(name)) continue;
    if (best === null || walNumber(name) > walNumber(best)) best = name;
  }
  return best;
}
