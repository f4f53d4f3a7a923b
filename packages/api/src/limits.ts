/**
 * etcd's request limits and defaults that clients can observe. Each can be changed
 * by the flag named beside it, as in etcd; these are the values when it is not given.
 *
 * @module
 */

/**
 * Largest request a member accepts, in bytes (`--max-request-bytes`): 1.5 MiB.
 * Larger requests fail with ErrRequestTooLarge.
 */
export const DefaultMaxRequestBytes = 1_572_864;

/**
 * Room added to {@link DefaultMaxRequestBytes} (or the configured value) for the
 * gRPC server's maximum receive message size, so that a request just under the
 * limit is refused by etcd's check, with etcd's error text, rather than by gRPC:
 * 512 KiB, as etcd uses.
 */
export const GrpcOverheadBytes = 512 * 1024;

/**
 * Most operations in one transaction branch (`--max-txn-ops`): 128. More fail with
 * ErrTooManyOps.
 */
export const DefaultMaxTxnOps = 128;

/**
 * Backend size at which the NOSPACE alarm is raised and writes are refused
 * (`--quota-backend-bytes`): 2 GiB.
 */
export const DefaultQuotaBackendBytes = 2 * 1024 * 1024 * 1024;
