/**
 * Cluster-unique request ids, as etcd's pkg/idutil Generator makes them:
 *
 * ```
 * | 16 bits member id (low bits) | 40 bits start time (ms) | 8 bits counter |
 * ```
 * The low 48 bits start at (milliseconds at start << 8) and count up by one per id, so
 * ids of one member never repeat while it runs and, as long as a restart happens more
 * than one millisecond per 256 ids later, not across restarts either; the member bits
 * keep members apart.
 */
const SUFFIX_BITS = 48n;
const SUFFIX_MASK = (1n << SUFFIX_BITS) - 1n;
const TS_MASK = (1n << 40n) - 1n;

export class RequestIdGenerator {
  readonly #prefix: bigint;
  #suffix: bigint;

  constructor(memberId: bigint, nowMs: number = Date.now()) {
    this.#prefix = (memberId & 0xffffn) << SUFFIX_BITS;
    this.#suffix = (BigInt(Math.floor(nowMs)) & TS_MASK) << 8n;
  }

  /** The next id (never 0). */
  next(): bigint {
    this.#suffix = (this.#suffix + 1n) & SUFFIX_MASK;
    return this.#prefix | this.#suffix;
  }
}
