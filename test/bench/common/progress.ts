/** Progress output and retries shared by the long-running benchmarks (memory, large). */

const progressIsTty = process.stderr.isTTY;

/**
 * Runs `op` again (up to `attempts` times, default 5) when it fails with UNAVAILABLE (a
 * timeout or a leader change on a loaded machine); a Txn of puts of fixed keys and values
 * may be repeated. With `backoffMs`, waits that long before the first retry and doubles
 * the wait each time up to 30 s, so a store that is busy compacting gets time to catch up.
 */
export async function retrying<T>(
  op: () => Promise<T>,
  opts: { attempts?: number; backoffMs?: number } = {},
): Promise<T> {
  const attempts = opts.attempts ?? 5;
  let wait = opts.backoffMs ?? 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (error) {
      if (attempt >= attempts || (error as { code?: number }).code !== 14) throw error;
      process.stderr.write(
        `\nretrying (${attempt}/${attempts - 1}${wait > 0 ? `, in ${wait} ms` : ""}) after: ` +
          `${(error as Error).message}\n`,
      );
      if (wait > 0) {
        await new Promise((resolve) => setTimeout(resolve, wait));
        wait = Math.min(wait * 2, 30_000);
      }
    }
  }
}

/** One progress line: rewritten in place on a terminal, one line each otherwise. */
export function progress(line: string, final = false): void {
  if (progressIsTty) process.stderr.write(`\r\x1b[2K${line}${final ? "\n" : ""}`);
  else process.stderr.write(`${line}\n`);
}
