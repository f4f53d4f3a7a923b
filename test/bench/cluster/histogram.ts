/**
 * A log-linear latency histogram in the spirit of HdrHistogram: exact below 128 µs, then
 * 64 sub-buckets per power of two (under 1.6% relative error), constant memory, O(1)
 * record. Values are microseconds.
 */
const SUB_BUCKETS = 64;
const LINEAR_LIMIT = 2 * SUB_BUCKETS; // values below this are exact
const BUCKETS = LINEAR_LIMIT + 32 * SUB_BUCKETS;

export class Histogram {
  private readonly counts = new Float64Array(BUCKETS);
  private total = 0;
  private maxValue = 0;
  private minValue = Number.POSITIVE_INFINITY;
  private sum = 0;

  /** Records one latency in microseconds (rounded down, at least 0). */
  record(micros: number): void {
    const v = Math.max(0, Math.floor(micros));
    this.counts[indexOf(v)]++;
    this.total++;
    this.sum += v;
    if (v > this.maxValue) this.maxValue = v;
    if (v < this.minValue) this.minValue = v;
  }

  /** Adds every count of `other`. */
  merge(other: Histogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] += other.counts[i];
    this.total += other.total;
    this.sum += other.sum;
    this.maxValue = Math.max(this.maxValue, other.maxValue);
    this.minValue = Math.min(this.minValue, other.minValue);
  }

  get count(): number {
    return this.total;
  }

  get max(): number {
    return this.total === 0 ? 0 : this.maxValue;
  }

  get mean(): number {
    return this.total === 0 ? 0 : this.sum / this.total;
  }

  /**
   * The value at quantile `q` (0 < q ≤ 1): the upper edge of the bucket holding the
   * ceil(q·n)-th smallest value, never above the recorded maximum.
   */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.max(this.minValue, Math.min(this.maxValue, upperEdge(i)));
    }
    return this.maxValue;
  }
}

function indexOf(v: number): number {
  if (v < LINEAR_LIMIT) return v;
  const exponent = 31 - Math.clz32(v) - 6; // v >>> exponent is in [64, 128)
  const index = LINEAR_LIMIT + (exponent - 1) * SUB_BUCKETS + ((v >>> exponent) - SUB_BUCKETS);
  return Math.min(index, BUCKETS - 1);
}

function upperEdge(index: number): number {
  if (index < LINEAR_LIMIT) return index;
  const exponent = Math.floor((index - LINEAR_LIMIT) / SUB_BUCKETS) + 1;
  const sub = ((index - LINEAR_LIMIT) % SUB_BUCKETS) + SUB_BUCKETS;
  return (sub + 1) * 2 ** exponent - 1;
}
