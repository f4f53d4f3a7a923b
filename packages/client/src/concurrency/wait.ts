/**
 * Waiting for keys to disappear: the queue discipline of locks and elections (each
 * waiter watches only the key just ahead of it, so a release wakes one waiter).
 *
 * @module
 */
import { throwIfAborted } from "../backoff.js";
import type { Key } from "../bytes.js";
import { AbortError, SessionExpiredError } from "../errors.js";
import type { Header } from "../kv.js";
import type { ConcurrencyHost } from "./host.js";

/** Resolves when `key` is deleted at a revision after `revision`. */
export async function waitDelete(
  host: ConcurrencyHost,
  key: Key,
  revision: bigint,
  signal?: AbortSignal,
): Promise<void> {
  throwIfAborted(signal);
  const watcher = await host.watch(key, { startRevision: revision + 1n, noPut: true, signal });
  try {
    for await (const event of watcher) {
      if (event.type === "delete") return;
    }
    // The loop ends without a delete only when the watcher was canceled: by the signal.
    throw new AbortError(signal?.reason);
  } finally {
    await watcher.cancel();
  }
}

/**
 * Resolves when no key under `prefix` with a create revision at or below
 * `maxCreateRevision` is left: it repeatedly waits for the newest such key to go.
 */
export async function waitDeletes(
  host: ConcurrencyHost,
  prefix: Key,
  maxCreateRevision: bigint,
  signal?: AbortSignal,
): Promise<Header> {
  for (;;) {
    throwIfAborted(signal);
    const r = await host.getAll(
      { prefix },
      { sort: { target: "create", order: "descend" }, limit: 1, maxCreateRevision, signal },
    );
    if (r.kvs.length === 0) return r.header;
    await waitDelete(host, r.kvs[0].key, r.revision, signal);
  }
}

/** Rejects with `error()` when `lost` settles, else follows `work`. */
export function raceLoss<T>(
  work: Promise<T>,
  lost: Promise<unknown>,
  error: () => Error,
): Promise<T> {
  return Promise.race([work, lost.then(() => Promise.reject(error()))]);
}

/**
 * Waits until every key under `prefix` created before `myRev` is gone (the caller is
 * then first in line). Fails with {@link SessionExpiredError} as soon as the caller's
 * own key `myKey` is deleted (its lease expired or was revoked) or the session's lease
 * is reported lost — whichever is noticed first.
 */
export async function waitInLine(
  host: ConcurrencyHost,
  prefix: Key,
  myKey: Buffer,
  myRev: bigint,
  since: bigint,
  lost: Promise<unknown>,
  signal?: AbortSignal,
): Promise<Header> {
  const inner = new AbortController();
  const forward = () => inner.abort(signal?.reason);
  signal?.addEventListener("abort", forward, { once: true });
  try {
    const ownKeyGone = waitDelete(host, myKey, since, inner.signal).then(() => {
      throw new SessionExpiredError();
    });
    const work = waitDeletes(host, prefix, myRev - 1n, inner.signal);
    return await Promise.race([
      work,
      ownKeyGone,
      lost.then(() => Promise.reject(new SessionExpiredError())),
    ]);
  } catch (error) {
    if (signal?.aborted && !(error instanceof SessionExpiredError))
      throw new AbortError(signal.reason);
    throw error;
  } finally {
    signal?.removeEventListener("abort", forward);
    inner.abort();
  }
}
