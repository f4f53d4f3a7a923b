/**
 * Software transactional memory (Go's `concurrency.STM`): a function reads and
 * writes keys through an {@link STM}; its writes are committed in one transaction
 * guarded by compares on what it read, and the function is run again when another
 * writer got in between.
 *
 * Isolation levels (as in Go):
 *
 * - `"serializable-snapshot"` (default): every read sees the revision of the first
 *   read; the commit fails if any key read *or written* changed after that revision.
 * - `"serializable"`: reads see the first read's revision; the commit fails if a key
 *   read has changed.
 * - `"repeatable-read"`: each key is read once (later reads reuse it); the commit
 *   fails if a key read has changed.
 * - `"read-committed"`: no checks; writes are simply applied together.
 *
 * @module
 */
import { backoffDelay, sleep, throwIfAborted } from "../backoff.js";
import { type Key, toBuffer, type Value } from "../bytes.js";
import { STMConflictError } from "../errors.js";
import { KeyValue } from "../key-value.js";
import { type Compare, compare, type Op, op } from "../txn.js";
import type { ConcurrencyHost } from "./host.js";

/** An STM isolation level (see the module comment). */
export type Isolation =
  | "serializable-snapshot"
  | "serializable"
  | "repeatable-read"
  | "read-committed";

/** Options of `client.stm()`. */
export interface STMOptions {
  /** Default `"serializable-snapshot"`. */
  isolation?: Isolation;
  /** How many times to run the function before giving up with `STMConflictError` (default 16). */
  maxAttempts?: number;
  /** Stops retrying; the call rejects with `AbortError`. */
  signal?: AbortSignal;
}

/** The reads and writes of one STM attempt. */
export interface STM {
  /** Reads a key (your own writes are visible). */
  get(key: Key): Promise<KeyValue | undefined>;
  /** Reads a key's value as a string. */
  getString(key: Key): Promise<string | undefined>;
  /** Reads a key's value as JSON. */
  getJson<T = unknown>(key: Key): Promise<T | undefined>;
  /** The mod revision of a key as read (0 when missing or not read). */
  rev(key: Key): bigint;
  /** Writes a key at commit. */
  put(key: Key, value: Value, options?: { lease?: bigint }): void;
  /** Writes a key with a JSON value at commit. */
  putJson(key: Key, value: unknown, options?: { lease?: bigint }): void;
  /** Deletes a key at commit. */
  delete(key: Key): void;
}

interface Write {
  key: Buffer;
  value: Buffer | undefined; // undefined: delete
  lease: bigint;
}

class Attempt implements STM {
  readonly reads = new Map<string, { key: Buffer; kv: KeyValue | undefined }>();
  readonly writes = new Map<string, Write>();
  snapshotRev = 0n;

  constructor(
    private readonly host: ConcurrencyHost,
    private readonly isolation: Isolation,
    private readonly signal: AbortSignal | undefined,
  ) {}

  async get(key: Key): Promise<KeyValue | undefined> {
    const k = toBuffer(key);
    const id = k.toString("hex");
    const written = this.writes.get(id);
    if (written) {
      if (written.value === undefined) return undefined;
      const base = this.reads.get(id)?.kv;
      return new KeyValue({
        key: k,
        value: written.value,
        createRevision: base?.createRevision ?? 0n,
        modRevision: base?.modRevision ?? 0n,
        version: base?.version ?? 0n,
        lease: written.lease,
      });
    }
    const cached = this.reads.get(id);
    if (cached && this.isolation !== "read-committed") return cached.kv;
    const pinned = this.isolation === "serializable-snapshot" || this.isolation === "serializable";
    const r = await this.host.getAll(k, {
      limit: 1,
      revision: pinned && this.snapshotRev > 0n ? this.snapshotRev : undefined,
      signal: this.signal,
    });
    if (this.snapshotRev === 0n) this.snapshotRev = r.revision;
    const kv = r.kvs[0];
    this.reads.set(id, { key: k, kv });
    return kv;
  }

  async getString(key: Key): Promise<string | undefined> {
    return (await this.get(key))?.string();
  }

  async getJson<T = unknown>(key: Key): Promise<T | undefined> {
    return (await this.get(key))?.json<T>();
  }

  rev(key: Key): bigint {
    return this.reads.get(toBuffer(key).toString("hex"))?.kv?.modRevision ?? 0n;
  }

  put(key: Key, value: Value, options: { lease?: bigint } = {}): void {
    const k = toBuffer(key);
    this.writes.set(k.toString("hex"), {
      key: k,
      value: Buffer.from(toBuffer(value)),
      lease: options.lease ?? 0n,
    });
  }

  putJson(key: Key, value: unknown, options?: { lease?: bigint }): void {
    this.put(key, JSON.stringify(value), options);
  }

  delete(key: Key): void {
    const k = toBuffer(key);
    this.writes.set(k.toString("hex"), { key: k, value: undefined, lease: 0n });
  }

  compares(): Compare[] {
    if (this.isolation === "read-committed") return [];
    const cmps: Compare[] = [];
    for (const { key, kv } of this.reads.values()) {
      cmps.push(compare.modRevision(key, "==", kv?.modRevision ?? 0n));
    }
    if (this.isolation === "serializable-snapshot" && this.snapshotRev > 0n) {
      for (const w of this.writes.values()) {
        if (!this.reads.has(w.key.toString("hex"))) {
          cmps.push(compare.modRevision(w.key, "<", this.snapshotRev + 1n));
        }
      }
    }
    return cmps;
  }

  ops(): Op[] {
    return [...this.writes.values()].map((w) =>
      w.value === undefined ? op.delete(w.key) : op.put(w.key, w.value, { lease: w.lease }),
    );
  }
}

/** Runs `fn` under STM until it commits (see the module comment). */
export async function runSTM<T>(
  host: ConcurrencyHost,
  fn: (stm: STM) => Promise<T> | T,
  options: STMOptions = {},
): Promise<T> {
  const isolation = options.isolation ?? "serializable-snapshot";
  const maxAttempts = options.maxAttempts ?? 16;
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(options.signal);
    const stm = new Attempt(host, isolation, options.signal);
    const result = await fn(stm);
    const ops = stm.ops();
    if (ops.length === 0 && isolation === "read-committed") return result;
    const r = await host
      .txn()
      .if(...stm.compares())
      .then(...ops)
      .commit({ signal: options.signal });
    if (r.succeeded) return result;
    if (attempt >= maxAttempts) throw new STMConflictError(attempt);
    await sleep(backoffDelay(attempt - 1, { initialMs: 5, maxMs: 200 }), options.signal);
  }
}
