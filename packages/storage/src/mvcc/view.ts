/**
 * Read views over the MVCC column families.
 *
 * - {@link CommittedView}: what RocksDB holds (synchronous engine reads).
 * - {@link PendingView}: the committed state plus the writes of a not-yet-written batch
 *   (an overlay map per column family, bounded by the batch). Reads inside a write (txn
 *   compares, prev_kv, versions, ranges inside a txn) go through it, so they see earlier
 *   writes of the same batch. Writes are staged per transaction and can be rolled back,
 *   so a transaction that fails half-way leaves neither the overlay nor the batch changed.
 */
import type { ColumnFamilyName, Cursor, Engine, Entry, WriteBatch } from "../engine.js";
import { compareBytes } from "../keys.js";

/** The column families the MVCC store reads and writes. */
export type MvccFamily = "kv" | "history" | "revs" | "leasekeys" | "kvmeta";

/** A forward cursor with seek over [gte, lt). */
export interface ViewCursor {
  /** Position at the first entry >= max(target, gte). */
  seek(target: Uint8Array): void;
  /** The next entry or undefined at the end. */
  next(): Entry | undefined;
  close(): void;
}

/** Synchronous reads of one consistent state. */
export interface KvView {
  get(cf: MvccFamily, key: Uint8Array): Buffer | undefined;
  /**
   * A forward cursor over [gte, lt) (undefined bounds are open). `keysOnly` lets the
   * committed view skip copying values (values are then empty).
   */
  cursor(
    cf: MvccFamily,
    gte: Uint8Array | undefined,
    lt: Uint8Array | undefined,
    keysOnly?: boolean,
  ): ViewCursor;
  /** Number of keys of `cf` in [gte, lt). */
  count(cf: MvccFamily, gte: Uint8Array | undefined, lt: Uint8Array | undefined): number;
}

/** Count by iterating a cursor (for views without a cheaper way). */
function countByCursor(view: KvView, cf: MvccFamily, gte?: Uint8Array, lt?: Uint8Array): number {
  const c = view.cursor(cf, gte, lt, true);
  let n = 0;
  try {
    while (c.next() !== undefined) n++;
  } finally {
    c.close();
  }
  return n;
}

/** Latin-1 string of bytes: compares like the bytes, usable as a Map key. */
export function byteString(b: Uint8Array): string {
  return (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)).toString(
    "latin1",
  );
}

class EngineViewCursor implements ViewCursor {
  readonly #c: Cursor;
  readonly #gte: Uint8Array | undefined;
  constructor(c: Cursor, gte: Uint8Array | undefined) {
    this.#c = c;
    this.#gte = gte;
  }
  seek(target: Uint8Array): void {
    // The binding ends the iteration on a target below the lower bound; clamp instead.
    this.#c.seek(this.#gte && compareBytes(target, this.#gte) < 0 ? this.#gte : target);
  }
  next(): Entry | undefined {
    return this.#c.next();
  }
  close(): void {
    this.#c.close();
  }
}

/** The committed state in RocksDB. */
export class CommittedView implements KvView {
  readonly engine: Engine;
  constructor(engine: Engine) {
    this.engine = engine;
  }
  get(cf: MvccFamily, key: Uint8Array): Buffer | undefined {
    return this.engine.getSync(cf, key);
  }
  cursor(
    cf: MvccFamily,
    gte: Uint8Array | undefined,
    lt: Uint8Array | undefined,
    keysOnly = false,
  ): ViewCursor {
    const c = this.engine.cursor(cf, {
      ...(gte ? { gte } : {}),
      ...(lt ? { lt } : {}),
      ...(keysOnly ? { values: false } : {}),
    });
    return new EngineViewCursor(c, gte);
  }
  count(cf: MvccFamily, gte: Uint8Array | undefined, lt: Uint8Array | undefined): number {
    return this.engine.countSync(cf, { ...(gte ? { gte } : {}), ...(lt ? { lt } : {}) });
  }
}

interface OverlayEntry {
  readonly k: Buffer;
  /** null: deleted in the overlay. */
  v: Buffer | null;
}

class Overlay {
  readonly #map = new Map<string, OverlayEntry>();
  #sorted: OverlayEntry[] | null = null;
  /** Writes not yet in the map ({@link append}), in order. */
  #appended: [Uint8Array, Buffer | null][] = [];

  /** The entries by {@link byteString} of their key. */
  get map(): Map<string, OverlayEntry> {
    if (this.#appended.length > 0) {
      const a = this.#appended;
      this.#appended = [];
      for (const [k, v] of a) this.set(byteString(k), k, v);
    }
    return this.#map;
  }

  set(s: string, k: Uint8Array, v: Buffer | null): void {
    const e = this.map.get(s);
    if (e) e.v = v;
    else {
      this.#map.set(s, { k: Buffer.isBuffer(k) ? k : Buffer.from(k), v });
      this.#sorted = null;
    }
  }

  /**
   * {@link set} deferred until the overlay is next read (in order, so the last write of a
   * key wins): a large DeleteRange writes many records (history, deleted keys) that
   * nothing in the same write may read back, and the map insert with the key's string was
   * a good part of a deleted key's cost.
   */
  append(k: Uint8Array, v: Buffer | null): void {
    this.#appended.push([k, v]);
    this.#sorted = null;
  }

  remove(s: string): void {
    this.map.delete(s);
    this.#sorted = null;
  }

  sorted(): OverlayEntry[] {
    if (!this.#sorted) {
      this.#sorted = [...this.map.values()].sort((a, b) => compareBytes(a.k, b.k));
    }
    return this.#sorted;
  }
}

function lowerBound(entries: OverlayEntry[], target: Uint8Array, from: number): number {
  let lo = from;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(entries[mid]!.k, target) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Merges overlay entries (which win) into a base cursor. */
class MergedCursor implements ViewCursor {
  readonly #base: ViewCursor;
  readonly #entries: OverlayEntry[];
  readonly #gte: Uint8Array | undefined;
  readonly #start: number;
  readonly #end: number;
  #pos: number;
  /** null: not fetched yet. */
  #head: Entry | undefined | null = null;

  constructor(
    base: ViewCursor,
    entries: OverlayEntry[],
    gte: Uint8Array | undefined,
    lt: Uint8Array | undefined,
  ) {
    this.#base = base;
    this.#entries = entries;
    this.#gte = gte;
    this.#start = gte ? lowerBound(entries, gte, 0) : 0;
    this.#end = lt ? lowerBound(entries, lt, this.#start) : entries.length;
    this.#pos = this.#start;
  }

  seek(target: Uint8Array): void {
    const t = this.#gte && compareBytes(target, this.#gte) < 0 ? this.#gte : target;
    this.#base.seek(t);
    this.#head = null;
    this.#pos = Math.min(this.#end, lowerBound(this.#entries, t, this.#start));
  }

  next(): Entry | undefined {
    for (;;) {
      if (this.#head === null) this.#head = this.#base.next();
      const ov = this.#pos < this.#end ? this.#entries[this.#pos] : undefined;
      const head = this.#head;
      if (!ov) {
        if (head !== undefined) this.#head = null;
        return head;
      }
      const c = head === undefined ? -1 : compareBytes(ov.k, head[0]);
      if (c > 0) {
        this.#head = null;
        return head;
      }
      this.#pos++;
      if (c === 0) this.#head = null;
      if (ov.v !== null) return [ov.k, ov.v];
    }
  }

  close(): void {
    this.#base.close();
  }
}

interface StagedOp {
  cf: MvccFamily;
  key: Uint8Array;
  value: Buffer | null;
}

interface UndoRecord {
  overlay: Overlay;
  s: string;
  /** The entry's previous value; undefined: the entry did not exist. */
  prev: Buffer | null | undefined;
}

/**
 * The committed state plus pending writes. Writes are staged: {@link commitStaged} moves
 * them into the write batch, {@link rollbackStaged} undoes them in the overlay.
 */
export class PendingView implements KvView {
  readonly #base: KvView;
  readonly #batch: WriteBatch;
  readonly #overlays: Record<"kv" | "history" | "leasekeys", Overlay> = {
    kv: new Overlay(),
    history: new Overlay(),
    leasekeys: new Overlay(),
  };
  #staged: StagedOp[] = [];
  #undo: UndoRecord[] = [];
  /** Writes go straight to the batch, without staging or undo (see MvccWrite). */
  direct = false;
  /** Committed `kv` records read ahead by {@link prefetch} (null: absent). */
  readonly #prefetched = new Map<string, Buffer | null>();

  constructor(base: KvView, batch: WriteBatch) {
    this.#base = base;
    this.#batch = batch;
  }

  #overlay(cf: MvccFamily): Overlay | undefined {
    return cf === "kv" || cf === "history" || cf === "leasekeys" ? this.#overlays[cf] : undefined;
  }

  get(cf: MvccFamily, key: Uint8Array): Buffer | undefined {
    if (cf === "kv") return this.getWithString(cf, key, byteString(key));
    const o = this.#overlay(cf);
    if (o && o.map.size > 0) {
      const e = o.map.get(byteString(key));
      if (e) return e.v ?? undefined;
    }
    return this.#base.get(cf, key);
  }

  /** Like {@link get} with the key's {@link byteString} already computed. */
  getWithString(cf: "kv", key: Uint8Array, s: string): Buffer | undefined {
    const o = this.#overlays[cf];
    if (o.map.size > 0) {
      const e = o.map.get(s);
      if (e) return e.v ?? undefined;
    }
    if (this.#prefetched.size > 0) {
      const p = this.#prefetched.get(s);
      if (p !== undefined) return p ?? undefined;
    }
    return this.#base.get(cf, key);
  }

  /**
   * Read the committed `kv` records of `keys` ahead, in one RocksDB MultiGet, so later
   * point reads of them (a put's previous version) cost no native call. Valid while this
   * view lives: nothing else writes `kv` while a write is open.
   */
  prefetch(
    keys: readonly Uint8Array[],
    read: (keys: Uint8Array[]) => (Buffer | undefined)[],
  ): void {
    const want: Uint8Array[] = [];
    const strs: string[] = [];
    const o = this.#overlays.kv;
    const seen = new Set<string>();
    for (const k of keys) {
      const s = byteString(k);
      if (seen.has(s) || o.map.has(s) || this.#prefetched.has(s)) continue;
      seen.add(s);
      want.push(k);
      strs.push(s);
    }
    if (want.length === 0) return;
    const vs = read(want);
    for (let i = 0; i < strs.length; i++) this.#prefetched.set(strs[i]!, vs[i] ?? null);
  }

  cursor(
    cf: MvccFamily,
    gte: Uint8Array | undefined,
    lt: Uint8Array | undefined,
    keysOnly = false,
  ): ViewCursor {
    const o = this.#overlay(cf);
    const base = this.#base.cursor(cf, gte, lt, keysOnly && (!o || o.map.size === 0));
    if (!o || o.map.size === 0) return base;
    return new MergedCursor(base, o.sorted(), gte, lt);
  }

  count(cf: MvccFamily, gte: Uint8Array | undefined, lt: Uint8Array | undefined): number {
    const o = this.#overlay(cf);
    if (!o || o.map.size === 0) return this.#base.count(cf, gte, lt);
    return countByCursor(this, cf, gte, lt);
  }

  /** Stage `key = value` (null: delete) in `cf`; `s` is byteString(key) if known. */
  put(cf: MvccFamily, key: Uint8Array, value: Buffer | null, s?: string): void {
    const o = this.#overlay(cf);
    if (this.direct) {
      // Without the key's string at hand, the overlay entry is made when next read.
      if (o && s === undefined) o.append(key, value);
      else if (o) o.set(s!, key, value);
      if (value === null) this.#batch.del(cf, key);
      else this.#batch.put(cf, key, value);
      return;
    }
    if (o) {
      const str = s ?? byteString(key);
      const e = o.map.get(str);
      this.#undo.push({ overlay: o, s: str, prev: e ? e.v : undefined });
      o.set(str, key, value);
    }
    this.#staged.push({ cf, key, value });
  }

  /** Number of staged (not yet committed to the batch) operations. */
  get stagedCount(): number {
    return this.#staged.length;
  }

  /** Move the staged writes of the current transaction into the batch. */
  commitStaged(): void {
    const b = this.#batch;
    for (const op of this.#staged) {
      if (op.value === null) b.del(op.cf as ColumnFamilyName, op.key);
      else b.put(op.cf as ColumnFamilyName, op.key, op.value);
    }
    this.#staged = [];
    this.#undo = [];
  }

  /** Forget the staged writes of the current transaction (overlay restored). */
  rollbackStaged(): void {
    for (let i = this.#undo.length - 1; i >= 0; i--) {
      const u = this.#undo[i]!;
      if (u.prev === undefined) u.overlay.remove(u.s);
      else u.overlay.map.get(u.s)!.v = u.prev;
    }
    this.#staged = [];
    this.#undo = [];
  }
}
