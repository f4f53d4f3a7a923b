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
import {
  LeaseAlreadyExistsError,
  STORAGE_ERRORS,
  StorageError,
  type StorageErrorName,
} from "@chainfire/storage";

/**
 * Not one of etcd's errors (so not in packages/api's table): a read larger than
 * --max-response-bytes (storage's ReadBudget). RESOURCE_EXHAUSTED, the code gRPC itself
 * uses for a message over its size limit.
 */
export const ErrResponseTooLarge: EtcdErrorSpec = Object.freeze({
  name: "ErrResponseTooLarge",
  code: STORAGE_ERRORS.ErrResponseTooLarge.code,
  message: STORAGE_ERRORS.ErrResponseTooLarge.message,
});

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
  ErrResponseTooLarge,
};

/** The etcd error for an expected failure, or undefined if `err` is not one (a bug). */
export function toEtcdError(err: unknown): EtcdError | undefined {
  if (err instanceof EtcdError) return err;
  if (err instanceof StorageError) return new EtcdError(STORAGE_TO_ETCD[err.errorName]);
  if (err instanceof LeaseAlreadyExistsError) return new EtcdError(ErrLeaseExist);
  return undefined;
}
