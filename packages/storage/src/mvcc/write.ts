/**
 * MvccWrite: many write transactions accumulated into ONE RocksDB write batch — the apply
 * path of the server, which applies a run of committed raft entries atomically together
 * with its applied index (DESIGN.md "Durability and ordering rules", 3).
 *
 * ```ts
 * const w = store.beginWrite();
 * const r1 = w.put({ key, value });            // revision N+1
 * const r2 = w.txn({ compare, success, failure }); // revision N+2 (if it writes)
 * meta.setAppliedIndex(w.batch, index);        // the caller's own writes, same batch
 * const { events } = await w.commit({ sync: false });
 * ```
 *
 * Every operation is one etcd transaction: checked completely before its first effect,
 * one main revision if it changes anything, sub-revisions for its changes in order.
 * Reads inside (compares, prev_kv, versions, ranges) see the earlier writes of the batch
 * through a {@link PendingView}; a transaction that fails rolls its staged writes back, so
 * a failed request changes nothing, and the batch stays usable.
 */
import type { WriteBatch } from "../engine.js";
import { StorageBugError, StorageError } from "../errors.js";
import { failpoint, failpointsActive } from "../failpoints.js";
import { compareBytes, encodeKeyRevisionDesc, encodeRevision } from "../keys.js";
import { compareToPath } from "./compare.js";
import { StoredEvent } from "./event.js";
import { encodeInt, leaseKey, leaseSpan, META_COMPACT, META_REV } from "./layout.js";
import { executeRange } from "./range.js";
import { liveEntries, liveEntriesSteps, type ReadBudget, spanOf, versionAt } from "./read.js";
import {
  decodeRecord,
  encodePut,
  encodeTombstone,
  recordLease,
  recordMod,
  recordSub,
  recordVersion,
  toKeyValue,
} from "./record.js";
import { encodeChunk, MAX_CHUNK_ENTRIES } from "./revlog.js";
import type {
  CompactResult,
  DeleteRangeRequest,
  DeleteRangeResult,
  KeyValue,
  MvccEvent,
  PutRequest,
  PutResult,
  RangeRequest,
  RangeResult,
  RequestOp,
  ResponseOp,
  TxnRequest,
  TxnResult,
} from "./types.js";
import {
  checkDeleteRequest,
  checkPutRequest,
  checkRangeRequest,
  checkTxnRequest,
  isTxnReadonly,
} from "./validate.js";
import { byteString, type KvView, PendingView } from "./view.js";

const EMPTY = Buffer.alloc(0);
/** Keys a stepped DeleteRange reads, then deletes, between two yields. */
const STEP_KEYS = 256;

/** What a finished write hands back: the batch to write and what it did. */
export interface FinishedWrite {
  /** The RocksDB batch holding every change (and whatever the caller added). */
  batch: WriteBatch;
  /** The changes in revision order, for watchers. */
  events: StoredEvent[];
  /** The store revision after this write. */
  revision: bigint;
  compactRevision: bigint;
}

/** @internal What MvccWrite needs from its store. */
export interface WriteHost {
  readonly base: KvView;
  /** Committed `kv` records of keys, one MultiGet. */
  readonly readMany: (keys: Uint8Array[]) => (Buffer | undefined)[];
  leaseExists(id: bigint): boolean;
  finishWrite(w: MvccWrite, out: FinishedWrite, rev: number, compactRev: number): void;
  abortWrite(w: MvccWrite): void;
  writeBatch(out: FinishedWrite, sync: boolean): Promise<void>;
}

interface TxnCtx {
  readonly beginRev: number;
  /** Changes made so far (the next change's sub revision). */
  sub: number;
  readonly events: StoredEvent[];
  /** The response budget of a read-only txn's ranges (undefined: unbounded). */
  budget?: ReadBudget;
}

/** A batch of write transactions; see the module comment. */
export class MvccWrite {
  /** The batch the writes go into; the caller may add its own operations. */
  readonly batch: WriteBatch;
  readonly #host: WriteHost;
  readonly #view: PendingView;
  #rev: number;
  #compactRev: number;
  readonly #startRev: number;
  readonly #startCompactRev: number;
  #events: StoredEvent[] = [];
  #done = false;

  /** @internal */
  constructor(host: WriteHost, batch: WriteBatch, rev: number, compactRev: number) {
    this.#host = host;
    this.batch = batch;
    this.#view = new PendingView(host.base, batch);
    this.#rev = rev;
    this.#compactRev = compactRev;
    this.#startRev = rev;
    this.#startCompactRev = compactRev;
  }

  /** The store revision including this write's transactions so far. */
  get revision(): bigint {
    return BigInt(this.#rev);
  }

  /** The compact revision including this write's compactions. */
  get compactRevision(): bigint {
    return BigInt(this.#compactRev);
  }

  /** The events so far, in revision order. */
  get events(): readonly MvccEvent[] {
    return this.#events;
  }

  /**
   * Read ahead, in one RocksDB MultiGet, the current versions of keys this write is about
   * to put or compare (e.g. every key of an apply batch), so each operation then finds
   * them without a native call. Purely an optimization; results are unaffected.
   */
  prefetch(keys: readonly Uint8Array[]): void {
    this.#live();
    this.#view.prefetch(keys, this.#host.readMany);
  }

  /** etcd Put: one revision. Throws StorageError (nothing changed) on bad input. */
  put(req: PutRequest): PutResult {
    checkPutRequest(req);
    // A put fails only before its first write, so it needs no undo log.
    return this.#run(true, (ctx) => {
      const lease = req.lease ?? 0n;
      if (lease !== 0n && !this.#host.leaseExists(lease)) {
        throw new StorageError("ErrLeaseNotFound");
      }
      return this.#execPut(ctx, req);
    });
  }

  /** etcd DeleteRange: one revision if anything was deleted, none otherwise. */
  deleteRange(req: DeleteRangeRequest): DeleteRangeResult {
    checkDeleteRequest(req);
    return this.#run(true, (ctx) => this.#execDelete(ctx, req));
  }

  /**
   * {@link deleteRange} in steps, for a range that may hold many keys: yields after every
   * `stepKeys` keys read and every `stepKeys` keys deleted, so that the caller can give
   * the event loop a turn (the write stays open; nothing is visible before commit). Same
   * effects and result. Until it returns, nothing else may use this write.
   */
  *deleteRangeSteps(
    req: DeleteRangeRequest,
    stepKeys = STEP_KEYS,
  ): Generator<void, DeleteRangeResult, void> {
    checkDeleteRequest(req);
    return yield* this.#runSteps(true, (ctx) => this.#execDeleteSteps(ctx, req, stepKeys));
  }

  /**
   * etcd Txn: compares, then the success or failure ops, all in one revision. `maxOps`
   * (default etcd's 128) bounds each list ({@link checkTxnRequest}). Its ranges share
   * `budget` when given (a read-only txn served outside the log; never at apply).
   */
  txn(req: TxnRequest, opts: { budget?: ReadBudget; maxOps?: number } = {}): TxnResult {
    checkTxnRequest(req, opts.maxOps);
    return this.#run(false, (ctx) => {
      const path = this.#txnPath(ctx, req, opts.budget);
      const result = this.#execTxn(ctx, req, path, { i: 0 });
      result.header.revision = BigInt(ctx.beginRev + (ctx.sub > 0 ? 1 : 0));
      return result;
    });
  }

  /** {@link txn} in steps: yields inside its DeleteRanges as {@link deleteRangeSteps}. */
  *txnSteps(
    req: TxnRequest,
    opts: { budget?: ReadBudget; maxOps?: number } = {},
    stepKeys = STEP_KEYS,
  ): Generator<void, TxnResult, void> {
    checkTxnRequest(req, opts.maxOps);
    return yield* this.#runSteps(false, (ctx) => this.#txnBody(ctx, req, opts.budget, stepKeys));
  }

  *#txnBody(
    ctx: TxnCtx,
    req: TxnRequest,
    budget: ReadBudget | undefined,
    stepKeys: number,
  ): Generator<void, TxnResult, void> {
    const path = this.#txnPath(ctx, req, budget);
    const result = yield* this.#execTxnSteps(ctx, req, path, { i: 0 }, stepKeys);
    result.header.revision = BigInt(ctx.beginRev + (ctx.sub > 0 ? 1 : 0));
    return result;
  }

  /** A txn's compares (the branch taken at each level) and etcd's checks, before effects. */
  #txnPath(ctx: TxnCtx, req: TxnRequest, budget: ReadBudget | undefined): boolean[] {
    ctx.budget = budget;
    const path: boolean[] = [];
    compareToPath(this.#view, req, path);
    if (!isTxnReadonly(req)) this.#checkTxn(req, path, { i: 0 }, "put");
    this.#checkTxn(req, path, { i: 0 }, "range");
    return path;
  }

  /** etcd Range at this write's state (sees its earlier writes). */
  range(req: RangeRequest): RangeResult {
    checkRangeRequest(req);
    return executeRange(this.#view, req, this.#rev, this.#compactRev);
  }

  /**
   * etcd Compact: from now on revisions below `revision` are unreadable; the history they
   * hold is removed later by the store's compactor. Does not change the revision.
   * Throws ErrCompacted if `revision` <= the compact revision, ErrFutureRev if it is
   * above the current revision.
   */
  compact(revision: bigint): CompactResult {
    this.#live();
    if (revision <= BigInt(this.#compactRev)) throw new StorageError("ErrCompacted");
    if (revision > BigInt(this.#rev)) throw new StorageError("ErrFutureRev");
    this.#compactRev = Number(revision);
    return { header: { revision: BigInt(this.#rev) } };
  }

  /**
   * Delete the given keys (those that exist) in one revision, in key order — what a lease
   * revocation does with its attached keys. No revision if none exists.
   */
  deleteKeys(keys: readonly Uint8Array[]): DeleteRangeResult {
    const sorted = [...keys].sort(compareBytes);
    return this.#run(true, (ctx) => {
      let deleted = 0;
      let last: Uint8Array | undefined;
      for (const key of sorted) {
        if (last && compareBytes(last, key) === 0) continue;
        last = key;
        const cur = this.#view.get("kv", key);
        if (cur) {
          this.#deleteOne(ctx, key, cur);
          deleted++;
        }
      }
      return {
        header: { revision: BigInt(ctx.beginRev + (ctx.sub > 0 ? 1 : 0)) },
        deleted: BigInt(deleted),
        prevKvs: [],
      };
    });
  }

  /** Keys attached to `lease`, in key order, including this write's changes. */
  keysOfLease(lease: bigint): Buffer[] {
    this.#live();
    return keysOfLease(this.#view, lease);
  }

  /**
   * End the write: returns the batch (with the MVCC meta updates added) and the events.
   * The caller MUST write the batch (`engine.write`) before the next store operation;
   * from now on the store reports the new revision. The store's commit listeners are not
   * called (the caller has the events). Prefer {@link commit}.
   */
  finish(): FinishedWrite {
    this.#live();
    this.#done = true;
    const evs = this.#events;
    for (let i = 0; i < evs.length; i += MAX_CHUNK_ENTRIES) {
      const to = Math.min(evs.length, i + MAX_CHUNK_ENTRIES);
      this.batch.put(
        "revs",
        encodeRevision(evs[i]!.revision, evs[i]!.sub),
        encodeChunk(evs, i, to),
      );
    }
    if (this.#rev !== this.#startRev) this.batch.put("kvmeta", META_REV, encodeInt(this.#rev));
    if (this.#compactRev !== this.#startCompactRev) {
      if (failpointsActive) failpoint("compactBeforeCommitScheduledCompact");
      this.batch.put("kvmeta", META_COMPACT, encodeInt(this.#compactRev));
    }
    const out: FinishedWrite = {
      batch: this.batch,
      events: this.#events,
      revision: BigInt(this.#rev),
      compactRevision: BigInt(this.#compactRev),
    };
    this.#host.finishWrite(this, out, this.#rev, this.#compactRev);
    return out;
  }

  /**
   * {@link finish}, write the batch (applied to RocksDB before this returns), notify the
   * store's commit listeners, and resolve once the batch is durable (`sync: true`) or
   * written.
   */
  commit(opts: { sync: boolean }): Promise<FinishedWrite> {
    const out = this.finish();
    return this.#host.writeBatch(out, opts.sync).then(() => out);
  }

  /** Drop the write: nothing of it reaches the store; the batch is cleared. */
  abort(): void {
    if (this.#done) return;
    this.#done = true;
    this.batch.clear();
    this.#host.abortWrite(this);
  }

  /** Whether finish/commit/abort has been called. */
  get done(): boolean {
    return this.#done;
  }

  #live(): void {
    if (this.#done) throw new StorageBugError("MVCC write already finished");
  }

  /**
   * Run one transaction. `direct`: the operation cannot fail after its first write, so
   * writes go straight to the batch (no staging, no undo log).
   */
  #run<T>(direct: boolean, fn: (ctx: TxnCtx) => T): T {
    const { ctx, mark } = this.#enter(direct);
    let result: T;
    try {
      result = fn(ctx);
    } catch (e) {
      this.#abandon(direct, ctx, mark, e);
      throw e;
    } finally {
      this.#view.direct = false;
    }
    this.#leave(direct, ctx);
    return result;
  }

  /** {@link #run} of a transaction that yields (see {@link deleteRangeSteps}). */
  *#runSteps<T>(
    direct: boolean,
    fn: (ctx: TxnCtx) => Generator<void, T, void>,
  ): Generator<void, T, void> {
    const { ctx, mark } = this.#enter(direct);
    let result: T;
    try {
      result = yield* fn(ctx);
    } catch (e) {
      this.#abandon(direct, ctx, mark, e);
      throw e;
    } finally {
      this.#view.direct = false;
    }
    this.#leave(direct, ctx);
    return result;
  }

  /** Starts a transaction of {@link #run} / {@link #runSteps}. */
  #enter(direct: boolean): { ctx: TxnCtx; mark: number } {
    this.#live();
    const ctx: TxnCtx = { beginRev: this.#rev, sub: 0, events: this.#events };
    this.#view.direct = direct;
    return { ctx, mark: this.#events.length };
  }

  /** A transaction failed: undo its staged writes and events (a direct one cannot be). */
  #abandon(direct: boolean, ctx: TxnCtx, mark: number, cause: unknown): void {
    if (!direct) this.#view.rollbackStaged();
    else if (ctx.sub > 0) {
      throw new StorageBugError("a direct write failed after writing", { cause });
    }
    this.#events.length = mark;
  }

  /** A transaction succeeded: keep its staged writes; it took a revision if it wrote. */
  #leave(direct: boolean, ctx: TxnCtx): void {
    if (!direct) this.#view.commitStaged();
    if (ctx.sub > 0) this.#rev = ctx.beginRev + 1;
  }

  #execPut(ctx: TxnCtx, req: PutRequest): PutResult {
    const view = this.#view;
    const key = req.key;
    const s = byteString(key);
    const prevBytes = view.getWithString("kv", key, s);
    if ((req.ignoreValue || req.ignoreLease) && !prevBytes) {
      throw new StorageError("ErrKeyNotFound");
    }
    const prev = prevBytes ? decodeRecord(prevBytes) : undefined;
    const rev = ctx.beginRev + 1;
    const sub = ctx.sub++;
    const value = req.ignoreValue && prev ? prev.value : (req.value ?? EMPTY);
    const lease = req.ignoreLease && prev ? prev.lease : (req.lease ?? 0n);
    const rec = encodePut(
      prev ? prev.create : rev,
      rev,
      sub,
      prev ? prev.version + 1 : 1,
      lease,
      value,
    );
    if (prev) view.put("history", encodeKeyRevisionDesc(key, prev.mod, prev.sub), prev.bytes);
    view.put("kv", key, rec, s);
    const oldLease = prev ? prev.lease : 0n;
    if (oldLease !== lease) {
      if (oldLease !== 0n) view.put("leasekeys", leaseKey(oldLease, key), null);
      if (lease !== 0n) view.put("leasekeys", leaseKey(lease, key), EMPTY);
    }
    // The event's prev is etcd's watch prev_kv: none for a creation; otherwise the
    // version before this txn, which is prevBytes (a txn cannot put one key twice).
    ctx.events.push(
      new StoredEvent(
        "PUT",
        key,
        rev,
        sub,
        rec,
        prev && prevBytes && prev.put && recordVersion(rec) > 1 ? prevBytes : undefined,
      ),
    );
    const result: PutResult = { header: { revision: BigInt(rev) } };
    if (req.prevKv && prevBytes) result.prevKv = toKeyValue(key, prevBytes);
    return result;
  }

  #deleteOne(ctx: TxnCtx, key: Uint8Array, cur: Buffer): void {
    const view = this.#view;
    const rev = ctx.beginRev + 1;
    const sub = ctx.sub++;
    // `cur` is a put record (the live version); read what is needed without decoding it.
    const lease = recordLease(cur);
    const mod = recordMod(cur);
    view.put("history", encodeKeyRevisionDesc(key, mod, recordSub(cur)), cur);
    view.put("history", encodeKeyRevisionDesc(key, rev, sub), encodeTombstone(rev, sub));
    view.put("kv", key, null);
    if (lease !== 0n) view.put("leasekeys", leaseKey(lease, key), null);
    // The event's prev is the version before this txn (etcd's watch reads revision - 1):
    // `cur`, unless this txn wrote it (etcd lets a "\0"-ended delete follow a put).
    const before = mod <= ctx.beginRev ? cur : versionAt(view, key, ctx.beginRev);
    ctx.events.push(new StoredEvent("DELETE", key, rev, sub, undefined, before));
  }

  #execDelete(ctx: TxnCtx, req: DeleteRangeRequest): DeleteRangeResult {
    const targets = liveEntries(this.#view, req.key, req.rangeEnd);
    const prevKvs: KeyValue[] = req.prevKv ? targets.map(([k, v]) => toKeyValue(k, v)) : [];
    for (const [k, v] of targets) this.#deleteOne(ctx, k, v);
    const n = targets.length;
    return {
      header: { revision: BigInt(ctx.beginRev + (n !== 0 || ctx.sub > 0 ? 1 : 0)) },
      deleted: BigInt(n),
      prevKvs,
    };
  }

  /** {@link #execDelete} yielding every `stepKeys` keys read and deleted. */
  *#execDeleteSteps(
    ctx: TxnCtx,
    req: DeleteRangeRequest,
    stepKeys: number,
  ): Generator<void, DeleteRangeResult, void> {
    const view = this.#view;
    const span = spanOf(req.key, req.rangeEnd);
    const targets =
      span === undefined
        ? liveEntries(view, req.key, req.rangeEnd)
        : yield* liveEntriesSteps(view, span, stepKeys);
    this.#live();
    const prevKvs: KeyValue[] = req.prevKv ? targets.map(([k, v]) => toKeyValue(k, v)) : [];
    for (let i = 0; i < targets.length; i++) {
      this.#deleteOne(ctx, targets[i]![0], targets[i]![1]);
      if ((i + 1) % stepKeys === 0 && i + 1 < targets.length) {
        yield;
        this.#live();
      }
    }
    const n = targets.length;
    return {
      header: { revision: BigInt(ctx.beginRev + (n !== 0 || ctx.sub > 0 ? 1 : 0)) },
      deleted: BigInt(n),
      prevKvs,
    };
  }

  #execRange(ctx: TxnCtx, req: RangeRequest): RangeResult {
    return executeRange(
      this.#view,
      req,
      ctx.beginRev + (ctx.sub > 0 ? 1 : 0),
      this.#compactRev,
      ctx.budget,
    );
  }

  /** etcd's checkTxn along the chosen path, before any effect. */
  #checkTxn(r: TxnRequest, path: boolean[], at: { i: number }, what: "put" | "range"): void {
    const ops = path[at.i++] ? (r.success ?? []) : (r.failure ?? []);
    for (const u of ops) {
      const req = u.request;
      if (req?.$case === "requestPut" && what === "put") {
        const p = req.value;
        if ((p.ignoreValue || p.ignoreLease) && !this.#view.get("kv", p.key)) {
          throw new StorageError("ErrKeyNotFound");
        }
        const lease = p.lease ?? 0n;
        if (lease !== 0n && !this.#host.leaseExists(lease)) {
          throw new StorageError("ErrLeaseNotFound");
        }
      } else if (req?.$case === "requestRange" && what === "range") {
        const rev = req.value.revision ?? 0n;
        if (rev !== 0n) {
          if (rev > BigInt(this.#rev)) throw new StorageError("ErrFutureRev");
          if (rev < BigInt(this.#compactRev)) throw new StorageError("ErrCompacted");
        }
      } else if (req?.$case === "requestTxn") {
        this.#checkTxn(req.value, path, at, what);
      }
    }
  }

  #execTxn(ctx: TxnCtx, r: TxnRequest, path: boolean[], at: { i: number }): TxnResult {
    const succeeded = path[at.i++]!;
    const ops = succeeded ? (r.success ?? []) : (r.failure ?? []);
    const responses: ResponseOp[] = [];
    for (const u of ops) {
      const req = u.request;
      if (req?.$case === "requestDeleteRange") {
        const value = this.#execDelete(ctx, req.value);
        responses.push({ response: { $case: "responseDeleteRange", value } });
      } else if (req?.$case === "requestTxn") {
        const value = this.#execTxn(ctx, req.value, path, at);
        responses.push({ response: { $case: "responseTxn", value } });
      } else {
        responses.push(this.#execReadOrPut(ctx, u));
      }
    }
    // A nested txn's header revision stays 0, as in etcd; the caller sets the top one.
    return { header: { revision: 0n }, succeeded, responses };
  }

  /** {@link #execTxn} yielding inside its DeleteRanges. */
  *#execTxnSteps(
    ctx: TxnCtx,
    r: TxnRequest,
    path: boolean[],
    at: { i: number },
    stepKeys: number,
  ): Generator<void, TxnResult, void> {
    const succeeded = path[at.i++]!;
    const ops = succeeded ? (r.success ?? []) : (r.failure ?? []);
    const responses: ResponseOp[] = [];
    for (const u of ops) {
      const req = u.request;
      if (req?.$case === "requestDeleteRange") {
        const value = yield* this.#execDeleteSteps(ctx, req.value, stepKeys);
        responses.push({ response: { $case: "responseDeleteRange", value } });
      } else if (req?.$case === "requestTxn") {
        const value = yield* this.#execTxnSteps(ctx, req.value, path, at, stepKeys);
        responses.push({ response: { $case: "responseTxn", value } });
      } else {
        responses.push(this.#execReadOrPut(ctx, u));
      }
    }
    return { header: { revision: 0n }, succeeded, responses };
  }

  /** A txn's Range or Put op. */
  #execReadOrPut(ctx: TxnCtx, u: RequestOp): ResponseOp {
    const req = u.request;
    if (req?.$case === "requestRange") {
      return { response: { $case: "responseRange", value: this.#execRange(ctx, req.value) } };
    }
    if (req?.$case === "requestPut") {
      return { response: { $case: "responsePut", value: this.#execPut(ctx, req.value) } };
    }
    throw new StorageBugError("empty txn op passed validation");
  }
}

/** Keys attached to `lease` in `view`, in key order. */
export function keysOfLease(view: KvView, lease: bigint): Buffer[] {
  const { start, end } = leaseSpan(lease);
  const out: Buffer[] = [];
  const c = view.cursor("leasekeys", start, end, true);
  try {
    for (let e = c.next(); e !== undefined; e = c.next()) out.push(e[0].subarray(8));
  } finally {
    c.close();
  }
  return out;
}
