/**
 * Restoring a member's database from a state snapshot stream, atomically.
 *
 * 1. stage: the stream is written into a new database at `<dbDir>.restoring` while its
 *    SHA-256 is checked; the raft column family is initialised so the member restarts at
 *    the snapshot (log boundary and snapshot record at the header's applied index and
 *    term, ConfState from the header, a HardState whose commit is that index, and this
 *    member's own id). The database is closed (its WAL synced) and the directory renamed
 *    to `<dbDir>.restored`: a complete, verified copy. On any error (checksum mismatch,
 *    malformed stream, I/O) the staging directory is deleted and `dbDir` is untouched.
 * 2. install (the live database must be closed): `dbDir` → `<dbDir>.old`,
 *    `<dbDir>.restored` → `dbDir`, then `<dbDir>.old` is deleted; the parent directory is
 *    fsynced after each rename.
 *
 * A crash at any point leaves a state {@link recoverDbDir} resolves before the engine
 * opens: a `.restoring` directory is incomplete and deleted; a `.restored` one is complete
 * and is installed (finishing step 2); an `.old` one is deleted once `dbDir` exists, or
 * put back if it does not.
 */
import fs from "node:fs";
import path from "node:path";
import type { HardState } from "@chainfire/raft";
import { type ColumnFamilyName, Engine, type EngineOptions } from "../engine.js";
import { failpoint, failpointsActive } from "../failpoints.js";
import { encodeIdValue, LOCAL_MEMBER_ID_KEY } from "../meta/codec.js";
import {
  BOUNDARY_KEY,
  encodeBoundary,
  encodeHardState,
  encodeSnapshotRecord,
  HARD_STATE_KEY,
  RAFT_STATE_CF,
  SNAPSHOT_KEY,
} from "../raft-log/codec.js";
import { SnapshotFormatError, SnapshotIoError } from "./errors.js";
import { decodeSnapshot, type SnapshotHeader } from "./format.js";
import { SNAPSHOT_COLUMNS } from "./state-snapshot.js";

export interface RestoreOptions {
  /**
   * The member's HardState before the restore (its term and vote survive when not older
   * than the snapshot's term). The commit index becomes the snapshot's applied index.
   */
  hardState?: HardState;
  /** This member's id, written to the restored database (local, not in the snapshot). */
  memberId?: bigint;
  /** The raft Snapshot.data to record with the snapshot metadata. Default empty. */
  raftSnapshotData?: Uint8Array;
  /** Engine options for the staging database. */
  engineOptions?: EngineOptions;
  /** Bytes per write while loading. Default 4 MiB. */
  batchBytes?: number;
}

/** A verified snapshot written next to the database, ready to {@link install}. */
export interface StagedSnapshot {
  readonly header: SnapshotHeader;
  /** SHA-256 (hex) of the stream, as verified. */
  readonly sha256: string;
  /** Number of key/value pairs restored. */
  readonly pairCount: number;
  /** The directory holding the staged database (`<dbDir>.restored`). */
  readonly dir: string;
  /** Swaps the staged database in as `dbDir`. The engine on dbDir must be closed. */
  install(): Promise<void>;
  /** Deletes the staged database instead. */
  discard(): Promise<void>;
}

const ALLOWED: ReadonlySet<string> = new Set(SNAPSHOT_COLUMNS);

/** Staging directory names for a database directory. */
export function restorePaths(dbDir: string): { restoring: string; restored: string; old: string } {
  const d = path.resolve(dbDir);
  return { restoring: `${d}.restoring`, restored: `${d}.restored`, old: `${d}.old` };
}

/**
 * Writes the snapshot `source` into a staging database next to `dbDir` and verifies it
 * (step 1 in the module comment). Throws SnapshotChecksumError / SnapshotFormatError /
 * SnapshotIoError, in which case nothing changed.
 */
export async function stageStateSnapshot(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  dbDir: string,
  opts: RestoreOptions = {},
): Promise<StagedSnapshot> {
  const paths = restorePaths(dbDir);
  await fs.promises.rm(paths.restoring, { recursive: true, force: true });
  await fs.promises.rm(paths.restored, { recursive: true, force: true });
  let engine: Engine | undefined;
  let header: SnapshotHeader | undefined;
  let sha256 = "";
  let pairCount = 0;
  try {
    try {
      engine = await Engine.open(paths.restoring, { ...opts.engineOptions, syncMode: "inline" });
    } catch (err) {
      throw new SnapshotIoError(`cannot create ${paths.restoring}`, { cause: err });
    }
    const batch = engine.batch();
    const limit = opts.batchBytes ?? 4 << 20;
    let column: ColumnFamilyName | undefined;
    for await (const rec of decodeSnapshot(source)) {
      switch (rec.kind) {
        case "header":
          header = rec.header;
          break;
        case "column":
          if (!ALLOWED.has(rec.name)) {
            throw new SnapshotFormatError(`snapshot carries unknown column family ${rec.name}`);
          }
          column = rec.name as ColumnFamilyName;
          break;
        case "pairs":
          for (let i = 0; i < rec.keys.length; i++) {
            batch.put(column!, rec.keys[i], rec.values[i]);
          }
          if (batch.byteLength >= limit) writeOrThrow(engine, batch, false);
          break;
        case "end":
          sha256 = rec.sha256;
          pairCount = rec.pairCount;
          break;
      }
    }
    if (!header || sha256 === "") throw new SnapshotFormatError("snapshot stream incomplete");
    writeRaftState(batch, header, opts);
    writeOrThrow(engine, batch, true);
    batch.close();
    const e = engine;
    engine = undefined;
    await e.close();
    await fs.promises.rename(paths.restoring, paths.restored);
    await fsyncDir(path.dirname(paths.restored));
  } catch (err) {
    await engine?.close().catch(() => {});
    await fs.promises.rm(paths.restoring, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
  const h = header;
  let settled = false;
  return {
    header: h,
    sha256,
    pairCount,
    dir: paths.restored,
    async install() {
      if (settled) throw new Error("staged snapshot already installed or discarded");
      settled = true;
      await installRestored(dbDir);
    },
    async discard() {
      if (settled) return;
      settled = true;
      await fs.promises.rm(paths.restored, { recursive: true, force: true });
    },
  };
}

/**
 * Restores `dbDir` from a snapshot stream: {@link stageStateSnapshot} then install. The
 * database at dbDir must not be open. Returns the snapshot's header.
 */
export async function restoreStateSnapshot(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  dbDir: string,
  opts: RestoreOptions = {},
): Promise<SnapshotHeader> {
  const staged = await stageStateSnapshot(source, dbDir, opts);
  await staged.install();
  return staged.header;
}

/**
 * Finishes or rolls back a restore interrupted by a crash (see the module comment). Call
 * before opening the engine on `dbDir`. Returns what it did, for the log.
 */
export async function recoverDbDir(
  dbDir: string,
): Promise<"none" | "installed" | "rolled-back" | "cleaned"> {
  const paths = restorePaths(dbDir);
  const dir = path.resolve(dbDir);
  let did: "none" | "installed" | "rolled-back" | "cleaned" = "none";
  if (exists(paths.restoring)) {
    await fs.promises.rm(paths.restoring, { recursive: true, force: true });
    did = "cleaned";
  }
  if (exists(paths.restored)) {
    await installRestored(dbDir);
    return "installed";
  }
  if (exists(paths.old)) {
    if (exists(dir)) {
      await fs.promises.rm(paths.old, { recursive: true, force: true });
      did = "cleaned";
    } else {
      await fs.promises.rename(paths.old, dir);
      await fsyncDir(path.dirname(dir));
      did = "rolled-back";
    }
  }
  return did;
}

async function installRestored(dbDir: string): Promise<void> {
  const paths = restorePaths(dbDir);
  const dir = path.resolve(dbDir);
  const parent = path.dirname(dir);
  try {
    if (exists(dir)) {
      await fs.promises.rm(paths.old, { recursive: true, force: true });
      await fs.promises.rename(dir, paths.old);
      await fsyncDir(parent);
      if (failpointsActive) failpoint("snapshotInstallMidway");
    }
    await fs.promises.rename(paths.restored, dir);
    await fsyncDir(parent);
    await fs.promises.rm(paths.old, { recursive: true, force: true });
  } catch (err) {
    throw new SnapshotIoError(`cannot install the restored database at ${dir}`, { cause: err });
  }
}

function writeRaftState(
  batch: ReturnType<Engine["batch"]>,
  h: SnapshotHeader,
  opts: RestoreOptions,
): void {
  const prev = opts.hardState;
  const keep = prev !== undefined && prev.term >= h.appliedTerm;
  const hs: HardState = {
    term: keep ? prev.term : h.appliedTerm,
    vote: keep ? prev.vote : 0n,
    commit: h.appliedIndex,
  };
  batch.put(RAFT_STATE_CF, HARD_STATE_KEY, encodeHardState(hs));
  batch.put(
    RAFT_STATE_CF,
    BOUNDARY_KEY,
    encodeBoundary({ index: h.appliedIndex, term: h.appliedTerm }),
  );
  batch.put(
    RAFT_STATE_CF,
    SNAPSHOT_KEY,
    encodeSnapshotRecord(
      { index: h.appliedIndex, term: h.appliedTerm, confState: h.confState },
      opts.raftSnapshotData ?? new Uint8Array(0),
    ),
  );
  if (opts.memberId !== undefined) {
    batch.put(RAFT_STATE_CF, LOCAL_MEMBER_ID_KEY, encodeIdValue(opts.memberId));
  }
}

function writeOrThrow(engine: Engine, batch: ReturnType<Engine["batch"]>, sync: boolean): void {
  try {
    engine.writeSync(batch, sync);
  } catch (err) {
    throw new SnapshotIoError("cannot write the restored database", { cause: err });
  }
}

function exists(p: string): boolean {
  return fs.existsSync(p);
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.promises.open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
