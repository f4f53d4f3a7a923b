/** Typed errors of the state-snapshot module. */

/** The stream's SHA-256 (or a frame's CRC-32) does not match its contents. */
export class SnapshotChecksumError extends Error {
  override readonly name = "SnapshotChecksumError";
  constructor(
    readonly expected: string,
    readonly actual: string,
    /** Where: the whole stream (SHA-256) or one frame (CRC-32). */
    readonly where = "stream",
  ) {
    super(
      `snapshot checksum mismatch (${where}): stream says ${expected}, contents hash to ${actual}`,
    );
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
