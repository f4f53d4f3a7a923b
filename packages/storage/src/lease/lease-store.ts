/**
 * LeaseStore: the lease table (etcd's lessor's durable part) in the `lease` column family.
 *
 * | key          | value                                                            |
 * | ------------ | ---------------------------------------------------------------- |
 * | u64be id     | i64be granted TTL (s), i64be remaining TTL checkpoint (s, 0: none) |
 *
 * Which keys are attached to a lease is the MVCC store's business (its lease → keys
 * index); revoking a lease deletes those keys and this record in one batch (see
 * ./revoke.ts). Expiry timers are the server's (the leader proposes revocations).
 *
 * All leases are loaded at {@link LeaseStore.open} (the table is small next to the keys)
 * and read from memory. Writes go into the caller's batch; the in-memory table reflects
 * them at once (later entries of the same batch see them). `commit(batch)` after the
 * write, or `abort(batch)` to undo a batch that will not be written.
 */
import type { Engine, WriteBatch } from "../engine.js";
import { StorageError } from "../errors.js";
import { BatchUndo } from "../meta/batch-undo.js";
import { ByteReader, ByteWriter, readId, writeId } from "../raft-log/binary.js";

/** One lease. TTLs are in seconds, as in etcd's API. */
export interface LeaseRecord {
  id: bigint;
  /** The TTL granted (and restored on every keep-alive). */
  ttl: number;
  /** The remaining TTL at the last checkpoint; 0 if never checkpointed. */
  remainingTtl: number;
}

/** Granting a lease id that exists (etcd: FailedPrecondition "lease already exists"). */
export class LeaseAlreadyExistsError extends Error {
  override readonly name = "LeaseAlreadyExistsError";
  /** gRPC FAILED_PRECONDITION. */
  readonly code = 9;
  constructor(readonly id: bigint) {
    super("etcdserver: lease already exists");
  }
}

/** Loading the lease table failed (I/O or a record that does not decode; see cause). */
export class LeaseIoError extends Error {
  override readonly name = "LeaseIoError";
}

export function leaseKey(id: bigint): Buffer {
  const k = Buffer.allocUnsafe(8);
  writeId(k, 0, id);
  return k;
}

export function encodeLease(l: LeaseRecord): Buffer {
  return new ByteWriter(16).i64(l.ttl).i64(l.remainingTtl).finish();
}

export function decodeLease(key: Uint8Array, value: Uint8Array): LeaseRecord {
  const r = new ByteReader(value, "lease");
  const rec = { id: BigInt.asIntN(64, readId(key, 0)), ttl: r.i64(), remainingTtl: r.i64() };
  r.end();
  return rec;
}

export class LeaseStore {
  private readonly leases = new Map<bigint, LeaseRecord>();
  private readonly undo = new BatchUndo();

  /** Loads every lease record. */
  static async open(engine: Engine): Promise<LeaseStore> {
    const s = new LeaseStore();
    try {
      for await (const [k, v] of engine.iterate("lease")) {
        const rec = decodeLease(k, v);
        s.leases.set(rec.id, rec);
      }
    } catch (err) {
      throw new LeaseIoError("cannot load the lease table", { cause: err });
    }
    return s;
  }

  get size(): number {
    return this.leases.size;
  }

  has(id: bigint): boolean {
    return this.leases.has(id);
  }

  get(id: bigint): LeaseRecord | undefined {
    const l = this.leases.get(id);
    return l ? { ...l } : undefined;
  }

  /** Every lease, by id ascending. */
  list(): LeaseRecord[] {
    return [...this.leases.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((l) => ({ ...l }));
  }

  /** Creates lease `id` with `ttl` seconds. Throws {@link LeaseAlreadyExistsError}. */
  grant(batch: WriteBatch, id: bigint, ttl: number): LeaseRecord {
    if (this.leases.has(id)) throw new LeaseAlreadyExistsError(id);
    const rec: LeaseRecord = { id, ttl, remainingTtl: 0 };
    this.write(batch, rec);
    return { ...rec };
  }

  /**
   * Deletes lease `id`'s record (its attached keys are deleted by the caller in the same
   * batch; see ./revoke.ts). Throws StorageError ErrLeaseNotFound for an unknown lease.
   */
  revoke(batch: WriteBatch, id: bigint): LeaseRecord {
    const prev = this.leases.get(id);
    if (!prev) throw new StorageError("ErrLeaseNotFound");
    batch.del("lease", leaseKey(id));
    this.leases.delete(id);
    this.undo.record(batch, () => this.leases.set(id, prev));
    return { ...prev };
  }

  /**
   * Persists the remaining TTL of lease `id` (etcd's LeaseCheckpoint), so a new leader
   * does not restart it from the full TTL. Returns false (and writes nothing) if the lease
   * no longer exists, as etcd ignores checkpoints of revoked leases.
   */
  checkpoint(batch: WriteBatch, id: bigint, remainingTtl: number): boolean {
    const prev = this.leases.get(id);
    if (!prev) return false;
    this.write(batch, { ...prev, remainingTtl });
    return true;
  }

  /**
   * Resets lease `id`'s checkpoint after a keep-alive (remaining TTL back to "none"), if
   * one was recorded. Returns false for an unknown lease.
   */
  renew(batch: WriteBatch, id: bigint): boolean {
    const prev = this.leases.get(id);
    if (!prev) return false;
    if (prev.remainingTtl !== 0) this.write(batch, { ...prev, remainingTtl: 0 });
    return true;
  }

  /** Call once `batch` is written. */
  commit(batch: WriteBatch): void {
    this.undo.commit(batch);
  }

  /** Undo what was staged in `batch` (it will not be written). */
  abort(batch: WriteBatch): void {
    this.undo.abort(batch);
  }

  private write(batch: WriteBatch, rec: LeaseRecord): void {
    batch.put("lease", leaseKey(rec.id), encodeLease(rec));
    const prev = this.leases.get(rec.id);
    this.leases.set(rec.id, rec);
    this.undo.record(batch, () => {
      if (prev) this.leases.set(rec.id, prev);
      else this.leases.delete(rec.id);
    });
  }
}
