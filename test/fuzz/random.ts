/** A small seeded generator (mulberry32) for the fuzz suite: same seed, same run. */
export class Rng {
  #s: number;

  constructor(readonly seed: number) {
    this.#s = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** One of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** `n` random bytes. */
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }

  /** A 64-bit value from the edges that break code: 0, ±1, ±2^31, ±2^53, ±2^63. */
  edgeInt64(): bigint {
    return this.pick([
      0n,
      1n,
      -1n,
      2n ** 31n,
      -(2n ** 31n),
      2n ** 53n + 1n,
      -(2n ** 53n),
      2n ** 63n - 1n,
      -(2n ** 63n),
      BigInt(this.int(1000)),
    ]);
  }
}

/** The seed of a run: $FUZZ_SEED, else a fixed default (printed by the suite). */
export function fuzzSeed(): number {
  const env = process.env.FUZZ_SEED;
  return env !== undefined && env !== "" ? Number(env) >>> 0 : 0x5eed_cf01;
}
