/**
 * Keys and values of the member metadata. No I/O.
 *
 * Column family `meta` (replicated state: identical on every member at the same applied
 * index, and copied by state snapshots):
 *
 * | key                   | value                                                 |
 * | --------------------- | ----------------------------------------------------- |
 * | "format"              | u32be store format version ({@link META_FORMAT_VERSION}) |
 * | "applied"             | u64be applied index, u64be term of that entry         |
 * | "confState"           | ConfState as applied (raft-log/codec.ts layout)       |
 * | "clusterId"           | u64be cluster id                                      |
 * | "member/" + u64be id  | Member (see {@link encodeMember})                     |
 * | "removed/" + u64be id | empty: a member removed from the cluster              |
 *
 * Column family `raftstate` (`raft` before session 8), tag byte 0x03 (local to this
 * member, never in a state snapshot):
 *
 * | key                   | value                                                 |
 * | --------------------- | ----------------------------------------------------- |
 * | 0x03 "memberId"       | u64be this member's id                                |
 */
import { ByteReader, ByteWriter, readId, writeId } from "../raft-log/binary.js";

/** The format version this code writes and reads. */
export const META_FORMAT_VERSION = 1;

export const FORMAT_KEY: Buffer = Buffer.from("format");
export const APPLIED_KEY: Buffer = Buffer.from("applied");
export const CONF_STATE_KEY: Buffer = Buffer.from("confState");
export const CLUSTER_ID_KEY: Buffer = Buffer.from("clusterId");
export const MEMBER_PREFIX: Buffer = Buffer.from("member/");
export const REMOVED_PREFIX: Buffer = Buffer.from("removed/");
/** In the `raft` column family: this member's own id. */
export const LOCAL_MEMBER_ID_KEY: Buffer = Buffer.concat([
  Buffer.from([0x03]),
  Buffer.from("memberId"),
]);

/** A cluster member, as etcd's membership.Member. */
export interface Member {
  id: bigint;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

/** The applied position: the last log entry whose effects are in the state machine. */
export interface AppliedPosition {
  index: number;
  term: number;
}

export function prefixedIdKey(prefix: Buffer, id: bigint): Buffer {
  const k = Buffer.allocUnsafe(prefix.length + 8);
  prefix.copy(k, 0);
  writeId(k, prefix.length, id);
  return k;
}

export function idOfPrefixedKey(prefix: Buffer, key: Uint8Array): bigint {
  return readId(key, prefix.length);
}

export function encodeU32(v: number): Buffer {
  return new ByteWriter(4).u32(v).finish();
}

export function decodeU32(v: Uint8Array): number {
  const r = new ByteReader(v, "u32");
  const n = r.u32();
  r.end();
  return n;
}

export function encodeIdValue(id: bigint): Buffer {
  return new ByteWriter(8).id(id).finish();
}

export function decodeIdValue(v: Uint8Array): bigint {
  const r = new ByteReader(v, "id");
  const id = r.id();
  r.end();
  return id;
}

/** Encodes (index, term) into `out` (16 bytes). */
export function encodeApplied(p: AppliedPosition): Buffer {
  return new ByteWriter(16).u64(p.index).u64(p.term).finish();
}

export function decodeApplied(v: Uint8Array): AppliedPosition {
  const r = new ByteReader(v, "applied position");
  const p = { index: r.u64(), term: r.u64() };
  r.end();
  return p;
}

/** u64 id, u8 isLearner, str name, strs peerURLs, strs clientURLs. */
export function encodeMember(m: Member): Buffer {
  return new ByteWriter(64)
    .id(m.id)
    .u8(m.isLearner ? 1 : 0)
    .str(m.name)
    .strs(m.peerURLs)
    .strs(m.clientURLs)
    .finish();
}

export function decodeMember(v: Uint8Array): Member {
  const r = new ByteReader(v, "member");
  const m: Member = {
    id: r.id(),
    isLearner: r.u8() === 1,
    name: r.str(),
    peerURLs: r.strs(),
    clientURLs: r.strs(),
  };
  r.end();
  return m;
}

export function cloneMember(m: Member): Member {
  return { ...m, peerURLs: [...m.peerURLs], clientURLs: [...m.clientURLs] };
}
