/**
 * A distributed mutex (Go's `concurrency.Mutex`): each contender puts a key
 * `<name>/<lease id in hex>` on its session's lease; the contender whose key has the
 * lowest create revision holds the lock, and each other contender waits for the key
 * just ahead of it to be deleted. The holder's create revision is a **fencing token**:
 * it grows with every new holder, so a resource can refuse writes carrying an older
 * one, and {@link Mutex.ownerCompare} guards a transaction on still holding the lock.
 *
 * @module
 */
import { hexId, type Key, toBuffer } from "../bytes.js";
import type { LeaseLostError } from "../errors.js";
import { AbortError, SessionExpiredError } from "../errors.js";
import type { Event } from "../events.js";
import type { Header } from "../kv.js";
import type { CallOptions } from "../transport.js";
import { type Compare, compare, op } from "../txn.js";
import type { ConcurrencyHost } from "./host.js";
import { Session } from "./session.js";
import { raceLoss, waitInLine } from "./wait.js";

/** Options of `client.lock()` and {@link Mutex.lock}. */
export interface LockOptions {
  /** The session to hold the lock on (default: a new session, closed on release). */
  session?: Session;
  /** TTL of the session created when none is given (seconds; default 60). */
  ttl?: number;
  /** Gives up waiting (the waiter's key is removed; rejects with `AbortError`). */
  signal?: AbortSignal;
  /** Gives up after this long (ms; default: wait as long as it takes). */
  timeoutMs?: number;
}

/** A held lock. */
export interface LockHandle {
  /** The lock key this holder owns. */
  readonly key: Buffer;
  /** The lock key's create revision: larger for every later holder. */
  readonly fencingToken: bigint;
  /** The header of the answer that confirmed ownership. */
  readonly header: Header;
  /** The session the lock lives on. */
  readonly session: Session;
  /** Fires if the session's lease is lost (the lock is then no longer held). */
  readonly onLost: Event<LeaseLostError>;
  /** A compare that holds while this holder still owns the lock (for guarded txns). */
  ownerCompare(): Compare;
  /** Releases the lock (and closes the session if the lock created it). */
  release(options?: CallOptions): Promise<void>;
}

/** A mutex on one session. */
export class Mutex {
  private readonly prefix: Buffer;
  private myKey: Buffer | undefined;
  private myRev = -1n;
  private header: Header | undefined;

  constructor(
    private readonly host: ConcurrencyHost,
    name: Key,
    private session?: Session,
  ) {
    this.prefix = Buffer.concat([toBuffer(name), Buffer.from("/")]);
  }

  /** Acquires a lock named `name` with a session of its own unless one is given. */
  static async acquire(
    host: ConcurrencyHost,
    name: Key,
    options: LockOptions = {},
  ): Promise<LockHandle> {
    const owned = options.session === undefined;
    const session = options.session ?? (await Session.create(host, { ttl: options.ttl }));
    const mutex = new Mutex(host, name, session);
    try {
      return await mutex.lock(options, owned);
    } catch (error) {
      if (owned) await session.close();
      throw error;
    }
  }

  /** The lock key of this contender (after `lock` began). */
  get key(): Buffer | undefined {
    return this.myKey;
  }

  /** The create revision of this contender's key (-1 before `lock`). */
  get revision(): bigint {
    return this.myRev;
  }

  /**
   * Waits for the lock. Rejects with `SessionExpiredError` if the session's lease is
   * lost meanwhile, and with `AbortError` on abort or timeout (removing its key).
   */
  async lock(options: LockOptions = {}, ownsSession = false): Promise<LockHandle> {
    if (!this.session) {
      this.session = await Session.create(this.host, { ttl: options.ttl });
      ownsSession = true;
    }
    const session = this.session;
    if (session.isClosed) throw new SessionExpiredError();
    const signal = withTimeout(options.signal, options.timeoutMs);
    const expired = () => new SessionExpiredError();
    try {
      const acquired = await raceLoss(this.tryAcquire(signal.signal), session.lost, expired);
      if (!acquired) {
        const key = this.myKey as Buffer;
        const since = (this.header as Header).revision;
        await waitInLine(
          this.host,
          this.prefix,
          key,
          this.myRev,
          since,
          session.lost,
          signal.signal,
        );
        // The session may have expired while we waited: our key must still be there.
        const mine = await this.host.get(this.myKey as Buffer, { signal: signal.signal });
        if (!mine) throw new SessionExpiredError();
      }
      return this.handle(session, ownsSession);
    } catch (error) {
      await this.unlock().catch(() => {});
      if (signal.signal.aborted && !(error instanceof SessionExpiredError)) {
        throw error instanceof AbortError ? error : new AbortError(signal.signal.reason);
      }
      throw error;
    } finally {
      signal.dispose();
    }
  }

  /**
   * Takes the lock if it is free right now; otherwise removes its key and resolves
   * `undefined` (Go's `TryLock`).
   */
  async tryLock(options: CallOptions = {}): Promise<LockHandle | undefined> {
    if (!this.session) throw new SessionExpiredError();
    const acquired = await this.tryAcquire(options.signal);
    if (acquired) return this.handle(this.session, false);
    await this.unlock(options);
    return undefined;
  }

  /** Deletes this contender's key (releasing the lock if it held it). */
  async unlock(options?: CallOptions): Promise<void> {
    if (!this.myKey) return;
    const key = this.myKey;
    this.myKey = undefined;
    this.myRev = -1n;
    await this.host.delete(key, options);
  }

  /** A compare that holds while this contender owns its key. */
  ownerCompare(): Compare {
    return compare.createRevision(this.myKey ?? Buffer.alloc(0), "==", this.myRev);
  }

  /** Puts this contender's key (or finds it) and says whether it is first in line. */
  private async tryAcquire(signal?: AbortSignal): Promise<boolean> {
    const session = this.session as Session;
    const key = Buffer.concat([this.prefix, Buffer.from(hexId(session.leaseId))]);
    this.myKey = key;
    const owner = op.getAll(
      { prefix: this.prefix },
      { sort: { target: "create", order: "ascend" }, limit: 1 },
    );
    const r = await this.host
      .txn()
      .if(compare.createRevision(key, "==", 0))
      .then(op.put(key, "", { lease: session.leaseId }), owner)
      .else(op.get(key), owner)
      .commit({ signal });
    this.header = r.header;
    this.myRev = r.revision;
    if (!r.succeeded) {
      const first = r.responses[0];
      if (first.type === "get" && first.kvs.length > 0) this.myRev = first.kvs[0].createRevision;
    }
    const ownerResult = r.responses[1];
    const ownerKvs = ownerResult.type === "get" ? ownerResult.kvs : [];
    return ownerKvs.length === 0 || ownerKvs[0].createRevision === this.myRev;
  }

  private handle(session: Session, ownsSession: boolean): LockHandle {
    const key = this.myKey as Buffer;
    const rev = this.myRev;
    const header = this.header as Header;
    return {
      key,
      fencingToken: rev,
      header,
      session,
      onLost: session.onLost,
      ownerCompare: () => compare.createRevision(key, "==", rev),
      release: async (options?: CallOptions) => {
        try {
          if (this.myKey?.equals(key)) await this.unlock(options);
        } finally {
          if (ownsSession) await session.close(options);
        }
      },
    };
  }
}

/** An AbortSignal that aborts with `parent` or after `timeoutMs`. */
function withTimeout(
  parent: AbortSignal | undefined,
  timeoutMs: number | undefined,
): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onAbort = () => controller.abort(parent?.reason);
  if (parent?.aborted) controller.abort(parent.reason);
  else parent?.addEventListener("abort", onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  if (timeoutMs !== undefined) {
    timer = setTimeout(
      () => controller.abort(new Error(`lock not acquired within ${timeoutMs} ms`)),
      timeoutMs,
    );
    timer.unref();
  }
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      parent?.removeEventListener("abort", onAbort);
    },
  };
}
