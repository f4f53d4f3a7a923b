/**
 * Exit codes scripts can rely on. They are etcdctl's (`etcdctl/ctlv3/command/error.go`),
 * so scripts written for etcdctl keep working.
 *
 * @module
 */
import {
  AbortError,
  DeadlineExceededError,
  InvalidArgumentError,
  SnapshotIntegrityError,
  UnavailableError,
} from "../errors.js";

/** Success. */
export const ExitSuccess = 0;
/** The server refused the request, or the result is negative (e.g. an unhealthy endpoint). */
export const ExitError = 1;
/** No endpoint could be reached (or answered in time). */
export const ExitBadConnection = 2;
/** The input was invalid (bad txn syntax, bad id, refused as invalid by the server). */
export const ExitInvalidInput = 3;
/** The feature is not supported. */
export const ExitBadFeature = 4;
/** Interrupted (SIGINT). */
export const ExitInterrupted = 5;
/** A local file could not be read or written, or a snapshot was corrupt. */
export const ExitIO = 6;
/** Bad command-line arguments (usage error). */
export const ExitBadArgs = 128;

/** An error the tool raises itself, with the exit code it means. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** The exit code an error stands for. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof CliError) return error.exitCode;
  if (error instanceof AbortError) return ExitInterrupted;
  if (error instanceof UnavailableError || error instanceof DeadlineExceededError)
    return ExitBadConnection;
  if (error instanceof InvalidArgumentError) return ExitInvalidInput;
  if (error instanceof SnapshotIntegrityError) return ExitIO;
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return ExitIO; // Node fs errors
  return ExitError;
}
