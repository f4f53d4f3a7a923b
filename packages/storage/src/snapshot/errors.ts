/** Typed errors of the state-snapshot module. */

/** The stream's SHA-256 does not match its contents; nothing was installed. */
export class SnapshotChecksumError extends Error {
  override readonly name = "SnapshotChecksumError";
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`snapshot checksum mismatch: stream says ${expected}, contents hash to ${actual}`);
  }
}

/** The stream is not a Chainfire state snapshot, is truncated, or is malformed. */
export class SnapshotFormatError extends Error {
  override readonly name = "SnapshotFormatError";
}

/** Reading the source database or writing the restored one failed (see `cause`). */
export class SnapshotIoError extends Error {
  override readonly name = "SnapshotIoError";
}
