/**
 * Snapshots: the stream of a member's backend, checked against the SHA-256 trailer
 * etcd appends, and saved to a file the way etcdctl saves it.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import type { etcdserverpb } from "@chainfire/api";
import type { ClientReadableStream } from "@grpc/grpc-js";
import { onAbort } from "./backoff.js";
import type { Connection } from "./connection-pool.js";
import { AbortError, SnapshotIntegrityError } from "./errors.js";
import type { CallOptions, Transport } from "./transport.js";

/** Options of a snapshot. */
export interface SnapshotOptions extends CallOptions {
  /** The member to snapshot (default: the pinned endpoint). */
  endpoint?: string;
  /** Called after each chunk with the bytes received so far and the total expected. */
  onProgress?: (progress: SnapshotProgress) => void;
}

/** Progress of a snapshot download. */
export interface SnapshotProgress {
  /** Bytes received so far. */
  received: number;
  /** Bytes expected in total (received plus what the member says remains). */
  total: number;
}

/** What {@link saveSnapshot} wrote. */
export interface SnapshotResult {
  /** The file written. */
  path: string;
  /** Its size in bytes (body plus the 32-byte trailer). */
  bytes: number;
  /** The SHA-256 of the body, in hex (equal to the trailer). */
  sha256: string;
}

const SHA_LEN = 32;

/**
 * Streams a snapshot from `conn` (or the pinned endpoint). The whole download must
 * finish within `timeoutMs` (default 30 minutes).
 */
export async function* openSnapshot(
  transport: Transport,
  conn: Connection | undefined,
  options: SnapshotOptions,
): AsyncGenerator<Buffer> {
  const deadline = Date.now() + (options.timeoutMs ?? 30 * 60_000);
  const target = conn ?? transport.pool.pick();
  let token: string | undefined;
  let call: ClientReadableStream<etcdserverpb.SnapshotResponse>;
  try {
    const prepared = await transport.prepare(target, deadline, false, options.signal);
    token = prepared.token;
    call = target.services().maintenance.snapshot({}, prepared.metadata, { deadline });
  } catch (error) {
    throw transport.noteFailure(target, error, token);
  }
  const removeAbort = onAbort(options.signal, () => call.cancel());
  const hash = createHash("sha256");
  let tail = Buffer.alloc(0);
  let received = 0;
  try {
    for await (const r of call as AsyncIterable<etcdserverpb.SnapshotResponse>) {
      const blob = r.blob;
      received += blob.length;
      // Hash everything but the last 32 bytes seen so far: they may be the trailer.
      const joined = tail.length > 0 ? Buffer.concat([tail, blob]) : blob;
      if (joined.length > SHA_LEN) {
        hash.update(joined.subarray(0, joined.length - SHA_LEN));
        tail = Buffer.from(joined.subarray(joined.length - SHA_LEN));
      } else {
        tail = Buffer.from(joined);
      }
      options.onProgress?.({ received, total: received + Number(r.remainingBytes) });
      if (blob.length > 0) yield blob;
    }
  } catch (error) {
    if (options.signal?.aborted) throw new AbortError(options.signal.reason);
    throw transport.noteFailure(target, error, token);
  } finally {
    removeAbort();
    call.cancel();
  }
  if (tail.length < SHA_LEN) {
    throw new SnapshotIntegrityError(
      `chainfire: snapshot too short (${received} bytes): sha256 checksum not found`,
    );
  }
  const digest = hash.digest();
  if (!digest.equals(tail)) {
    throw new SnapshotIntegrityError(
      "chainfire: snapshot sha256 trailer does not match its content",
    );
  }
}

/**
 * Writes a snapshot stream to `path`: to `path.part` first, fsynced, then renamed, so
 * a partial download never has the final name.
 */
export async function saveSnapshot(
  chunks: AsyncIterable<Buffer>,
  path: string,
): Promise<SnapshotResult> {
  const part = `${path}.part`;
  const out = createWriteStream(part);
  const hash = createHash("sha256");
  let bytes = 0;
  let last: Buffer = Buffer.alloc(0);
  try {
    for await (const chunk of chunks) {
      bytes += chunk.length;
      hash.update(chunk);
      last = chunk.length >= SHA_LEN ? chunk : Buffer.concat([last, chunk]).subarray(-SHA_LEN);
      if (!out.write(chunk)) await once(out, "drain");
    }
    out.end();
    await once(out, "finish");
    const fh = await open(part, "r+");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(part, path);
  } catch (error) {
    // Let the stream finish opening/closing before removing what it may have created.
    if (!out.closed) {
      const closed = once(out, "close");
      out.destroy();
      await closed;
    }
    await rm(part, { force: true });
    throw error;
  }
  return { path, bytes, sha256: last.subarray(-SHA_LEN).toString("hex") };
}
