/**
 * Leader election (Go's `concurrency.Election`): each candidate puts a key
 * `<name>/<lease id in hex>` holding its value on its session's lease; the candidate
 * with the lowest create revision leads, the others wait for the key ahead of them
 * to go. The leader can change its value (`proclaim`) and step down (`resign`);
 * anyone can read the leader and `observe` every change of leader or value.
 *
 * @module
 */
import { hexId, type Key, toBuffer, type Value } from "../bytes.js";
import {
  AbortError,
  CompactedError,
  NoElectionLeaderError,
  NotElectionLeaderError,
  SessionExpiredError,
} from "../errors.js";
import type { KeyValue } from "../key-value.js";
import type { Header } from "../kv.js";
import type { CallOptions } from "../transport.js";
import { compare, op } from "../txn.js";
import type { ConcurrencyHost } from "./host.js";
import { Session } from "./session.js";
import { waitInLine } from "./wait.js";

/** Options of an election. */
export interface ElectionOptions {
  /** The session candidates campaign on (default: one created by `campaign`, closed by `resign`). */
  session?: Session;
  /** TTL of the session created when none is given (seconds; default 60). */
  ttl?: number;
}

/** One election, seen by one candidate (or observer). */
export class Election {
  private readonly prefix: Buffer;
  private session: Session | undefined;
  private ownsSession = false;
  private leaderKey: Buffer | undefined;
  private leaderRev = 0n;
  private header: Header | undefined;

  constructor(
    private readonly host: ConcurrencyHost,
    name: Key,
    private readonly options: ElectionOptions = {},
  ) {
    this.prefix = Buffer.concat([toBuffer(name), Buffer.from("/")]);
    this.session = options.session;
  }

  /** Whether this candidate currently believes it leads (it campaigned and has not resigned). */
  get isLeader(): boolean {
    return this.leaderKey !== undefined;
  }

  /** This candidate's key while it leads. */
  get key(): Buffer | undefined {
    return this.leaderKey;
  }

  /** The create revision of this candidate's key while it leads (usable as a fencing token). */
  get revision(): bigint {
    return this.leaderRev;
  }

  /** The header of the answer that made this candidate leader. */
  get leaderHeader(): Header | undefined {
    return this.header;
  }

  /**
   * Campaigns with `value` and resolves once this candidate is the leader. Rejects
   * with `SessionExpiredError` if its session's lease is lost, and with `AbortError`
   * when `signal` aborts (its candidacy is then withdrawn).
   */
  async campaign(value: Value, options: CallOptions = {}): Promise<void> {
    if (!this.session) {
      this.session = await Session.create(this.host, { ttl: this.options.ttl });
      this.ownsSession = true;
    }
    const session = this.session;
    if (session.isClosed) throw new SessionExpiredError();
    const key = Buffer.concat([this.prefix, Buffer.from(hexId(session.leaseId))]);
    const r = await this.host
      .txn()
      .if(compare.createRevision(key, "==", 0))
      .then(op.put(key, value, { lease: session.leaseId }))
      .else(op.get(key))
      .commit(options);
    let rev = r.revision;
    try {
      if (!r.succeeded) {
        const got = r.responses[0];
        const kv = got.type === "get" ? got.kvs[0] : undefined;
        if (kv) {
          rev = kv.createRevision;
          // Already a candidate on this session: update the value.
          if (
            !kv.value.equals(toBuffer(value)) &&
            !(await this.putValue(key, rev, value, options))
          ) {
            throw new NotElectionLeaderError();
          }
        }
      }
      this.leaderRev = rev;
      const since = r.header.revision;
      await waitInLine(this.host, this.prefix, key, rev, since, session.lost, options.signal);
    } catch (error) {
      this.leaderKey = key; // so that resign removes the candidacy
      this.leaderRev = rev;
      await this.resign().catch(() => {});
      if (options.signal?.aborted && !(error instanceof AbortError)) {
        throw new AbortError(options.signal.reason);
      }
      throw error;
    }
    // Only now is this candidate the leader (proclaim and isLeader depend on it).
    this.leaderKey = key;
    this.header = r.header;
  }

  /** Puts `value` on `key` if its create revision is still `rev`. */
  private async putValue(
    key: Buffer,
    rev: bigint,
    value: Value,
    options?: CallOptions,
  ): Promise<boolean> {
    const r = await this.host
      .txn()
      .if(compare.createRevision(key, "==", rev))
      .then(op.put(key, value, { lease: (this.session as Session).leaseId }))
      .commit(options);
    return r.succeeded;
  }

  /** Changes the leader's value without an election. Rejects unless this candidate leads. */
  async proclaim(value: Value, options?: CallOptions): Promise<void> {
    if (!this.leaderKey || !this.session) throw new NotElectionLeaderError();
    if (!(await this.putValue(this.leaderKey, this.leaderRev, value, options))) {
      this.leaderKey = undefined;
      throw new NotElectionLeaderError();
    }
  }

  /** Steps down (deletes this candidate's key) and closes a session the election created. */
  async resign(options?: CallOptions): Promise<void> {
    const key = this.leaderKey;
    this.leaderKey = undefined;
    try {
      if (key) {
        await this.host
          .txn()
          .if(compare.createRevision(key, "==", this.leaderRev))
          .then(op.delete(key))
          .commit(options);
      }
    } finally {
      if (this.ownsSession && this.session) {
        const s = this.session;
        this.session = undefined;
        this.ownsSession = false;
        await s.close(options);
      }
    }
  }

  /** The current leader's key-value. Rejects with `NoElectionLeaderError` when there is none. */
  async leader(options?: CallOptions): Promise<KeyValue> {
    const r = await this.host.getAll(
      { prefix: this.prefix },
      { sort: { target: "create", order: "ascend" }, limit: 1, ...options },
    );
    if (r.kvs.length === 0) throw new NoElectionLeaderError();
    return r.kvs[0];
  }

  /**
   * Every leader in turn, and every value a leader proclaims: the current leader first
   * (once there is one), then each change. Leave the loop or abort to stop.
   */
  async *observe(options: { signal?: AbortSignal } = {}): AsyncGenerator<KeyValue> {
    const { signal } = options;
    // The leader as of `revision` (default: now), and the revision that answer is for.
    const leaderAt = async (
      revision?: bigint,
    ): Promise<{ kv: KeyValue | undefined; at: bigint }> => {
      const opts = { sort: { target: "create", order: "ascend" }, limit: 1, signal } as const;
      try {
        const r = await this.host.getAll({ prefix: this.prefix }, { ...opts, revision });
        return { kv: r.kvs[0], at: revision ?? r.revision };
      } catch (error) {
        if (!(error instanceof CompactedError)) throw error;
        const r = await this.host.getAll({ prefix: this.prefix }, opts);
        return { kv: r.kvs[0], at: r.revision };
      }
    };
    let { kv: leader, at } = await leaderAt();
    for (;;) {
      if (!leader) {
        // No leader: wait for the first candidate to appear.
        const w = await this.host.watch(
          { prefix: this.prefix },
          { startRevision: at + 1n, noDelete: true, signal },
        );
        try {
          for await (const e of w) {
            leader = e.kv;
            break;
          }
        } finally {
          await w.cancel();
        }
        if (!leader) return; // aborted
      }
      yield leader;
      // Follow the leader's key until it is deleted.
      const w = await this.host.watch(leader.key, {
        startRevision: leader.modRevision + 1n,
        signal,
      });
      let deletedAt: bigint | undefined;
      try {
        for await (const e of w) {
          if (e.type === "delete") {
            deletedAt = e.revision;
            break;
          }
          yield e.kv;
        }
      } finally {
        await w.cancel();
      }
      if (deletedAt === undefined) return; // aborted
      // The next leader as of the deletion, so that none of its values is missed.
      ({ kv: leader, at } = await leaderAt(deletedAt));
    }
  }
}
