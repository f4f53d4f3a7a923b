/**
 * LeaseQueue: lease ids ordered by a time (etcd's LeaseQueue / LeaseExpiredNotifier): an
 * indexed binary min-heap, so one lease is in the queue at most once and its time can be
 * moved or removed in O(log n).
 *
 * Invariant: `#pos.get(heap[i].id) === i` for every i.
 */

/** One queued lease. */
export interface LeaseWithTime {
  readonly id: bigint;
  /** Milliseconds on the lessor's clock. */
  time: number;
}

export class LeaseQueue {
  readonly #heap: LeaseWithTime[] = [];
  readonly #pos = new Map<bigint, number>();

  get size(): number {
    return this.#heap.length;
  }

  has(id: bigint): boolean {
    return this.#pos.has(id);
  }

  /** The time queued for `id`, if queued. */
  timeOf(id: bigint): number | undefined {
    const i = this.#pos.get(id);
    return i === undefined ? undefined : this.#heap[i].time;
  }

  /** Queues `id` at `time`, or moves it there if queued already. */
  set(id: bigint, time: number): void {
    const i = this.#pos.get(id);
    if (i === undefined) {
      this.#heap.push({ id, time });
      this.#pos.set(id, this.#heap.length - 1);
      this.#up(this.#heap.length - 1);
      return;
    }
    const old = this.#heap[i].time;
    this.#heap[i].time = time;
    if (time < old) this.#up(i);
    else this.#down(i);
  }

  /** The earliest entry, without removing it. */
  peek(): LeaseWithTime | undefined {
    return this.#heap[0];
  }

  /** Removes `id` if queued. */
  delete(id: bigint): void {
    const i = this.#pos.get(id);
    if (i === undefined) return;
    const last = this.#heap.length - 1;
    this.#swap(i, last);
    this.#heap.pop();
    this.#pos.delete(id);
    if (i < this.#heap.length) {
      this.#up(i);
      this.#down(i);
    }
  }

  /** Removes and returns the earliest entry. */
  pop(): LeaseWithTime | undefined {
    const top = this.#heap[0];
    if (top !== undefined) this.delete(top.id);
    return top;
  }

  clear(): void {
    this.#heap.length = 0;
    this.#pos.clear();
  }

  #up(i: number): void {
    const h = this.#heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent].time <= h[i].time) return;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #down(i: number): void {
    const h = this.#heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l].time < h[m].time) m = l;
      if (r < h.length && h[r].time < h[m].time) m = r;
      if (m === i) return;
      this.#swap(i, m);
      i = m;
    }
  }

  #swap(i: number, j: number): void {
    if (i === j) return;
    const h = this.#heap;
    [h[i], h[j]] = [h[j], h[i]];
    this.#pos.set(h[i].id, i);
    this.#pos.set(h[j].id, j);
  }
}
