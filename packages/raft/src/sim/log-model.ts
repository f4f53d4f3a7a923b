/**
 * The checkers' model of one node's log: the term and chain hash (see hash.ts) of every
 * entry after a base point (the snapshot the log starts from). The model never compacts:
 * compaction does not change the logical log, and keeping entries lets the checkers see
 * more.
 */

/** An entry summarized: its index, term, and chain hash over the prefix it ends. */
export interface LogPoint {
  index: number;
  term: number;
  chain: number;
}

/** Read access shared by {@link LogModel} and a pending-Ready {@link LogOverlay}. */
export interface LogView {
  /** The base point: the snapshot the log starts from (index 0 for an empty log). */
  firstPoint(): LogPoint;
  lastIndex(): number;
  /** The term of entry i, or undefined if i is before the base or after the last entry. */
  term(i: number): number | undefined;
  /** The chain hash at i, or undefined if i is before the base or after the last entry. */
  chain(i: number): number | undefined;
}

/** A node's durable log as the checkers see it. */
export class LogModel implements LogView {
  private base: LogPoint;
  private terms: number[] = [];
  private chains: number[] = [];

  constructor(base: LogPoint) {
    this.base = { ...base };
  }

  firstPoint(): LogPoint {
    return this.base;
  }

  lastIndex(): number {
    return this.base.index + this.terms.length;
  }

  term(i: number): number | undefined {
    if (i === this.base.index) return this.base.term;
    if (i < this.base.index || i > this.lastIndex()) return undefined;
    return this.terms[i - this.base.index - 1];
  }

  chain(i: number): number | undefined {
    if (i === this.base.index) return this.base.chain;
    if (i < this.base.index || i > this.lastIndex()) return undefined;
    return this.chains[i - this.base.index - 1];
  }

  /** Replaces the whole log by a snapshot point. */
  reset(base: LogPoint): void {
    this.base = { ...base };
    this.terms = [];
    this.chains = [];
  }

  /**
   * Appends entries starting at `first`, dropping every entry at or after `first` first.
   * Invariant: base.index < first <= lastIndex()+1.
   */
  append(first: number, terms: readonly number[], chains: readonly number[]): void {
    if (first <= this.base.index || first > this.lastIndex() + 1) {
      throw new Error(
        `LogModel.append: ${first} outside (${this.base.index}, ${this.lastIndex() + 1}]`,
      );
    }
    const keep = first - this.base.index - 1;
    this.terms.length = keep;
    this.chains.length = keep;
    for (let k = 0; k < terms.length; k++) {
      this.terms.push(terms[k]);
      this.chains.push(chains[k]);
    }
  }

  /** Applies a pending overlay (the Ready that was just persisted). */
  commitOverlay(o: LogOverlay): void {
    if (o.snapshot !== undefined) this.reset(o.snapshot);
    if (o.terms.length > 0) this.append(o.first, o.terms, o.chains);
  }
}

/**
 * A log as it will be once a Ready is persisted: the log before it (durable, or with
 * earlier pipelined Readys), possibly replaced by a snapshot, with the Ready's entries
 * appended (truncating any conflicting suffix).
 */
export class LogOverlay implements LogView {
  constructor(
    /**
     * The log this Ready applies to: the durable log, or the overlay of an earlier Ready
     * (rebased onto the durable log once that Ready is persisted).
     */
    public durable: LogView,
    readonly snapshot: LogPoint | undefined,
    readonly first: number,
    readonly terms: readonly number[],
    readonly chains: readonly number[],
  ) {}

  firstPoint(): LogPoint {
    return this.snapshot ?? this.durable.firstPoint();
  }

  lastIndex(): number {
    if (this.terms.length > 0) return this.first + this.terms.length - 1;
    if (this.snapshot !== undefined) return this.snapshot.index;
    return this.durable.lastIndex();
  }

  term(i: number): number | undefined {
    if (this.terms.length > 0 && i >= this.first) {
      return i <= this.lastIndex() ? this.terms[i - this.first] : undefined;
    }
    if (this.snapshot !== undefined) {
      return i === this.snapshot.index ? this.snapshot.term : undefined;
    }
    return this.durable.term(i);
  }

  chain(i: number): number | undefined {
    if (this.terms.length > 0 && i >= this.first) {
      return i <= this.lastIndex() ? this.chains[i - this.first] : undefined;
    }
    if (this.snapshot !== undefined) {
      return i === this.snapshot.index ? this.snapshot.chain : undefined;
    }
    return this.durable.chain(i);
  }
}
