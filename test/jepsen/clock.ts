/**
 * Clock jumps for members: each member runs with libfaketime preloaded (Debian's
 * `faketime` package) reading its offset from a file of its own, so a nemesis can step
 * one member's wall clock forward or back while it runs — as a bad NTP step would. The
 * monotonic clock is left alone (`FAKETIME_DONT_FAKE_MONOTONIC=1`): timers and timeouts
 * must not care about the wall clock, and this is what the nemesis tests.
 *
 * Works for Chainfire (Node reads the clock through libc); etcd's Go runtime reads it
 * through the vDSO without libc, so there the nemesis is skipped.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const LIBRARIES = [
  "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
  "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
];

/** The libfaketime path, or undefined when it is not installed. */
export function faketimeLibrary(): string | undefined {
  return LIBRARIES.find((path) => existsSync(path));
}

export class MemberClocks {
  private readonly dir = mkdtempSync(join(tmpdir(), "cf-clock-"));
  private closed = false;

  constructor(
    readonly size: number,
    private readonly library: string,
  ) {
    for (let i = 0; i < size; i++) this.set(i, 0);
  }

  /** The command prefix that runs member `i` under its own fake clock. */
  prefix(i: number): string[] {
    return [
      "env",
      `LD_PRELOAD=${this.library}`,
      `FAKETIME_TIMESTAMP_FILE=${this.file(i)}`,
      "FAKETIME_DONT_FAKE_MONOTONIC=1",
      "FAKETIME_CACHE_DURATION=1",
    ];
  }

  /** Sets member `i`'s wall clock to real time + `offsetSec` (within about a second). */
  set(i: number, offsetSec: number): void {
    const sign = offsetSec < 0 ? "-" : "+";
    writeFileSync(this.file(i), `${sign}${Math.abs(Math.round(offsetSec))}s\n`);
  }

  /** Removes the offset files; idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    rmSync(this.dir, { recursive: true, force: true });
  }

  private file(i: number): string {
    return join(this.dir, `n${i + 1}`);
  }
}
