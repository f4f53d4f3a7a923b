/**
 * A deliberately naive in-memory model of etcd's MVCC semantics, the reference the
 * model-based test compares MvccStore against. Every version of every key is kept in a
 * list; reads filter the lists. Written from etcd's behaviour (txn.go, kvstore_txn.go,
 * kvstore.go), not from the store's code. Request validation (validate.ts) is shared and
 * tested on its own.
 */
import { StorageError } from "../../errors.js";
import type {
  Compare,
  DeleteRangeRequest,
  DeleteRangeResult,
  KeyValue,
  MvccEvent,
  PutRequest,
  PutResult,
  RangeRequest,
  RangeResult,
  ResponseOp,
  TxnRequest,
  TxnResult,
} from "../types.js";
import {
  checkDeleteRequest,
  checkPutRequest,
  checkRangeRequest,
  checkTxnRequest,
  isTxnReadonly,
} from "../validate.js";

interface Version {
  main: number;
  sub: number;
  /** undefined: tombstone */
  kv: KeyValue | undefined;
}

const s = (b: Uint8Array) => Buffer.from(b).toString("latin1");
const b = (x: string) => Buffer.from(x, "latin1");
const EMPTY = new Uint8Array(0);

function cmpStr(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}
function cmpBig(x: bigint, y: bigint): number {
  return x < y ? -1 : x > y ? 1 : 0;
}
function cmpBytes(x: Uint8Array, y: Uint8Array): number {
  return Buffer.compare(x, y);
}

/** Which keys an etcd (key, range_end) selects, as a predicate on latin1 strings. */
function selector(key: Uint8Array, rangeEnd: Uint8Array | undefined): (k: string) => boolean {
  const start = s(key);
  if (!rangeEnd || rangeEnd.length === 0) return (k) => k === start;
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return (k) => k >= start;
  const end = s(rangeEnd);
  return (k) => k >= start && k < end;
}

interface Ctx {
  beginRev: number;
  sub: number;
  events: MvccEvent[];
}

export class Model {
  rev = 1;
  compactRev = -1;
  keys = new Map<string, Version[]>();
  leases: Set<bigint>;

  constructor(leases: Iterable<bigint>) {
    this.leases = new Set(leases);
  }

  clone(): Model {
    const m = new Model(this.leases);
    m.rev = this.rev;
    m.compactRev = this.compactRev;
    for (const [k, vs] of this.keys) m.keys.set(k, [...vs]);
    return m;
  }

  restore(from: Model): void {
    this.rev = from.rev;
    this.compactRev = from.compactRev;
    this.keys = from.keys;
  }

  /** The live KeyValue of k at main revision rev. */
  at(k: string, rev: number): KeyValue | undefined {
    const vs = this.keys.get(k);
    if (!vs) return undefined;
    let best: Version | undefined;
    for (const v of vs) if (v.main <= rev) best = v; // versions are appended in order
    return best?.kv;
  }

  liveAt(rev: number, sel: (k: string) => boolean): [string, KeyValue][] {
    const out: [string, KeyValue][] = [];
    for (const k of [...this.keys.keys()].sort(cmpStr)) {
      if (!sel(k)) continue;
      const kv = this.at(k, rev);
      if (kv) out.push([k, kv]);
    }
    return out;
  }

  // --- reads ---------------------------------------------------------------

  range(r: RangeRequest, curRev = this.rev): RangeResult {
    checkRangeRequest(r);
    const req = r.revision ?? 0n;
    if (req > BigInt(curRev)) throw new StorageError("ErrFutureRev");
    const rev = req <= 0n ? curRev : Number(req);
    if (rev < this.compactRev) throw new StorageError("ErrCompacted");
    const all = this.liveAt(rev, selector(r.key, r.rangeEnd)).map(([, kv]) => kv);
    const header = { revision: BigInt(curRev) };
    if (r.countOnly) return { header, kvs: [], more: false, count: BigInt(all.length) };
    // etcd fetches limit+1 keys (in key order) unless sorting was asked for or filters
    // are set; a sort target with order NONE then sorts only what was fetched.
    const limit = Number(r.limit ?? 0n);
    const filtered = !!(
      r.maxModRevision ||
      r.minModRevision ||
      r.maxCreateRevision ||
      r.minCreateRevision
    );
    const fetched = limit > 0 && !filtered && !r.sortOrder ? all.slice(0, limit + 1) : all;
    let kvs = fetched.filter(
      (kv) =>
        (!r.maxModRevision || kv.modRevision <= r.maxModRevision) &&
        (!r.minModRevision || kv.modRevision >= r.minModRevision) &&
        (!r.maxCreateRevision || kv.createRevision <= r.maxCreateRevision) &&
        (!r.minCreateRevision || kv.createRevision >= r.minCreateRevision),
    );
    const target = r.sortTarget ?? 0;
    let order = r.sortOrder ?? 0;
    if (target !== 0 && order === 0) order = 1;
    if (order !== 0) {
      const key = (kv: KeyValue) =>
        [kv.key, kv.version, kv.createRevision, kv.modRevision, kv.value][target]!;
      const cmp = (x: KeyValue, y: KeyValue) => {
        const a = key(x);
        const c = key(y);
        return typeof a === "bigint" ? cmpBig(a, c as bigint) : cmpBytes(a, c as Uint8Array);
      };
      // stable: ties stay in key order
      kvs = kvs
        .map((kv, i) => ({ kv, i }))
        .sort((x, y) => (order === 2 ? cmp(y.kv, x.kv) : cmp(x.kv, y.kv)) || x.i - y.i)
        .map((x) => x.kv);
    }
    const more = limit > 0 && kvs.length > limit;
    if (more) kvs = kvs.slice(0, limit);
    if (r.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: EMPTY }));
    return { header, kvs, more, count: BigInt(all.length) };
  }

  keysOfLease(lease: bigint): string[] {
    return this.liveAt(this.rev, () => true)
      .filter(([, kv]) => kv.lease === lease)
      .map(([k]) => k);
  }

  /** Events from `from` on (PUT/DELETE with prev), as etcd's watch would replay them. */
  changes(from: number): MvccEvent[] {
    if (from < this.compactRev) throw new StorageError("ErrCompacted");
    const all: { main: number; sub: number; k: string; v: Version; prev: KeyValue | undefined }[] =
      [];
    for (const [k, vs] of this.keys) {
      vs.forEach((v, i) => {
        if (v.main < from) return;
        if (v.main === this.compactRev) {
          // compaction keeps only a put that is the key's newest change at that revision
          const next = vs[i + 1];
          if (!v.kv || (next && next.main === v.main)) return;
        }
        const prev =
          v.main === this.compactRev || v.kv?.version === 1n ? undefined : this.at(k, v.main - 1);
        all.push({ main: v.main, sub: v.sub, k, v, prev });
      });
    }
    all.sort((x, y) => x.main - y.main || x.sub - y.sub);
    return all.map(({ main, k, v, prev }) => {
      const kv = v.kv ?? {
        key: b(k),
        createRevision: 0n,
        modRevision: BigInt(main),
        version: 0n,
        value: EMPTY,
        lease: 0n,
      };
      return prev
        ? { type: v.kv ? "PUT" : "DELETE", kv, prevKv: prev }
        : { type: v.kv ? "PUT" : "DELETE", kv };
    });
  }

  // --- writes --------------------------------------------------------------

  #run<T>(fn: (ctx: Ctx) => T): { result: T; events: MvccEvent[] } {
    const saved = this.clone();
    const ctx: Ctx = { beginRev: this.rev, sub: 0, events: [] };
    try {
      const result = fn(ctx);
      if (ctx.sub > 0) this.rev = ctx.beginRev + 1;
      return { result, events: ctx.events };
    } catch (e) {
      this.restore(saved);
      throw e;
    }
  }

  #record(ctx: Ctx, k: string, kv: KeyValue | undefined): void {
    const main = ctx.beginRev + 1;
    const sub = ctx.sub++;
    const vs = this.keys.get(k) ?? [];
    // etcd's watch prev_kv: the version at main - 1, none for a creation
    const prev = kv?.version === 1n ? undefined : this.at(k, main - 1);
    vs.push({ main, sub, kv });
    this.keys.set(k, vs);
    const kvOrTomb = kv ?? {
      key: b(k),
      createRevision: 0n,
      modRevision: BigInt(main),
      version: 0n,
      value: EMPTY,
      lease: 0n,
    };
    ctx.events.push(
      prev
        ? { type: kv ? "PUT" : "DELETE", kv: kvOrTomb, prevKv: prev }
        : { type: kv ? "PUT" : "DELETE", kv: kvOrTomb },
    );
  }

  #put(ctx: Ctx, r: PutRequest): PutResult {
    const k = s(r.key);
    const main = ctx.beginRev + 1;
    const prev = this.at(k, main);
    if ((r.ignoreValue || r.ignoreLease) && !prev) throw new StorageError("ErrKeyNotFound");
    const kv: KeyValue = {
      key: b(k),
      createRevision: prev ? prev.createRevision : BigInt(main),
      modRevision: BigInt(main),
      version: prev ? prev.version + 1n : 1n,
      value: r.ignoreValue ? prev!.value : (r.value ?? EMPTY),
      lease: r.ignoreLease ? prev!.lease : (r.lease ?? 0n),
    };
    this.#record(ctx, k, kv);
    return r.prevKv && prev
      ? { header: { revision: BigInt(main) }, prevKv: prev }
      : { header: { revision: BigInt(main) } };
  }

  #delete(ctx: Ctx, r: DeleteRangeRequest): DeleteRangeResult {
    const live = this.liveAt(ctx.beginRev + 1, selector(r.key, r.rangeEnd));
    for (const [k] of live) this.#record(ctx, k, undefined);
    return {
      header: { revision: BigInt(ctx.beginRev + (live.length || ctx.sub ? 1 : 0)) },
      deleted: BigInt(live.length),
      prevKvs: r.prevKv ? live.map(([, kv]) => kv) : [],
    };
  }

  put(r: PutRequest): { result: PutResult; events: MvccEvent[] } {
    checkPutRequest(r);
    return this.#run((ctx) => {
      if (r.lease && !this.leases.has(r.lease)) throw new StorageError("ErrLeaseNotFound");
      return this.#put(ctx, r);
    });
  }

  deleteRange(r: DeleteRangeRequest): { result: DeleteRangeResult; events: MvccEvent[] } {
    checkDeleteRequest(r);
    return this.#run((ctx) => this.#delete(ctx, r));
  }

  deleteKeys(keys: Uint8Array[]): { result: DeleteRangeResult; events: MvccEvent[] } {
    return this.#run((ctx) => {
      const ks = [...new Set(keys.map(s))].sort(cmpStr);
      let n = 0;
      for (const k of ks) {
        if (this.at(k, ctx.beginRev + 1)) {
          this.#record(ctx, k, undefined);
          n++;
        }
      }
      return {
        header: { revision: BigInt(ctx.beginRev + (ctx.sub ? 1 : 0)) },
        deleted: BigInt(n),
        prevKvs: [],
      };
    });
  }

  compact(rev: bigint): { header: { revision: bigint } } {
    if (rev <= BigInt(this.compactRev)) throw new StorageError("ErrCompacted");
    if (rev > BigInt(this.rev)) throw new StorageError("ErrFutureRev");
    this.compactRev = Number(rev);
    return { header: { revision: BigInt(this.rev) } };
  }

  #compare(c: Compare, rev: number): boolean {
    const live = this.liveAt(rev, selector(c.key, c.rangeEnd)).map(([, kv]) => kv);
    const test = (kv: KeyValue | undefined) => {
      const u = c.targetUnion;
      let res: number;
      switch (c.target) {
        case 0:
          res = cmpBig(kv?.version ?? 0n, u?.$case === "version" ? u.value : 0n);
          break;
        case 1:
          res = cmpBig(kv?.createRevision ?? 0n, u?.$case === "createRevision" ? u.value : 0n);
          break;
        case 2:
          res = cmpBig(kv?.modRevision ?? 0n, u?.$case === "modRevision" ? u.value : 0n);
          break;
        case 3:
          res = cmpBytes(kv?.value ?? EMPTY, u?.$case === "value" ? u.value : EMPTY);
          break;
        case 4:
          res = cmpBig(kv?.lease ?? 0n, u?.$case === "lease" ? u.value : 0n);
          break;
        default:
          res = 0;
      }
      return [res === 0, res > 0, res < 0, res !== 0][c.result] ?? true;
    };
    if (live.length === 0) return c.target === 3 ? false : test(undefined);
    return live.every(test);
  }

  txn(r: TxnRequest): { result: TxnResult; events: MvccEvent[] } {
    checkTxnRequest(r);
    return this.#run((ctx) => {
      // decide every branch first, against the state before the txn
      const path: boolean[] = [];
      const decide = (t: TxnRequest) => {
        const ok = (t.compare ?? []).every((c) => this.#compare(c, this.rev));
        path.push(ok);
        for (const u of ok ? (t.success ?? []) : (t.failure ?? [])) {
          if (u.request?.$case === "requestTxn") decide(u.request.value);
        }
      };
      decide(r);
      const check = (t: TxnRequest, at: { i: number }, what: string) => {
        for (const u of path[at.i++] ? (t.success ?? []) : (t.failure ?? [])) {
          const q = u.request;
          if (q?.$case === "requestTxn") check(q.value, at, what);
          else if (q?.$case === "requestPut" && what === "put") {
            if (
              (q.value.ignoreValue || q.value.ignoreLease) &&
              !this.at(s(q.value.key), this.rev)
            ) {
              throw new StorageError("ErrKeyNotFound");
            }
            if (q.value.lease && !this.leases.has(q.value.lease)) {
              throw new StorageError("ErrLeaseNotFound");
            }
          } else if (q?.$case === "requestRange" && what === "range") {
            const rv = q.value.revision ?? 0n;
            if (rv !== 0n && rv > BigInt(this.rev)) throw new StorageError("ErrFutureRev");
            if (rv !== 0n && rv < BigInt(this.compactRev)) throw new StorageError("ErrCompacted");
          }
        }
      };
      if (!isTxnReadonly(r)) check(r, { i: 0 }, "put");
      check(r, { i: 0 }, "range");
      const exec = (t: TxnRequest, at: { i: number }): TxnResult => {
        const succeeded = path[at.i++]!;
        const responses: ResponseOp[] = [];
        for (const u of succeeded ? (t.success ?? []) : (t.failure ?? [])) {
          const q = u.request!;
          if (q.$case === "requestRange") {
            const cur = ctx.beginRev + (ctx.sub ? 1 : 0);
            responses.push({
              response: { $case: "responseRange", value: this.range(q.value, cur) },
            });
          } else if (q.$case === "requestPut") {
            responses.push({ response: { $case: "responsePut", value: this.#put(ctx, q.value) } });
          } else if (q.$case === "requestDeleteRange") {
            responses.push({
              response: { $case: "responseDeleteRange", value: this.#delete(ctx, q.value) },
            });
          } else {
            responses.push({ response: { $case: "responseTxn", value: exec(q.value, at) } });
          }
        }
        return { header: { revision: 0n }, succeeded, responses };
      };
      const res = exec(r, { i: 0 });
      res.header.revision = BigInt(ctx.beginRev + (ctx.sub ? 1 : 0));
      return res;
    });
  }
}
