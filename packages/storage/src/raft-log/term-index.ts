/**
 * TermIndex: the term of every index in the log, kept as runs (the first index of each
 * term), so `term(i)` never touches the disk. Terms change only on elections, so the runs
 * are few: memory is 16 bytes per term change still in the log.
 *
 * The runs are also persisted (one small record, rewritten only when a run starts, is
 * truncated or compacted away), so opening a store never scans the log.
 *
 * Invariant: runStart is strictly increasing, runTerm strictly increasing, runStart[0] is
 * the log boundary (the entry at firstIndex-1), and every index in
 * [runStart[0], lastIndex] has the term of the last run starting at or before it.
 */
export class TermIndex {
  private runStart: number[] = [];
  private runTerm: number[] = [];
  /** Bumped whenever the runs change (so callers know when to persist them). */
  mutations = 0;

  /** Resets to an empty log whose boundary entry is (index, term). */
  reset(index: number, term: number): void {
    this.runStart = [index];
    this.runTerm = [term];
    this.mutations++;
  }

  /** An independent copy. */
  clone(): TermIndex {
    const t = new TermIndex();
    t.runStart = [...this.runStart];
    t.runTerm = [...this.runTerm];
    return t;
  }

  /** The runs as (start, term) pairs (for persistence and tests). */
  runs(): [start: number, term: number][] {
    return this.runStart.map((s, i) => [s, this.runTerm[i]]);
  }

  /** Rebuilds from persisted runs; throws if they are not strictly increasing. */
  static fromRuns(runs: readonly (readonly [number, number])[]): TermIndex {
    const t = new TermIndex();
    for (let i = 0; i < runs.length; i++) {
      const [start, term] = runs[i];
      if (i > 0 && (start <= runs[i - 1][0] || term <= runs[i - 1][1])) {
        throw new Error(`term runs not increasing at ${i}: ${runs[i - 1]} then ${runs[i]}`);
      }
      t.runStart.push(start);
      t.runTerm.push(term);
    }
    return t;
  }

  /** The number of runs (for tests and metrics). */
  get size(): number {
    return this.runStart.length;
  }

  /**
   * Records that entries from `index` on now carry `term`, dropping what was recorded for
   * indexes >= index (a truncated suffix). Call once per entry in index order; only term
   * changes add a run.
   */
  set(index: number, term: number): void {
    this.truncateFrom(index);
    const n = this.runTerm.length;
    if (n > 0 && this.runTerm[n - 1] === term) return;
    this.runStart.push(index);
    this.runTerm.push(term);
    this.mutations++;
  }

  /** Forgets the terms of indexes >= index, except the boundary run start. */
  truncateFrom(index: number): void {
    const starts = this.runStart;
    let n = starts.length;
    while (n > 1 && starts[n - 1] >= index) n--;
    if (n < starts.length) {
      starts.length = n;
      this.runTerm.length = n;
      this.mutations++;
    }
  }

  /** The term of `index`; the caller checks that index is within the log. */
  term(index: number): number {
    const starts = this.runStart;
    // Fast path: the tail (most reads are of recent entries).
    const last = starts.length - 1;
    if (index >= starts[last]) return this.runTerm[last];
    let lo = 0;
    let hi = last;
    // Largest k with starts[k] <= index.
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (starts[mid] <= index) lo = mid;
      else hi = mid - 1;
    }
    return this.runTerm[lo];
  }

  /** Moves the boundary to `index` (entries below it are gone). */
  compactTo(index: number): void {
    const starts = this.runStart;
    let k = 0;
    while (k + 1 < starts.length && starts[k + 1] <= index) k++;
    if (k > 0) {
      starts.splice(0, k);
      this.runTerm.splice(0, k);
    }
    if (k > 0 || starts[0] !== index) this.mutations++;
    starts[0] = index;
  }
}
