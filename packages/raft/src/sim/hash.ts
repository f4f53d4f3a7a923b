/**
 * 53-bit non-cryptographic hashing (cyrb53-style) used by the simulation's checkers: a
 * log entry is summarized by a chain hash over its whole prefix, so that comparing two
 * logs up to index i is comparing two numbers.
 */

/** A 53-bit hash of bytes, continuing from `seed` (a previous hash or 0). */
export function hashBytes(data: Uint8Array, seed = 0): number {
  let h1 = 0xdeadbeef ^ (seed >>> 0);
  let h2 = 0x41c6ce57 ^ Math.floor(seed / 4294967296);
  for (let i = 0; i < data.length; i++) {
    const ch = data[i];
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ data.length, 2246822507);
  return finish(h1, h2);
}

/** A 53-bit hash of a string's UTF-16 code units, continuing from `seed`. */
export function hashString(s: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ (seed >>> 0);
  let h2 = 0x41c6ce57 ^ Math.floor(seed / 4294967296);
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ s.length, 2246822507);
  return finish(h1, h2);
}

/** Mixes numbers (each below 2^53) into a 53-bit hash. */
export function hashNumbers(seed: number, ...xs: number[]): number {
  let h1 = 0x9e3779b9 ^ (seed >>> 0);
  let h2 = 0x7f4a7c15 ^ Math.floor(seed / 4294967296);
  for (const x of xs) {
    const lo = x >>> 0;
    const hi = Math.floor(x / 4294967296) >>> 0;
    h1 = Math.imul(h1 ^ lo, 2654435761);
    h2 = Math.imul(h2 ^ hi, 1597334677);
    h1 = Math.imul(h1 ^ hi, 2246822507);
    h2 = Math.imul(h2 ^ lo, 3266489909);
  }
  return finish(h1, h2);
}

function finish(h1: number, h2: number): number {
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/**
 * The chain hash of a log entry: it covers the entry (term, type, data) and, through
 * `prev`, every entry before it. Two logs agree up to index i iff their chains at i agree
 * (up to hash collisions).
 */
export function chainHash(prev: number, term: number, type: number, data: Uint8Array): number {
  return hashNumbers(prev, term, type, hashBytes(data));
}
