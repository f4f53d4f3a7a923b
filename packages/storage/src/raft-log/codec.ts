/**
 * The on-disk encoding of the raft log: its entries in the column family `raft`, its
 * state records (tag 0x02) and the meta store's member-local ones (tag 0x03) in
 * `raftstate`, so that `raft` holds entries only (state-migration.ts). No I/O.
 *
 * Keys (one byte tag, then a fixed-width body, so byte order is index order):
 *
 * | key                      | value                                                   |
 * | ------------------------ | ------------------------------------------------------- |
 * | `0x01` + u64be index     | entry: u8 type, u64be term, data bytes (rest of value)  |
 * | `0x02` "h"               | HardState: u64be term, u64be vote, u64be commit         |
 * | `0x02` "b"               | log boundary: u64be index, u64be term (the entry at     |
 * |                          | firstIndex-1, compacted or covered by the snapshot)     |
 * | `0x02` "s"               | snapshot: u64be index, u64be term, ConfState, data      |
 * | `0x02` "t"               | term runs: u32be n, then n × (u64be first index, u64be  |
 * |                          | term); the first run starts at or before the boundary   |
 * | `0x03` ...               | member-local records of the meta store (meta/codec.ts)  |
 *
 * ConfState: four id lists (u32 count, then u64be ids): voters, learners,
 * votersOutgoing, learnersNext; then u8 autoLeave.
 *
 * The entry value is 9 header bytes followed by the data, so the encoder is one
 * allocation-free copy into a scratch buffer and the decoder is a view (no copy).
 */
import type { ConfState, Entry, EntryType, HardState, SnapshotMetadata } from "@chainfire/raft";
import type { ColumnFamilyName } from "../engine.js";
import { ByteReader, ByteWriter, CorruptRecordError, readU64, writeU64 } from "./binary.js";

/** The column family of the state records (every key below but the entries'). */
export const RAFT_STATE_CF: ColumnFamilyName = "raftstate";

/** Tag byte of entry keys. */
export const ENTRY_TAG = 0x01;
/** Tag byte of the fixed state keys. */
export const STATE_TAG = 0x02;

/** The key of the HardState. */
export const HARD_STATE_KEY: Buffer = Buffer.from([STATE_TAG, 0x68]); // "h"
/** The key of the log boundary (the entry before firstIndex). */
export const BOUNDARY_KEY: Buffer = Buffer.from([STATE_TAG, 0x62]); // "b"
/** The key of the latest snapshot's metadata and data. */
export const SNAPSHOT_KEY: Buffer = Buffer.from([STATE_TAG, 0x73]); // "s"

/** The key of the persisted term runs (see TermIndex). */
export const TERM_RUNS_KEY: Buffer = Buffer.from([STATE_TAG, 0x74]); // "t"

/** Bytes of an entry key. */
export const ENTRY_KEY_SIZE = 9;
/** Bytes of the entry value header (type + term). */
export const ENTRY_HEADER_SIZE = 9;

/** A fresh 9-byte key for the entry at `index`. */
export function entryKey(index: number): Buffer {
  const k = Buffer.allocUnsafe(ENTRY_KEY_SIZE);
  k[0] = ENTRY_TAG;
  writeU64(k, 1, index);
  return k;
}

/** Writes the key of `index` into `out` (9 bytes); returns `out`. */
export function entryKeyInto(out: Buffer, index: number): Buffer {
  out[0] = ENTRY_TAG;
  writeU64(out, 1, index);
  return out;
}

/** The index in an entry key. */
export function decodeEntryKey(key: Uint8Array): number {
  if (key.length !== ENTRY_KEY_SIZE || key[0] !== ENTRY_TAG) {
    throw new CorruptRecordError("not a raft entry key");
  }
  return readU64(key, 1);
}

/** Encodes an entry value into `scratch` if it fits, else into a new buffer. */
export function encodeEntryValue(e: Entry, scratch: Buffer): Buffer {
  const size = ENTRY_HEADER_SIZE + e.data.length;
  const out = size <= scratch.length ? scratch.subarray(0, size) : Buffer.allocUnsafe(size);
  out[0] = e.type;
  writeU64(out, 1, e.term);
  out.set(e.data, ENTRY_HEADER_SIZE);
  return out;
}

/** Decodes an entry value. `data` is a view into `value`, not a copy. */
export function decodeEntryValue(index: number, value: Uint8Array): Entry {
  if (value.length < ENTRY_HEADER_SIZE) {
    throw new CorruptRecordError(`raft entry ${index}: value of ${value.length} bytes`);
  }
  return {
    index,
    type: value[0] as EntryType,
    term: readU64(value, 1),
    data: value.subarray(ENTRY_HEADER_SIZE),
  };
}

/** The term stored in an entry value, without decoding the rest. */
export function entryValueTerm(value: Uint8Array): number {
  return readU64(value, 1);
}

export function encodeHardState(hs: HardState): Buffer {
  return new ByteWriter(24).u64(hs.term).id(hs.vote).u64(hs.commit).finish();
}

export function decodeHardState(v: Uint8Array): HardState {
  const r = new ByteReader(v, "HardState");
  const hs = { term: r.u64(), vote: r.id(), commit: r.u64() };
  r.end();
  return hs;
}

/** The log boundary: the last entry no longer in the log (only its index and term). */
export interface LogBoundary {
  index: number;
  term: number;
}

export function encodeBoundary(b: LogBoundary): Buffer {
  return new ByteWriter(16).u64(b.index).u64(b.term).finish();
}

export function decodeBoundary(v: Uint8Array): LogBoundary {
  const r = new ByteReader(v, "log boundary");
  const b = { index: r.u64(), term: r.u64() };
  r.end();
  return b;
}

export function encodeTermRuns(runs: readonly (readonly [number, number])[]): Buffer {
  const w = new ByteWriter(4 + runs.length * 16).u32(runs.length);
  for (const [start, term] of runs) w.u64(start).u64(term);
  return w.finish();
}

export function decodeTermRuns(v: Uint8Array): [number, number][] {
  const r = new ByteReader(v, "term runs");
  const n = r.u32();
  const out: [number, number][] = [];
  for (let i = 0; i < n; i++) out.push([r.u64(), r.u64()]);
  r.end();
  return out;
}

/** Writes a ConfState into `w` (see the module comment for the layout). */
export function writeConfState(w: ByteWriter, cs: ConfState): ByteWriter {
  return w
    .ids(cs.voters)
    .ids(cs.learners)
    .ids(cs.votersOutgoing)
    .ids(cs.learnersNext)
    .u8(cs.autoLeave ? 1 : 0);
}

export function readConfState(r: ByteReader): ConfState {
  return {
    voters: r.ids(),
    learners: r.ids(),
    votersOutgoing: r.ids(),
    learnersNext: r.ids(),
    autoLeave: r.u8() === 1,
  };
}

export function encodeConfState(cs: ConfState): Buffer {
  return writeConfState(new ByteWriter(64), cs).finish();
}

export function decodeConfState(v: Uint8Array): ConfState {
  const r = new ByteReader(v, "ConfState");
  const cs = readConfState(r);
  r.end();
  return cs;
}

export function encodeSnapshotRecord(meta: SnapshotMetadata, data: Uint8Array): Buffer {
  const w = new ByteWriter(64 + data.length).u64(meta.index).u64(meta.term);
  return writeConfState(w, meta.confState).bytes(data).finish();
}

export function decodeSnapshotRecord(v: Uint8Array): {
  metadata: SnapshotMetadata;
  data: Uint8Array;
} {
  const r = new ByteReader(v, "snapshot record");
  const index = r.u64();
  const term = r.u64();
  const confState = readConfState(r);
  const data = r.bytes();
  r.end();
  return { metadata: { index, term, confState }, data };
}

/** A deep copy of a ConfState (callers must not share arrays with stored state). */
export function cloneConfState(cs: ConfState): ConfState {
  return {
    voters: [...cs.voters],
    learners: [...cs.learners],
    votersOutgoing: [...cs.votersOutgoing],
    learnersNext: [...cs.learnersNext],
    autoLeave: cs.autoLeave,
  };
}
