/**
 * The one table that turns expected failures from the layers below (storage's typed
 * errors, the lease table's) into etcd's client-visible errors. Anything not in the table
 * is not an expected outcome: callers treat it as a bug.
 */
import {
  ErrCompacted,
  ErrDuplicateKey,
  ErrEmptyKey,
  ErrFutureRev,
  ErrInvalidSortOption,
  ErrKeyNotFound,
  ErrLeaseExist,
  ErrLeaseNotFound,
  ErrLeaseProvided,
  ErrTooManyOps,
  ErrValueProvided,
  EtcdError,
  type EtcdErrorSpec,
} from "@chainfire/api";
import { LeaseAlreadyExistsError, StorageError, type StorageErrorName } from "@chainfire/storage";

const STORAGE_TO_ETCD: Record<StorageErrorName, EtcdErrorSpec> = {
  ErrEmptyKey,
  ErrKeyNotFound,
  ErrValueProvided,
  ErrLeaseProvided,
  ErrTooManyOps,
  ErrDuplicateKey,
  ErrInvalidSortOption,
  ErrCompacted,
  ErrFutureRev,
  ErrLeaseNotFound,
};

/** The etcd error for an expected failure, or undefined if `err` is not one (a bug). */
export function toEtcdError(err: unknown): EtcdError | undefined {
  if (err instanceof EtcdError) return err;
  if (err instanceof StorageError) return new EtcdError(STORAGE_TO_ETCD[err.errorName]);
  if (err instanceof LeaseAlreadyExistsError) return new EtcdError(ErrLeaseExist);
  return undefined;
}
