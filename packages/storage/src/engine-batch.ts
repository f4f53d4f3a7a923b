/** WriteBatch and Cursor of the {@link Engine} (engine.ts). */
import {
  type BatchContext,
  binding,
  type ColumnHandle,
  type IteratorContext,
} from "./engine-binding.js";

/** The name of one of the column families (engine.ts COLUMN_FAMILIES). */
type Family = string;

/** A key/value pair read from the engine. */
export type Entry = [key: Buffer, value: Buffer];

const EMPTY = Buffer.alloc(0);
const NONNULL = Buffer.alloc(8);

/**
 * The binding hands a zero-length Buffer to RocksDB as a null pointer, and the prebuilt
 * RocksDB asserts (aborting the process) when it compares one, e.g. in a MultiGet of
 * several keys. Give it a zero-length view of real memory instead.
 */
export function nz(b: Uint8Array): Uint8Array {
  return b.length === 0 ? NONNULL.subarray(0, 0) : b;
}

/** {@link nz} over an array (copied only when needed). */
export function nzAll(keys: Uint8Array[]): Uint8Array[] {
  for (const k of keys) if (k.length === 0) return keys.map(nz);
  return keys;
}

/** A bug in the caller: the engine was used in a way its contract forbids. */
export class EngineStateError extends Error {
  override readonly name = "EngineStateError";
}

/**
 * An atomic group of writes across column families. Build it with {@link Engine.batch},
 * write it with {@link Engine.write}. After a write the batch is empty and reusable.
 */
export class WriteBatch {
  /** @internal */
  ctx: BatchContext | null;
  /** @internal */
  readonly columns: Readonly<Record<Family, { column: ColumnHandle }>>;
  #bytes = 0;

  /** @internal */
  constructor(columns: Readonly<Record<Family, { column: ColumnHandle }>>) {
    this.ctx = binding.batch_init();
    this.columns = columns;
  }

  /** Set `key` to `value` in column family `cf`. */
  put<F extends Family>(cf: F, key: Uint8Array, value: Uint8Array): this {
    binding.batch_put(this.#live(), nz(key), nz(value), this.columns[cf]);
    this.#bytes += key.length + value.length;
    return this;
  }

  /** Delete `key` from column family `cf`. */
  del<F extends Family>(cf: F, key: Uint8Array): this {
    binding.batch_del(this.#live(), nz(key), this.columns[cf]);
    this.#bytes += key.length;
    return this;
  }

  /** Number of operations in the batch. */
  get length(): number {
    return binding.batch_count(this.#live());
  }

  /** Approximate payload bytes added so far (keys + values). */
  get byteLength(): number {
    return this.#bytes;
  }

  /** Drop every operation. */
  clear(): void {
    binding.batch_clear(this.#live());
    this.#bytes = 0;
  }

  /** Release the native batch; the batch is unusable afterwards. Idempotent. */
  close(): void {
    if (this.ctx) {
      binding.batch_clear(this.ctx);
      this.ctx = null;
    }
  }

  #live(): BatchContext {
    if (!this.ctx) throw new EngineStateError("write batch is closed");
    return this.ctx;
  }

  /** @internal */
  resetBytes(): void {
    this.#bytes = 0;
  }
}

/**
 * A synchronous, seekable iterator over one column family. Reads are served from an
 * implicit snapshot taken when the cursor is created. Each native call fetches a page;
 * after a seek the first page is a single entry (seek-heavy use stays cheap), later pages
 * double up to `pageSize`.
 *
 * Cost: creating a cursor is a few microseconds (a RocksDB iterator plus its initial
 * positioning); `seek` is one RocksDB seek; every entry is copied into a new Buffer.
 */
export class Cursor {
  #it: IteratorContext | null;
  #rows: (Buffer | undefined)[] = [];
  #pos = 0;
  #finished = false;
  #nextPage = 1;
  readonly #maxPage: number;
  readonly #onClose: (c: Cursor) => void;

  /** @internal */
  constructor(
    it: IteratorContext,
    maxPage: number,
    firstPage: number,
    onClose: (c: Cursor) => void,
  ) {
    this.#onClose = onClose;
    this.#it = it;
    this.#maxPage = maxPage;
    this.#nextPage = firstPage;
  }

  /**
   * Position at the first entry >= target (forward) or the last entry <= target (reverse).
   * A target outside the cursor's bounds ends the iteration.
   */
  seek(target: Uint8Array): void {
    const it = this.#live();
    this.#rows = [];
    this.#pos = 0;
    this.#finished = false;
    this.#nextPage = 1;
    binding.iterator_seek(it, nz(target));
  }

  /** The next entry, or undefined at the end. */
  next(): Entry | undefined {
    if (this.#pos >= this.#rows.length) {
      if (this.#finished) return undefined;
      const res = binding.iterator_nextv_sync(this.#live(), this.#nextPage);
      this.#nextPage = Math.min(this.#nextPage * 2, this.#maxPage);
      this.#rows = res.rows;
      this.#pos = 0;
      this.#finished = res.finished;
      if (this.#rows.length === 0) return undefined;
    }
    const k = this.#rows[this.#pos++] ?? EMPTY;
    const v = this.#rows[this.#pos++] ?? EMPTY;
    return [k, v];
  }

  /** Release the native iterator. Idempotent. */
  close(): void {
    if (this.#it) {
      binding.iterator_close(this.#it);
      this.#it = null;
      this.#onClose(this);
    }
  }

  /** Iterate the remaining entries; closes the cursor at the end or on `break`. */
  *[Symbol.iterator](): Generator<Entry, void, undefined> {
    try {
      for (let e = this.next(); e !== undefined; e = this.next()) yield e;
    } finally {
      this.close();
    }
  }

  #live(): IteratorContext {
    if (!this.#it) throw new EngineStateError("cursor is closed");
    return this.#it;
  }
}
