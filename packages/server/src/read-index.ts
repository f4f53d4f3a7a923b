/**
 * Batched linearizable reads (thesis §6.4, as docs/architecture.md describes): reads that
 * arrive while no ReadIndex round is in flight start one (at the end of the event-loop
 * turn, so all reads of that turn share it); reads arriving during a round wait for the
 * next. One leadership confirmation (one heartbeat round on the leader)
 * serves every read of a round. When the round's ReadState comes back, its reads wait
 * until this member has applied up to the read index, then go.
 *
 * Failures, as etcd: no answer within the retry interval re-sends the round (a new
 * context; the old answer, if it still comes, is ignored); a leader change while a round
 * was out fails its reads with "etcdserver: leader changed"; a read not served by its
 * deadline fails with "etcdserver: request timed out"; an aborted signal with
 * "etcdserver: request canceled"; closing with "etcdserver: server stopped".
 *
 * At most {@link ReadIndexOptions.maxPending} reads wait at once (they pile up while there
 * is no leader, until their deadline); more fail at once with "etcdserver: too many
 * requests", so a flood of reads cannot grow the member without bound.
 */
import {
  ErrCanceled,
  ErrLeaderChanged,
  ErrStopped,
  ErrTimeout,
  ErrTooManyRequests,
  EtcdError,
} from "@chainfire/api";
import type { ReadState } from "@chainfire/raft";

/** What the batcher needs from the member. */
export interface ReadIndexHost {
  /** Starts a ReadIndex request with `ctx` (the driver's rawNode.readIndex). */
  readIndex(ctx: Uint8Array): void;
  /** The durable applied index. */
  appliedIndex(): number;
  /** The known leader, 0n if none. */
  leader(): bigint;
}

export interface ReadIndexOptions {
  /** A read fails with ErrTimeout after this long. */
  timeoutMs: number;
  /** A round without an answer is re-sent after this long (etcd: 500 ms). */
  retryMs: number;
  /** Most reads waiting at once (default {@link DEFAULT_MAX_PENDING_READS}). */
  maxPending?: number;
}

/** Default {@link ReadIndexOptions.maxPending}. */
export const DEFAULT_MAX_PENDING_READS = 100_000;

interface Reader {
  resolve(): void;
  reject(e: Error): void;
  settled: boolean;
}

interface Round {
  ctx: bigint;
  readers: Reader[];
  /** The leader when the round was sent (0n: none known). */
  leader: bigint;
  timer: NodeJS.Timeout;
}

function encodeCtx(n: bigint): Uint8Array {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(n);
  return b;
}

function decodeCtx(b: Uint8Array): bigint | undefined {
  if (b.length !== 8) return undefined;
  return Buffer.from(b.buffer, b.byteOffset, 8).readBigUInt64BE();
}

export class ReadIndexBatcher {
  readonly #host: ReadIndexHost;
  readonly #opts: ReadIndexOptions;
  #waiting: Reader[] = [];
  #round: Round | null = null;
  /** Rounds answered, waiting for the apply to reach their index (ascending). */
  #applyWaits: Array<{ index: number; readers: Reader[] }> = [];
  #seq = 0n;
  #roundScheduled = false;
  #closed: Error | null = null;
  /** Reads waiting (not yet settled). */
  #pending = 0;
  /** Rounds sent (for tests and metrics: reads / rounds is the batching factor). */
  rounds = 0;

  constructor(host: ReadIndexHost, opts: ReadIndexOptions) {
    this.#host = host;
    this.#opts = opts;
  }

  /** Resolves at a linearizable read point; see the module comment. */
  wait(signal?: AbortSignal): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (signal?.aborted) return Promise.reject(new EtcdError(ErrCanceled));
    if (this.#pending >= (this.#opts.maxPending ?? DEFAULT_MAX_PENDING_READS)) {
      return Promise.reject(new EtcdError(ErrTooManyRequests));
    }
    this.#pending++;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => settle(new EtcdError(ErrTimeout)), this.#opts.timeoutMs);
      timer.unref();
      const onAbort = () => settle(new EtcdError(ErrCanceled));
      const reader: Reader = {
        settled: false,
        resolve: () => settle(null),
        reject: (e) => settle(e),
      };
      const settle = (err: Error | null) => {
        if (reader.settled) return;
        reader.settled = true;
        this.#pending--;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if (err) reject(err);
        else resolve();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiting.push(reader);
      this.#scheduleRound();
    });
  }

  /** Feeds a Ready's read states (after its write). */
  onReadStates(states: readonly ReadState[]): void {
    for (const s of states) {
      const r = this.#round;
      if (r === null || decodeCtx(s.requestCtx) !== r.ctx) continue;
      clearTimeout(r.timer);
      this.#round = null;
      if (s.index <= this.#host.appliedIndex()) {
        for (const x of r.readers) x.resolve();
      } else {
        this.#applyWaits.push({ index: s.index, readers: r.readers });
        this.#applyWaits.sort((a, b) => a.index - b.index);
      }
      this.#startRound();
    }
  }

  /** Releases reads whose index is now applied. */
  onApplied(applied: number): void {
    while (this.#applyWaits.length > 0 && this.#applyWaits[0].index <= applied) {
      for (const x of this.#applyWaits.shift()!.readers) x.resolve();
    }
  }

  /**
   * The leader changed to `leader`: a round sent under another known leader fails (etcd's
   * ErrLeaderChanged); one sent with no leader known is re-sent now.
   */
  onLeaderChange(leader: bigint): void {
    const r = this.#round;
    if (r === null) return;
    if (r.leader !== 0n && r.leader !== leader) {
      clearTimeout(r.timer);
      this.#round = null;
      for (const x of r.readers) x.reject(new EtcdError(ErrLeaderChanged));
      this.#startRound();
    } else if (leader !== 0n) {
      this.#resend(r);
    }
  }

  /** raft lost its pending requests (a new RawNode after a snapshot): re-send the round. */
  onRaftReset(): void {
    if (this.#round) this.#resend(this.#round);
  }

  /** Fails every read with `err` (default ErrStopped); later reads fail at once. Idempotent. */
  close(err: Error = new EtcdError(ErrStopped)): void {
    if (this.#closed) return;
    this.#closed = err;
    const r = this.#round;
    this.#round = null;
    if (r) clearTimeout(r.timer);
    const all = [
      ...(r?.readers ?? []),
      ...this.#waiting,
      ...this.#applyWaits.flatMap((w) => w.readers),
    ];
    this.#waiting = [];
    this.#applyWaits = [];
    for (const x of all) x.reject(err);
  }

  /** Starts a round at the end of this event-loop turn, so every read of the turn shares it. */
  #scheduleRound(): void {
    if (this.#round !== null || this.#roundScheduled) return;
    this.#roundScheduled = true;
    setImmediate(() => {
      this.#roundScheduled = false;
      if (this.#round === null) this.#startRound();
    });
  }

  #startRound(): void {
    const readers = this.#waiting.filter((x) => !x.settled);
    this.#waiting = [];
    if (readers.length === 0 || this.#closed) return;
    const ctx = ++this.#seq;
    const round: Round = {
      ctx,
      readers,
      leader: this.#host.leader(),
      timer: setTimeout(() => this.#resend(round), this.#opts.retryMs),
    };
    round.timer.unref();
    this.#round = round;
    this.rounds++;
    this.#host.readIndex(encodeCtx(ctx));
  }

  #resend(r: Round): void {
    if (this.#round !== r) return;
    clearTimeout(r.timer);
    r.readers = r.readers.filter((x) => !x.settled);
    if (r.readers.length === 0) {
      this.#round = null;
      this.#startRound();
      return;
    }
    r.ctx = ++this.#seq;
    r.leader = this.#host.leader();
    r.timer = setTimeout(() => this.#resend(r), this.#opts.retryMs);
    r.timer.unref();
    this.rounds++;
    this.#host.readIndex(encodeCtx(r.ctx));
  }
}
