/**
 * Revoking a lease with its attached keys, in one batch: what the apply path does for a
 * LeaseRevoke entry (and for an expiry the leader proposed). The keys are deleted in one
 * MVCC revision (DELETE events for watchers), then the lease record, all in the MVCC
 * write's batch, so the revocation is atomic with the applied index (DESIGN.md rule 3).
 */
import type { WriteBatch } from "../engine.js";
import type { LeaseRecord, LeaseStore } from "./lease-store.js";

/** The part of the MVCC store's open write (mvcc/write.ts MvccWrite) a revoke uses. */
export interface LeaseKeysWrite {
  readonly batch: WriteBatch;
  /** The store revision including this write's transactions so far. */
  readonly revision: bigint;
  /** Keys attached to the lease, including earlier changes of this write. */
  keysOfLease(lease: bigint): Uint8Array[];
  /** Deletes the keys that exist in one revision. */
  deleteKeys(keys: readonly Uint8Array[]): { deleted: bigint; header: { revision: bigint } };
}

/** What a revoke did. */
export interface RevokeResult {
  lease: LeaseRecord;
  /** Keys deleted (those attached to the lease). */
  deleted: bigint;
  /** The store revision after the revoke (unchanged if no key was attached). */
  revision: bigint;
}

/**
 * Revokes lease `id`: deletes its attached keys and its record in `w.batch`. Throws
 * StorageError ErrLeaseNotFound, changing nothing, if the lease does not exist.
 */
export function revokeLease(w: LeaseKeysWrite, leases: LeaseStore, id: bigint): RevokeResult {
  const lease = leases.revoke(w.batch, id); // throws before any effect if unknown
  const keys = w.keysOfLease(id);
  const deleted = keys.length > 0 ? w.deleteKeys(keys).deleted : 0n;
  return { lease, deleted, revision: w.revision };
}
