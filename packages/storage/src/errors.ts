/**
 * Expected failures of the storage layer, as typed errors carrying etcd's gRPC status code
 * and its exact message (etcd v3.5 `api/v3rpc/rpctypes/error.go`, byte for byte). The
 * names match packages/api's error table (`ErrCompacted`, ...), so the server translates
 * them by name in its one table at the edge. The storage package does not import
 * packages/api; the codes are grpc-js's `status` numbers.
 *
 * ```ts
 * try { store.range({ key, revision: 3n }); }
 * catch (e) { if (isStorageError(e, "ErrCompacted")) ... }
 * ```
 *
 * Bad input never changes anything: every check runs before the first effect.
 */

/** gRPC status codes used by storage errors (same numbers as grpc-js's `status`). */
export const GrpcCode = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  FAILED_PRECONDITION: 9,
  OUT_OF_RANGE: 11,
  RESOURCE_EXHAUSTED: 8,
} as const;

/** One of {@link GrpcCode}'s values. */
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

/** Every storage error: its gRPC code and etcd's message. */
export const STORAGE_ERRORS = {
  ErrEmptyKey: { code: GrpcCode.INVALID_ARGUMENT, message: "etcdserver: key is not provided" },
  ErrKeyNotFound: { code: GrpcCode.INVALID_ARGUMENT, message: "etcdserver: key not found" },
  ErrValueProvided: { code: GrpcCode.INVALID_ARGUMENT, message: "etcdserver: value is provided" },
  ErrLeaseProvided: { code: GrpcCode.INVALID_ARGUMENT, message: "etcdserver: lease is provided" },
  ErrTooManyOps: {
    code: GrpcCode.INVALID_ARGUMENT,
    message: "etcdserver: too many operations in txn request",
  },
  ErrDuplicateKey: {
    code: GrpcCode.INVALID_ARGUMENT,
    message: "etcdserver: duplicate key given in txn request",
  },
  ErrInvalidSortOption: {
    code: GrpcCode.INVALID_ARGUMENT,
    message: "etcdserver: invalid sort option",
  },
  ErrCompacted: {
    code: GrpcCode.OUT_OF_RANGE,
    message: "etcdserver: mvcc: required revision has been compacted",
  },
  ErrFutureRev: {
    code: GrpcCode.OUT_OF_RANGE,
    message: "etcdserver: mvcc: required revision is a future revision",
  },
  ErrLeaseNotFound: { code: GrpcCode.NOT_FOUND, message: "etcdserver: requested lease not found" },
  /**
   * Not etcd's (etcd 3.4 sends ranges of any size, up to gRPC's 2 GiB): a read whose
   * KeyValues would pass the server's response budget (--max-response-bytes). See
   * {@link ReadBudget}.
   */
  ErrResponseTooLarge: {
    code: GrpcCode.RESOURCE_EXHAUSTED,
    message:
      "chainfire: range response is too large (see --max-response-bytes); use limit to paginate",
  },
} as const satisfies Record<string, { code: GrpcCode; message: string }>;

/** The name of a storage error, e.g. `"ErrCompacted"`. */
export type StorageErrorName = keyof typeof STORAGE_ERRORS;

/** An expected, client-visible storage failure (see {@link STORAGE_ERRORS}). */
export class StorageError extends Error {
  override readonly name = "StorageError";
  /** The etcd error name, e.g. `"ErrDuplicateKey"`. */
  readonly errorName: StorageErrorName;
  /** The gRPC status code etcd answers with. */
  readonly code: GrpcCode;

  constructor(errorName: StorageErrorName) {
    const spec = STORAGE_ERRORS[errorName];
    super(spec.message);
    this.errorName = errorName;
    this.code = spec.code;
  }
}

/** Build the storage error `name`. */
export function storageError(name: StorageErrorName): StorageError {
  return new StorageError(name);
}

/** Whether `e` is a {@link StorageError} (of the given name, if any). */
export function isStorageError(e: unknown, name?: StorageErrorName): e is StorageError {
  return e instanceof StorageError && (name === undefined || e.errorName === name);
}

/**
 * A broken invariant inside storage (a bug or on-disk corruption). Nothing should catch
 * it; the member must stop.
 */
export class StorageBugError extends Error {
  override readonly name = "StorageBugError";
}
