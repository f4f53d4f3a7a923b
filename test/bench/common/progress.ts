/** Progress output and retries shared by the long-running benchmarks (memory, large). */

const progressIsTty = process.stderr.isTTY;

/**
 * Runs `op` again (up to 5 times) when it fails with UNAVAILABLE (a timeout or a leader
 * change on a loaded machine); a Txn of puts of fixed keys and values may be repeated.
 */
export async function retrying<T>(op: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (error) {
      if (attempt >= 5 || (error as { code?: number }).code !== 14) throw error;
      process.stderr.write(`\nretrying after: ${(error as Error).message}\n`);
    }
  }
}

/** One progress line: rewritten in place on a terminal, one line each otherwise. */
export function progress(line: string, final = false): void {
  if (progressIsTty) process.stderr.write(`\r\x1b[2K${line}${final ? "\n" : ""}`);
  else process.stderr.write(`${line}\n`);
}
