/**
 * The Chainfire state-snapshot stream format, version 1. Bytes in, records out (and back);
 * no I/O.
 *
 * ```
 * stream  = MAGIC frame* TRAILER
 * MAGIC   = 89 43 46 53 4e 41 50 0a            ("\x89CFSNAP\n", 8 bytes)
 * frame   = kind:u8 length:u32be crc:u32be payload[length]   (crc: CRC-32 of the payload)
 * TRAILER = SHA-256 (32 bytes) of every byte before it (MAGIC through the END frame)
 *
 * kind 1 HEADER  (exactly one, first)
 *   u32 formatVersion (=1)
 *   u64 appliedIndex, u64 appliedTerm       the raft position the state reflects
 *   i64 revision, i64 compactRevision       MVCC positions (compactRevision -1: never)
 *   ConfState                               four id lists + autoLeave (raft-log/codec.ts)
 *   u64 createdAtMs
 *   u32 n, then n length-prefixed UTF-8 column-family names, in stream order
 * kind 2 COLUMN  str name: the PAIRS frames that follow belong to this column family
 * kind 3 PAIRS   repeated { u32 keyLength, key, u32 valueLength, value } to payload end
 * kind 4 END     u64 pairCount, u64 payloadBytes (sum of key and value lengths)
 * ```
 *
 * Every integer is big-endian; strings and byte strings are u32-length-prefixed. The
 * writer emits chunks of about `chunkBytes` (one PAIRS frame per chunk); a single pair
 * larger than that gets a frame of its own. The per-frame CRC-32 lets a reader reject a
 * damaged frame before using any of it (the SHA-256 trailer then covers the whole stream,
 * including order, truncation and frames dropped whole); frames are at most
 * {@link MAX_FRAME_BYTES}.
 *
 * Wrapping for etcdctl (`Maintenance.Snapshot` consumers such as `etcdctl snapshot save`):
 * append zero bytes until the length is a multiple of 512, then the SHA-256 of everything
 * before it (the stream plus the padding). See {@link wrapForEtcdctl}. The reader accepts
 * both the bare stream and the wrapped one (it verifies the outer checksum too).
 */
import { createHash, type Hash } from "node:crypto";
import { crc32 } from "node:zlib";
import type { ConfState } from "@chainfire/raft";
import { ByteReader, ByteWriter, CorruptRecordError } from "../raft-log/binary.js";
import { readConfState, writeConfState } from "../raft-log/codec.js";
import { SnapshotChecksumError, SnapshotFormatError } from "./errors.js";

export const SNAPSHOT_MAGIC: Buffer = Buffer.from([0x89, 0x43, 0x46, 0x53, 0x4e, 0x41, 0x50, 0x0a]);
export const SNAPSHOT_FORMAT_VERSION = 1;
export const SHA256_SIZE = 32;
/** etcdctl requires (stream length % 512) === 32: a padded body plus its SHA-256. */
export const ETCD_SNAPSHOT_ALIGN = 512;

/** Frame kinds. */
export const FrameKind = { Header: 1, Column: 2, Pairs: 3, End: 4 } as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

const FRAME_HEAD = 9;
/** The largest frame a reader accepts (a corrupt length must not make it buffer GiBs). */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024;

/** The first record of a snapshot stream. */
export interface SnapshotHeader {
  formatVersion: number;
  /** The applied index the state reflects (raft snapshot metadata index). */
  appliedIndex: number;
  /** The term of the entry at appliedIndex. */
  appliedTerm: number;
  /** The MVCC store's current revision at appliedIndex. */
  revision: bigint;
  /** The MVCC store's compact revision at appliedIndex (-1: never compacted). */
  compactRevision: bigint;
  /** The membership as applied at appliedIndex. */
  confState: ConfState;
  createdAtMs: number;
  /** Column families in the order their data follows. */
  columns: string[];
}

export function encodeHeader(h: SnapshotHeader): Buffer {
  const w = new ByteWriter(128)
    .u32(h.formatVersion)
    .u64(h.appliedIndex)
    .u64(h.appliedTerm)
    .id(h.revision)
    .id(h.compactRevision);
  writeConfState(w, h.confState);
  return w.u64(h.createdAtMs).strs(h.columns).finish();
}

export function decodeHeader(payload: Uint8Array): SnapshotHeader {
  const r = new ByteReader(payload, "snapshot header");
  const formatVersion = r.u32();
  if (formatVersion !== SNAPSHOT_FORMAT_VERSION) {
    throw new SnapshotFormatError(`unsupported snapshot format version ${formatVersion}`);
  }
  const h: SnapshotHeader = {
    formatVersion,
    appliedIndex: r.u64(),
    appliedTerm: r.u64(),
    revision: BigInt.asIntN(64, r.id()),
    compactRevision: BigInt.asIntN(64, r.id()),
    confState: readConfState(r),
    createdAtMs: r.u64(),
    columns: r.strs(),
  };
  r.end();
  return h;
}

/**
 * Builds a snapshot stream chunk by chunk. Feed `header`, then per column `column(name)`
 * and `pair(k, v)`s; `end()` returns the last chunks (END frame and trailer). Chunks come
 * back from `pair` whenever one is full. The SHA-256 is computed as bytes are emitted.
 */
export class SnapshotEncoder {
  private readonly hash: Hash = createHash("sha256");
  private pairs: Buffer;
  private pairsLen = FRAME_HEAD;
  private pairCount = 0;
  private payloadBytes = 0;
  private ended = false;

  constructor(private readonly chunkBytes = 1 << 20) {
    this.pairs = Buffer.allocUnsafe(chunkBytes + FRAME_HEAD);
  }

  /** The magic and the header frame. */
  header(h: SnapshotHeader): Buffer {
    return this.emit(Buffer.concat([SNAPSHOT_MAGIC, frame(FrameKind.Header, encodeHeader(h))]));
  }

  /** Starts a column family: returns pending pairs (if any) and the COLUMN frame. */
  column(name: string): Buffer[] {
    const out = this.flushPairs();
    out.push(this.emit(frame(FrameKind.Column, new ByteWriter(32).str(name).finish())));
    return out;
  }

  /** Adds a pair; returns full chunks ready to send (usually none). */
  pair(key: Uint8Array, value: Uint8Array): Buffer[] {
    const size = 8 + key.length + value.length;
    this.pairCount++;
    this.payloadBytes += key.length + value.length;
    let out: Buffer[] = NONE;
    if (this.pairsLen > FRAME_HEAD && this.pairsLen + size > this.pairs.length) {
      out = this.flushPairs();
    }
    if (FRAME_HEAD + size > this.pairs.length) {
      // A pair larger than a chunk travels in a frame of its own.
      const big = Buffer.allocUnsafe(FRAME_HEAD + size);
      putPair(big, FRAME_HEAD, key, value);
      sealFrame(big, FrameKind.Pairs);
      return [...out, this.emit(big)];
    }
    this.pairsLen = putPair(this.pairs, this.pairsLen, key, value);
    return out;
  }

  /** The remaining pairs, the END frame and the trailer. */
  end(): Buffer[] {
    if (this.ended) throw new Error("SnapshotEncoder.end called twice");
    this.ended = true;
    const out = this.flushPairs();
    const endPayload = new ByteWriter(16).u64(this.pairCount).u64(this.payloadBytes).finish();
    out.push(this.emit(frame(FrameKind.End, endPayload)));
    out.push(this.hash.digest());
    return out;
  }

  private flushPairs(): Buffer[] {
    if (this.pairsLen === FRAME_HEAD) return [];
    const chunk = this.pairs.subarray(0, this.pairsLen);
    sealFrame(chunk, FrameKind.Pairs);
    this.pairs = Buffer.allocUnsafe(this.chunkBytes + FRAME_HEAD);
    this.pairsLen = FRAME_HEAD;
    return [this.emit(chunk)];
  }

  private emit(b: Buffer): Buffer {
    this.hash.update(b);
    return b;
  }
}

const NONE: Buffer[] = [];

function putPair(buf: Buffer, off: number, key: Uint8Array, value: Uint8Array): number {
  buf.writeUInt32BE(key.length, off);
  buf.set(key, off + 4);
  off += 4 + key.length;
  buf.writeUInt32BE(value.length, off);
  buf.set(value, off + 4);
  return off + 4 + value.length;
}

function frame(kind: FrameKind, payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEAD + payload.length);
  b.set(payload, FRAME_HEAD);
  return sealFrame(b, kind);
}

/** Writes the head of a frame whose payload is already at FRAME_HEAD.. in `b`. */
function sealFrame(b: Buffer, kind: FrameKind): Buffer {
  const payload = b.subarray(FRAME_HEAD);
  b[0] = kind;
  b.writeUInt32BE(payload.length, 1);
  b.writeUInt32BE(crc32(payload), 5);
  return b;
}

/** One decoded record of a snapshot stream. */
export type SnapshotRecord =
  | { kind: "header"; header: SnapshotHeader }
  | { kind: "column"; name: string }
  | { kind: "pairs"; keys: Uint8Array[]; values: Uint8Array[] }
  | { kind: "end"; pairCount: number; payloadBytes: number; sha256: string };

/**
 * Decodes a snapshot stream. Yields records as they arrive; the last record ("end") is
 * yielded only after the trailer checksum (and, for an etcdctl-wrapped stream, the outer
 * checksum) verified. Throws {@link SnapshotChecksumError} on a mismatch and
 * {@link SnapshotFormatError} on anything malformed or truncated. A consumer must treat
 * everything it received as untrusted until "end" arrives.
 */
export async function* decodeSnapshot(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): AsyncGenerator<SnapshotRecord> {
  const input = new ChunkQueue();
  const hash = createHash("sha256");
  const outer = createHash("sha256");
  let consumed = 0;
  const take = (n: number): Buffer => {
    const b = input.take(n);
    hash.update(b);
    outer.update(b);
    consumed += n;
    return b;
  };
  const iterator = toAsyncIterator(source);
  const fill = async (n: number): Promise<boolean> => {
    while (input.length < n) {
      const next = await iterator.next();
      if (next.done) return false;
      if (next.value.length > 0) input.push(next.value);
    }
    return true;
  };

  if (!(await fill(SNAPSHOT_MAGIC.length))) throw truncated("magic");
  if (!take(SNAPSHOT_MAGIC.length).equals(SNAPSHOT_MAGIC)) {
    throw new SnapshotFormatError("not a Chainfire snapshot (bad magic)");
  }
  let sawHeader = false;
  let column: string | undefined;
  let pairCount = 0;
  let payloadBytes = 0;
  for (;;) {
    if (!(await fill(FRAME_HEAD))) throw truncated("frame");
    const head = take(FRAME_HEAD);
    const kind = head[0];
    const len = head.readUInt32BE(1);
    if (len > MAX_FRAME_BYTES) {
      throw new SnapshotFormatError(
        `snapshot frame of ${len} bytes at byte ${consumed - FRAME_HEAD}`,
      );
    }
    if (!(await fill(len))) throw truncated(`frame of kind ${kind}`);
    const payload = take(len);
    const crc = crc32(payload);
    if (crc !== head.readUInt32BE(5)) {
      throw new SnapshotChecksumError(
        head.readUInt32BE(5).toString(16).padStart(8, "0"),
        crc.toString(16).padStart(8, "0"),
        `frame at byte ${consumed - len - FRAME_HEAD}`,
      );
    }
    try {
      if (!sawHeader && kind !== FrameKind.Header) {
        throw new SnapshotFormatError("snapshot does not start with a header");
      }
      switch (kind) {
        case FrameKind.Header: {
          if (sawHeader) throw new SnapshotFormatError("second snapshot header");
          sawHeader = true;
          yield { kind: "header", header: decodeHeader(payload) };
          break;
        }
        case FrameKind.Column: {
          const r = new ByteReader(payload, "column frame");
          column = r.str();
          r.end();
          yield { kind: "column", name: column };
          break;
        }
        case FrameKind.Pairs: {
          if (column === undefined) throw new SnapshotFormatError("pairs before any column");
          const keys: Uint8Array[] = [];
          const values: Uint8Array[] = [];
          const r = new ByteReader(payload, "pairs frame");
          while (r.remaining > 0) {
            const k = r.bytes();
            const v = r.bytes();
            keys.push(k);
            values.push(v);
            payloadBytes += k.length + v.length;
          }
          pairCount += keys.length;
          yield { kind: "pairs", keys, values };
          break;
        }
        case FrameKind.End: {
          const r = new ByteReader(payload, "end frame");
          const wantPairs = r.u64();
          const wantBytes = r.u64();
          r.end();
          const digest = hash.digest();
          if (!(await fill(SHA256_SIZE))) throw truncated("checksum trailer");
          const trailer = input.take(SHA256_SIZE);
          outer.update(trailer);
          consumed += SHA256_SIZE;
          if (!trailer.equals(digest)) {
            throw new SnapshotChecksumError(trailer.toString("hex"), digest.toString("hex"));
          }
          if (wantPairs !== pairCount || wantBytes !== payloadBytes) {
            throw new SnapshotFormatError(
              `snapshot END says ${wantPairs} pairs/${wantBytes} bytes, stream had ${pairCount}/${payloadBytes}`,
            );
          }
          await verifyEtcdWrapper(input, fill, outer, consumed);
          yield { kind: "end", pairCount, payloadBytes, sha256: digest.toString("hex") };
          return;
        }
        default:
          throw new SnapshotFormatError(`unknown snapshot frame kind ${kind}`);
      }
    } catch (err) {
      if (err instanceof CorruptRecordError) {
        throw new SnapshotFormatError(err.message, { cause: err });
      }
      throw err;
    }
  }
}

/** After the trailer: nothing, or etcdctl's zero padding to 512 plus a SHA-256. */
async function verifyEtcdWrapper(
  input: ChunkQueue,
  fill: (n: number) => Promise<boolean>,
  outer: Hash,
  consumed: number,
): Promise<void> {
  // Drain the rest of the source (bounded: at most 511 + 32 bytes are legal).
  const limit = ETCD_SNAPSHOT_ALIGN + SHA256_SIZE;
  while (await fill(input.length + 1)) {
    if (input.length > limit) throw new SnapshotFormatError("trailing bytes after snapshot");
  }
  const rest = input.take(input.length);
  if (rest.length === 0) return;
  const bodyLen = consumed + rest.length - SHA256_SIZE;
  if (rest.length < SHA256_SIZE || bodyLen % ETCD_SNAPSHOT_ALIGN !== 0) {
    throw new SnapshotFormatError("trailing bytes after snapshot are not an etcdctl wrapper");
  }
  const padding = rest.subarray(0, rest.length - SHA256_SIZE);
  if (padding.some((b) => b !== 0)) {
    throw new SnapshotFormatError("non-zero padding after snapshot");
  }
  outer.update(padding);
  const want = rest.subarray(rest.length - SHA256_SIZE);
  const got = outer.digest();
  if (!got.equals(want)) {
    throw new SnapshotChecksumError(want.toString("hex"), got.toString("hex"));
  }
}

function truncated(what: string): SnapshotFormatError {
  return new SnapshotFormatError(`snapshot stream ended early (in ${what})`);
}

/**
 * Wraps a snapshot stream the way etcd's Maintenance.Snapshot does for etcdctl: the body
 * padded with zeros to a multiple of 512 bytes, then the SHA-256 of the padded body.
 */
export async function* wrapForEtcdctl(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const h = createHash("sha256");
  let n = 0;
  for await (const chunk of source) {
    h.update(chunk);
    n += chunk.length;
    yield chunk;
  }
  const pad = (ETCD_SNAPSHOT_ALIGN - (n % ETCD_SNAPSHOT_ALIGN)) % ETCD_SNAPSHOT_ALIGN;
  if (pad > 0) {
    const zeros = Buffer.alloc(pad);
    h.update(zeros);
    yield zeros;
  }
  yield h.digest();
}

function toAsyncIterator(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): AsyncIterator<Uint8Array> | Iterator<Uint8Array> {
  if (Symbol.asyncIterator in source) return source[Symbol.asyncIterator]();
  return source[Symbol.iterator]();
}

/** A FIFO of byte chunks that hands out exact-length Buffers. */
class ChunkQueue {
  private chunks: Uint8Array[] = [];
  private headOff = 0;
  length = 0;

  push(c: Uint8Array): void {
    this.chunks.push(c);
    this.length += c.length;
  }

  /** Removes and returns the next n bytes (the caller made sure they are there). */
  take(n: number): Buffer {
    this.length -= n;
    const first = this.chunks[0];
    if (first !== undefined && first.length - this.headOff >= n) {
      const out = first.subarray(this.headOff, this.headOff + n);
      this.headOff += n;
      if (this.headOff === first.length) {
        this.chunks.shift();
        this.headOff = 0;
      }
      return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0];
      const avail = c.length - this.headOff;
      const k = Math.min(avail, n - off);
      out.set(c.subarray(this.headOff, this.headOff + k), off);
      off += k;
      this.headOff += k;
      if (this.headOff === c.length) {
        this.chunks.shift();
        this.headOff = 0;
      }
    }
    return out;
  }
}
