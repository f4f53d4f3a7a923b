/** etcd's HashKV over the MVCC tables. */
import { crc32 } from "node:zlib";
import type { Engine } from "../engine.js";
import { StorageError } from "../errors.js";
import {
  compareBytes,
  decodeKey,
  decodeRevisionDesc,
  encodedKeyEnd,
  encodeKey,
  REVISION_BYTES,
} from "../keys.js";
import { isPut, recordMod, recordSub } from "./record.js";
import type { HashKVResult } from "./types.js";

/**
 * etcd HashKV: a CRC-32 over every version retained at `revision` (0: current) — the
 * versions above the compact revision plus, per key, the newest version at or below it
 * when that is a put — in key order, then revision order. Equal histories give equal
 * hashes whatever the progress of physical compaction. ErrCompacted if `revision` is
 * at or below the compact revision, ErrFutureRev above the current revision.
 * Reads a consistent snapshot on the thread pool (O(database)).
 */
export async function hashKV(
  engine: Engine,
  revision: bigint,
  currentRev: number,
  compactRev: number,
): Promise<HashKVResult> {
  if (revision > 0n && revision <= BigInt(compactRev)) throw new StorageError("ErrCompacted");
  if (revision > BigInt(currentRev)) throw new StorageError("ErrFutureRev");
  const rev = revision <= 0n ? currentRev : Number(revision);
  // Both iterators are created now: one consistent snapshot.
  const kvIt = engine.iterate("kv", { fillCache: false, pageSize: 1024 });
  const hIt = engine.iterate("history", { fillCache: false, pageSize: 1024 });
  let hash = 0;
  const revBuf = Buffer.allocUnsafe(REVISION_BYTES);
  const add = (key: Uint8Array, main: number, sub: number, rec: Buffer) => {
    revBuf.writeBigUInt64BE(BigInt(main), 0);
    revBuf.writeBigUInt64BE(BigInt(sub), 8);
    hash = crc32(key, hash);
    hash = crc32(revBuf, hash);
    hash = crc32(rec, hash);
  };
  // Per key: versions newest first (kv first, then history), decide retention.
  const hashKey = (key: Uint8Array, versions: [number, number, Buffer][]) => {
    let keptAtCompact = false;
    const kept: [number, number, Buffer][] = [];
    for (const v of versions) {
      const [main, , rec] = v;
      if (main > compactRev) {
        if (main <= rev) kept.push(v);
      } else if (!keptAtCompact) {
        keptAtCompact = true; // the newest version <= compactRev
        if (isPut(rec) && main <= rev) kept.push(v);
      }
    }
    for (let i = kept.length - 1; i >= 0; i--) add(key, kept[i]![0], kept[i]![1], kept[i]![2]);
  };
  const kvNext = () => kvIt.next();
  const hNext = () => hIt.next();
  let kvE = await kvNext();
  let hE = await hNext();
  try {
    while (!kvE.done || !hE.done) {
      const hKey = hE.done ? undefined : decodeKey(hE.value[0]).key;
      const c = kvE.done ? 1 : hKey === undefined ? -1 : compareBytes(kvE.value[0], hKey);
      const key = c <= 0 ? (kvE.value as [Buffer, Buffer])[0] : hKey!;
      const versions: [number, number, Buffer][] = [];
      if (c <= 0) {
        const rec = (kvE.value as [Buffer, Buffer])[1];
        versions.push([recordMod(rec), recordSub(rec), rec]);
        kvE = await kvNext();
      }
      if (c >= 0) {
        const enc = encodeKey(key);
        while (!hE.done && compareBytes(hE.value[0].subarray(0, enc.length), enc) === 0) {
          const end = encodedKeyEnd(hE.value[0]);
          if (end !== enc.length) break;
          const { main, sub } = decodeRevisionDesc(hE.value[0], end);
          versions.push([main, sub, hE.value[1]]);
          hE = await hNext();
        }
      }
      hashKey(key, versions);
    }
  } finally {
    await kvIt.return(undefined);
    await hIt.return(undefined);
  }
  return {
    hash: hash >>> 0,
    compactRevision: BigInt(compactRev),
    hashRevision: BigInt(rev),
    header: { revision: BigInt(currentRev) },
  };
}
