/**
 * The wait registry (etcd pkg/wait): a proposing member registers the request id it put
 * into the log and waits; the apply path triggers the id with the result once the entry
 * is applied and written. Ids that never come back (a dropped proposal, an entry replaced
 * by a new leader) are failed by the caller's timeout or by {@link failAll}.
 */

/** What the apply path hands a waiter: a result or an error. */
export type WaitOutcome<T> = { ok: true; value: T } | { ok: false; error: Error };

interface Waiter<T> {
  resolve(v: T): void;
  reject(e: Error): void;
}

export class WaitRegistry<T = unknown> {
  readonly #waiters = new Map<bigint, Waiter<T>>();

  /** Registers `id` and returns the promise its trigger settles. Throws on a duplicate id. */
  register(id: bigint): Promise<T> {
    if (this.#waiters.has(id)) throw new Error(`duplicate wait id ${id.toString(16)}`);
    return new Promise<T>((resolve, reject) => {
      this.#waiters.set(id, { resolve, reject });
    });
  }

  /** Settles the waiter of `id` with `outcome`; returns whether there was one. */
  trigger(id: bigint, outcome: WaitOutcome<T>): boolean {
    const w = this.#waiters.get(id);
    if (w === undefined) return false;
    this.#waiters.delete(id);
    if (outcome.ok) w.resolve(outcome.value);
    else w.reject(outcome.error);
    return true;
  }

  /** Rejects the waiter of `id` with `error` (timeout, cancel); returns whether there was one. */
  fail(id: bigint, error: Error): boolean {
    return this.trigger(id, { ok: false, error });
  }

  /** Whether `id` is waited for. */
  has(id: bigint): boolean {
    return this.#waiters.has(id);
  }

  /** Number of waiters. */
  get size(): number {
    return this.#waiters.size;
  }

  /** Rejects every waiter with `error`. */
  failAll(error: Error): void {
    const all = [...this.#waiters.values()];
    this.#waiters.clear();
    for (const w of all) w.reject(error);
  }
}
