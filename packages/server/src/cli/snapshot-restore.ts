/**
 * `chainfire snapshot restore <file> [--name --data-dir --initial-cluster
 * --initial-cluster-token --initial-advertise-peer-urls]`: like `etcdctl snapshot
 * restore`, builds a new data dir whose state is the snapshot's (every revision kept, the
 * MVCC history, leases) and whose membership is the given --initial-cluster, under a new
 * cluster id derived from --initial-cluster-token. Run it once per member with the same
 * file, --initial-cluster and token (and each member's own --name / peer URLs), then
 * start the members on those data dirs.
 *
 * Accepts the state snapshots `etcdctl snapshot save` (or the SDK) fetched from Chainfire,
 * bare or etcdctl-wrapped; the checksums are always verified. etcd's own bbolt snapshots
 * are not readable (a different storage format).
 *
 * How: the snapshot's data is loaded into a fresh database; then, as a new cluster's
 * bootstrap does (bootstrap.ts), the membership is replaced and the raft log is started
 * after a snapshot at the snapshot's applied index and term, whose ConfState has the new
 * members as voters. Every member restored this way starts from the same state and log.
 */
import { createReadStream, existsSync, readdirSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { emptyConfState } from "@chainfire/raft";
import {
  type ColumnFamilyName,
  decodeSnapshot,
  Engine,
  MEMBER_LOCAL_COLUMNS,
  type SnapshotHeader,
} from "@chainfire/storage";
import { closeStorage, dbDirOf, initialMembers, openStorage } from "../bootstrap.js";
import { ConfigError, resolveMemberConfig } from "../config.js";
import { computeClusterId, formatId } from "../ids.js";
import { silentLogger } from "../log.js";

/** The flags `snapshot restore` takes (besides the file), as etcdctl names them. */
export const RESTORE_FLAGS = [
  "name",
  "data-dir",
  "initial-cluster",
  "initial-cluster-token",
  "initial-advertise-peer-urls",
] as const;

/** What {@link restoreSnapshot} did. */
export interface RestoreResult {
  dataDir: string;
  memberId: bigint;
  clusterId: bigint;
  header: SnapshotHeader;
  pairCount: number;
}

/** Thrown for anything the user can fix (bad flags, existing data dir, unreadable file). */
export class RestoreError extends Error {
  override readonly name = "RestoreError";
}

/**
 * Restores `file` into a new data dir described by `argv` (the RESTORE_FLAGS in etcd
 * form). Nothing is left behind on failure.
 */
export async function restoreSnapshot(
  file: string,
  argv: readonly string[],
  cwd = process.cwd(),
): Promise<RestoreResult> {
  let options: ReturnType<typeof resolveMemberConfig>["options"];
  try {
    options = resolveMemberConfig({ argv, env: {}, cwd }).options;
  } catch (err) {
    if (err instanceof ConfigError) throw new RestoreError(err.message);
    throw err;
  }
  const { dataDir } = options;
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) {
    throw new RestoreError(`data-dir "${dataDir}" exists and is not empty`);
  }
  if (!existsSync(file)) throw new RestoreError(`snapshot file "${file}" does not exist`);
  const members = initialMembers(options);
  const self = members.find((m) => m.name === options.name)!;
  const clusterId = computeClusterId(members.map((m) => m.id));
  const dbDir = dbDirOf(dataDir);
  const createdDataDir = !existsSync(dataDir);
  try {
    await mkdir(dirname(dbDir), { recursive: true });
    const { header, pairCount } = await loadState(file, dbDir);
    const storage = await openStorage(dbDir, silentLogger());
    try {
      const { meta, log, engine } = storage;
      if (meta.appliedIndex !== header.appliedIndex) {
        throw new RestoreError(
          `snapshot is inconsistent: header applied index ${header.appliedIndex}, ` +
            `state ${meta.appliedIndex}`,
        );
      }
      const confState = { ...emptyConfState(), voters: members.map((m) => m.id) };
      const batch = engine.batch();
      try {
        for (const old of meta.members()) meta.removeMember(batch, old.id);
        meta.setClusterId(batch, clusterId);
        meta.setMemberId(batch, self.id);
        for (const m of members) meta.putMember(batch, m);
        meta.setConfState(batch, confState);
        log.save(batch, {
          snapshot: {
            metadata: { index: header.appliedIndex, term: header.appliedTerm, confState },
            data: new Uint8Array(0),
          },
          hardState: { term: header.appliedTerm, vote: 0n, commit: header.appliedIndex },
        });
        await engine.write(batch, { sync: true });
        log.commit(batch);
        meta.commit(batch);
      } finally {
        batch.close();
      }
    } finally {
      await closeStorage(storage);
    }
    return { dataDir, memberId: self.id, clusterId, header, pairCount };
  } catch (err) {
    await rm(createdDataDir ? dataDir : dirname(dbDir), { recursive: true, force: true });
    if (err instanceof RestoreError) throw err;
    throw new RestoreError(`cannot restore "${file}": ${(err as Error).message}`, { cause: err });
  }
}

/** Writes the snapshot's key-value pairs (every family but the local raft log) into dbDir. */
async function loadState(
  file: string,
  dbDir: string,
): Promise<{ header: SnapshotHeader; pairCount: number }> {
  const engine = await Engine.open(dbDir);
  try {
    const batch = engine.batch();
    let header: SnapshotHeader | undefined;
    let column: ColumnFamilyName | undefined;
    let pairCount = -1;
    try {
      for await (const rec of decodeSnapshot(createReadStream(file))) {
        if (rec.kind === "header") header = rec.header;
        else if (rec.kind === "column") {
          if (MEMBER_LOCAL_COLUMNS.has(rec.name)) {
            throw new RestoreError("snapshot carries a raft log");
          }
          column = rec.name as ColumnFamilyName;
        } else if (rec.kind === "pairs") {
          for (let i = 0; i < rec.keys.length; i++)
            batch.put(column!, rec.keys[i]!, rec.values[i]!);
          if (batch.byteLength >= 4 << 20) await engine.write(batch, { sync: false });
        } else pairCount = rec.pairCount;
      }
      if (header === undefined || pairCount < 0)
        throw new RestoreError("snapshot stream incomplete");
      await engine.write(batch, { sync: true });
    } finally {
      batch.close();
    }
    return { header, pairCount };
  } finally {
    await engine.close();
  }
}

/** The human summary printed after a restore. */
export function describeRestore(r: RestoreResult): string {
  return [
    `restored snapshot into ${r.dataDir}`,
    `  revision ${r.header.revision}, compacted at ${r.header.compactRevision}, ` +
      `applied index ${r.header.appliedIndex} (term ${r.header.appliedTerm}), ${r.pairCount} records`,
    `  cluster ${formatId(r.clusterId)}, this member ${formatId(r.memberId)}`,
  ].join("\n");
}
