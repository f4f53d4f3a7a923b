/**
 * A priority queue of simulation events ordered by virtual time, then by insertion order,
 * so that events scheduled for the same instant run in the order they were scheduled
 * (which keeps a run a pure function of its seed).
 */
export class EventQueue<T> {
  private heap: { at: number; seq: number; ev: T }[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(at: number, ev: T): void {
    const item = { at, seq: this.seq++, ev };
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  /** The time of the earliest event, or undefined when empty. */
  peekTime(): number | undefined {
    return this.heap[0]?.at;
  }

  pop(): { at: number; ev: T } | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l], h[m])) m = l;
        if (r < h.length && less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return { at: top.at, ev: top.ev };
  }

  /** Removes every event for which `drop` returns true. */
  remove(drop: (ev: T) => boolean): void {
    const kept = this.heap.filter((x) => !drop(x.ev));
    this.heap = [];
    kept.sort((a, b) => a.at - b.at || a.seq - b.seq);
    this.heap = kept; // a sorted array is a valid heap
  }
}

function less(a: { at: number; seq: number }, b: { at: number; seq: number }): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
