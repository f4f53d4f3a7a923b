/**
 * WatcherGroup (etcd's watcher_group.go): a set of watchers indexed for "which watchers
 * see a change to this key". Single-key watchers are found by one map lookup; range
 * watchers are grouped by their interval, and the distinct intervals are scanned (etcd
 * uses an interval tree; watchers of one server tend to share few distinct ranges —
 * kube-apiserver watches one prefix per resource — so a scan over distinct intervals
 * stays small).
 */
import { intervalContains, type KeyInterval } from "@chainfire/storage";
import type { Watcher } from "./watcher.js";

function keyString(k: Uint8Array): string {
  return Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString("latin1");
}

function intervalString(iv: KeyInterval): string {
  if (iv.kind === "single") return keyString(iv.key);
  // The start's length makes the join unambiguous: then "*" (unbounded) or "=" and the end.
  return `${iv.start.length}:${keyString(iv.start)}${iv.end ? `=${keyString(iv.end)}` : "*"}`;
}

interface RangeEntry {
  readonly interval: KeyInterval;
  readonly watchers: Set<Watcher>;
}

/** See the module comment. */
export class WatcherGroup {
  readonly #singles = new Map<string, Set<Watcher>>();
  readonly #ranges = new Map<string, RangeEntry>();
  readonly #all = new Set<Watcher>();

  get size(): number {
    return this.#all.size;
  }

  has(w: Watcher): boolean {
    return this.#all.has(w);
  }

  /** All watchers, in insertion order. */
  values(): IterableIterator<Watcher> {
    return this.#all.values();
  }

  add(w: Watcher): void {
    if (this.#all.has(w)) return;
    this.#all.add(w);
    const iv = w.interval;
    if (iv.kind === "single") {
      const k = keyString(iv.key);
      let set = this.#singles.get(k);
      if (!set) this.#singles.set(k, (set = new Set()));
      set.add(w);
      return;
    }
    const k = intervalString(iv);
    let entry = this.#ranges.get(k);
    if (!entry) this.#ranges.set(k, (entry = { interval: iv, watchers: new Set() }));
    entry.watchers.add(w);
  }

  /** Removes `w`; returns whether it was in the group. */
  delete(w: Watcher): boolean {
    if (!this.#all.delete(w)) return false;
    const iv = w.interval;
    if (iv.kind === "single") {
      const k = keyString(iv.key);
      const set = this.#singles.get(k);
      set?.delete(w);
      if (set?.size === 0) this.#singles.delete(k);
      return true;
    }
    const k = intervalString(iv);
    const entry = this.#ranges.get(k);
    entry?.watchers.delete(w);
    if (entry?.watchers.size === 0) this.#ranges.delete(k);
    return true;
  }

  /** Calls `fn` for every watcher whose range contains `key`. */
  forEachWatching(key: Uint8Array, fn: (w: Watcher) => void): void {
    if (this.#singles.size > 0) {
      const set = this.#singles.get(keyString(key));
      if (set) for (const w of set) fn(w);
    }
    for (const entry of this.#ranges.values()) {
      if (intervalContains(entry.interval, key)) for (const w of entry.watchers) fn(w);
    }
  }
}
