import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Engine } from "../../engine.js";
import { isStorageError } from "../../errors.js";

/** A small seeded PRNG (mulberry32). */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

/** Canonical plain form of results/events for deep comparison (bytes as hex, bigint as text). */
export function describe(x: unknown): unknown {
  if (x instanceof Uint8Array) return `0x${Buffer.from(x).toString("hex")}`;
  if (typeof x === "bigint") return `${x}n`;
  if (Array.isArray(x)) return x.map(describe);
  if (x && typeof x === "object") {
    const j = (x as { toJSON?: () => unknown }).toJSON;
    if (typeof j === "function" && !(x instanceof Date)) return describe(j.call(x));
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(x).sort()) {
      const v = (x as Record<string, unknown>)[k];
      if (v !== undefined) o[k] = describe(v);
    }
    return o;
  }
  return x;
}

/** Run fn; return its described result or the storage error's name. */
export function outcome(fn: () => unknown): unknown {
  try {
    return { ok: describe(fn()) };
  } catch (e) {
    if (isStorageError(e)) return { err: e.errorName };
    throw e;
  }
}

export const bytes = (s: string) => Buffer.from(s, "latin1");

/** A temporary directory and engine opener for tests. */
export class TempDb {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "cf-mvcc-"));
  open(): Promise<Engine> {
    // inline fsync: no worker thread to start per test (engine.test.ts covers the worker)
    return Engine.open(path.join(this.dir, "db"), {
      cacheBytes: 8 << 20,
      memtableBytes: 8 << 20,
      syncMode: "inline",
    });
  }
  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
