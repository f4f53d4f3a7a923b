/**
 * Test support for the storage modules' tests (excluded from the build): temporary
 * engines and a seeded random source.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Engine, type EngineOptions } from "../../engine.js";

/** A fresh temporary directory. */
export function tempDir(prefix = "cf-storage-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Opens an engine on `dir` with inline fsync (no worker thread in tests). */
export function openEngine(dir: string, opts: EngineOptions = {}): Promise<Engine> {
  return Engine.open(dir, {
    syncMode: "inline",
    cacheBytes: 8 << 20,
    memtableBytes: 4 << 20,
    ...opts,
  });
}

/** mulberry32: a small seeded PRNG returning floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [lo, hi] from `rand`. */
export function randInt(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}
