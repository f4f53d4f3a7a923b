/**
 * WatchableStore: the watchers of one member and how they are fed (etcd's
 * watchable_store.go, with its nouns). One per member, shared by all watch streams.
 *
 * ```
 *  apply path ── store.onCommit(events, rev) ──► notify: synced watchers of each key
 *                                                 │  stream has room → events queued
 *                                                 └─ no room → victim (events dropped,
 *                                                    nextRev kept: re-read later)
 *  catch-up loop (setImmediate turns) ── store.changes(nextRev, key range, page) ──►
 *                                                 unsynced watchers, a page at a time;
 *                                                 a page that reaches the store's revision
 *                                                 makes the watcher synced (same turn)
 *  stream drains ──► its victims become unsynced
 * ```
 *
 * Nothing here waits: notify runs inside the store's commit (the apply path) and only
 * queues responses on streams; catch-up reads a bounded number of history entries per
 * event-loop turn. A slow stream never slows the apply path or another stream: its
 * watchers become victims and later catch up from history, which is on disk anyway.
 *
 * Exactly-once delivery rests on the Watcher invariant (watcher.ts): a watcher is handed
 * whole revisions from `nextRev` on, and moves between groups only inside one synchronous
 * step in which the store's revision cannot change (commits are synchronous and JS is
 * single-threaded).
 *
 * The store object can be replaced (a snapshot from the leader is installed): the
 * commit listener moves to the new store and every synced watcher becomes unsynced, to
 * catch up from the new store's history (etcd's `Restore`).
 */
import { type MvccStore, StorageError, type StoredEvent } from "@chainfire/storage";
import type { Logger } from "pino";
import type { AppliedEvent, Disposable, Event } from "../member-context.js";
import type { WatchOptions } from "./options.js";
import type { Watcher, WatcherOwner } from "./watcher.js";
import { WatcherGroup } from "./watcher-group.js";

/** What the store needs from a watcher's stream (ServerWatchStream implements it). */
export interface WatchSink extends WatcherOwner {
  /**
   * Queues `events` (whole revisions, in order, all at or after `w.nextRev`; filters are
   * the sink's business) for `w` in one response with header revision `revision` (every
   * event of the watcher's range up to `revision` is included). Returns false, taking
   * nothing, when the stream has no room ({@link hasRoom} is false).
   */
  deliver(w: Watcher<WatchSink>, events: readonly StoredEvent[], revision: bigint): boolean;
  /** Whether {@link deliver} would take events now. */
  hasRoom(): boolean;
  /** `w`'s next revision was compacted: tell the client (canceled + compact_revision). */
  compacted(w: Watcher<WatchSink>, compactRevision: bigint): void;
  /** Reading history for `w` failed unexpectedly: end the stream with `err`. */
  fail(err: unknown): void;
}

/** Where the store comes from: a MemberContext, or a test's stand-in. */
export interface StoreSource {
  /** Read each time: installing a snapshot replaces the store. */
  readonly store: MvccStore;
  /** Fired after each applied batch (and after a snapshot install). */
  readonly onApplied: Event<AppliedEvent>;
}

type SinkWatcher = Watcher<WatchSink>;

/** Catch-up pause while the store cannot be read (being replaced). */
const RETRY_MS = 20;

/** See the module comment. */
export class WatchableStore {
  /** Watchers that have every event up to the store's revision. */
  readonly synced = new WatcherGroup();
  /** Watchers behind the store's revision, to be fed from history. */
  readonly unsynced = new Set<SinkWatcher>();
  /** Watchers waiting for their stream to have room, by stream. */
  readonly victims = new Map<WatchSink, Set<SinkWatcher>>();

  readonly #source: StoreSource;
  readonly #opts: Pick<WatchOptions, "catchUpPageEntries" | "catchUpEntriesPerTurn">;
  readonly #logger: Logger;
  #store: MvccStore;
  /** The revision of the last commit notified (or of the store when it was adopted). */
  #rev: bigint;
  #commitSub: { dispose(): void };
  readonly #appliedSub: Disposable;
  #syncTimer: NodeJS.Immediate | NodeJS.Timeout | undefined;
  #closed = false;
  /** Counters (for tests, logs and future metrics). */
  readonly stats = { victims: 0, catchUpTurns: 0, catchUpPages: 0, compacted: 0 };

  constructor(
    source: StoreSource,
    opts: Pick<WatchOptions, "catchUpPageEntries" | "catchUpEntriesPerTurn">,
    logger: Logger,
  ) {
    this.#source = source;
    this.#opts = opts;
    this.#logger = logger;
    this.#store = source.store;
    this.#rev = this.#store.revision;
    this.#commitSub = this.#subscribe(this.#store);
    this.#appliedSub = source.onApplied(() => this.#checkStore());
  }

  /** The current store revision. */
  get revision(): bigint {
    this.#checkStore();
    return this.#store.revision;
  }

  /** The number of watchers in each group (victims summed over streams). */
  counts(): { synced: number; unsynced: number; victims: number } {
    let victims = 0;
    for (const set of this.victims.values()) victims += set.size;
    return { synced: this.synced.size, unsynced: this.unsynced.size, victims };
  }

  /**
   * Registers `w`, whose `nextRev` is its start revision: synced when that is in the
   * future (etcd: startRev > current revision), unsynced otherwise.
   */
  watch(w: SinkWatcher): void {
    if (this.#closed) throw new Error("watchable store is closed");
    this.#checkStore();
    if (w.nextRev > this.#store.revision) {
      w.state = "synced";
      this.synced.add(w);
    } else {
      w.state = "unsynced";
      this.unsynced.add(w);
      this.#scheduleSync();
    }
  }

  /** Removes `w` from whichever group holds it. Idempotent. */
  cancel(w: SinkWatcher): void {
    switch (w.state) {
      case "synced":
        this.synced.delete(w);
        break;
      case "unsynced":
        this.unsynced.delete(w);
        break;
      case "victim":
        this.#victimSet(w.owner, false)?.delete(w);
        if (this.victims.get(w.owner)?.size === 0) this.victims.delete(w.owner);
        break;
      default:
        break;
    }
    w.state = "canceled";
  }

  /** `sink` has room again: its victims become unsynced and catch up from history. */
  roomAvailable(sink: WatchSink): void {
    const set = this.victims.get(sink);
    if (!set) return;
    this.victims.delete(sink);
    for (const w of set) {
      w.state = "unsynced";
      this.unsynced.add(w);
    }
    this.#scheduleSync();
  }

  /** Whether `sink` has victims waiting for room. */
  hasVictims(sink: WatchSink): boolean {
    return this.victims.has(sink);
  }

  /** Stops feeding anyone. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#commitSub.dispose();
    this.#appliedSub.dispose();
    const t = this.#syncTimer;
    if (t) {
      clearImmediate(t as NodeJS.Immediate);
      clearTimeout(t as NodeJS.Timeout);
    }
    this.#syncTimer = undefined;
  }

  #subscribe(store: MvccStore): { dispose(): void } {
    return store.onCommit((events, revision) => {
      // Runs inside the apply path's commit: never throw into it.
      try {
        if (store === this.#store) this.#notify(events, revision);
      } catch (err) {
        this.#logger.error({ err }, "bug: notifying watchers failed");
      }
    });
  }

  #victimSet(sink: WatchSink, create: boolean): Set<SinkWatcher> | undefined {
    let set = this.victims.get(sink);
    if (!set && create) this.victims.set(sink, (set = new Set()));
    return set;
  }

  #makeVictim(w: SinkWatcher): void {
    this.stats.victims++;
    w.state = "victim";
    this.#victimSet(w.owner, true)!.add(w);
  }

  /** etcd's notify: the events of one commit (whole revisions up to `revision`). */
  #notify(events: readonly StoredEvent[], revision: bigint): void {
    const from = this.#rev + 1n;
    this.#rev = revision;
    if (this.synced.size === 0 || events.length === 0) return;
    const batches = new Map<SinkWatcher, StoredEvent[]>();
    for (const ev of events) {
      this.synced.forEachWatching(ev.key, (w) => {
        // A watcher with a future start revision skips events before it.
        if (ev.revision < w.nextRev) return;
        const b = batches.get(w as SinkWatcher);
        if (b) b.push(ev);
        else batches.set(w as SinkWatcher, [ev]);
      });
    }
    for (const [w, evs] of batches) {
      if (w.owner.deliver(w, evs, revision)) {
        w.nextRev = revision + 1n;
        continue;
      }
      // No room: drop the events; the watcher re-reads them from history later.
      this.synced.delete(w);
      if (w.nextRev < from) w.nextRev = from;
      this.#makeVictim(w);
    }
  }

  /** Adopts a replaced store (snapshot install): synced watchers must catch up. */
  #checkStore(): void {
    const store = this.#source.store;
    if (store === this.#store || this.#closed) return;
    this.#commitSub.dispose();
    this.#store = store;
    this.#commitSub = this.#subscribe(store);
    const next = this.#rev + 1n;
    for (const w of [...this.synced.values()] as SinkWatcher[]) {
      this.synced.delete(w);
      if (w.nextRev < next) w.nextRev = next;
      w.state = "unsynced";
      this.unsynced.add(w);
    }
    this.#rev = store.revision;
    this.#logger.info({ revision: store.revision }, "store replaced; watchers catch up");
    this.#scheduleSync();
  }

  #scheduleSync(delayMs = 0): void {
    if (this.#syncTimer || this.#closed || this.unsynced.size === 0) return;
    const run = () => {
      this.#syncTimer = undefined;
      this.#syncWatchers();
    };
    if (delayMs > 0) {
      const t = setTimeout(run, delayMs);
      t.unref();
      this.#syncTimer = t;
    } else {
      this.#syncTimer = setImmediate(run);
    }
  }

  /** One catch-up turn (etcd's syncWatchers): bounded work, then yield. */
  #syncWatchers(): void {
    if (this.#closed) return;
    this.#checkStore();
    this.stats.catchUpTurns++;
    const store = this.#store;
    const pageEntries = this.#opts.catchUpPageEntries;
    let budget = this.#opts.catchUpEntriesPerTurn;
    let retryLater = false;
    for (const w of [...this.unsynced]) {
      if (budget <= 0) break;
      if (w.state !== "unsynced") continue;
      this.unsynced.delete(w);
      const curRev = store.revision;
      const compactRev = store.compactRevision;
      if (w.nextRev < compactRev) {
        this.stats.compacted++;
        w.state = "compacted";
        w.owner.compacted(w, compactRev);
        continue;
      }
      if (w.nextRev > curRev) {
        w.state = "synced";
        this.synced.add(w);
        continue;
      }
      if (!w.owner.hasRoom()) {
        this.#makeVictim(w);
        continue;
      }
      let page: ReturnType<MvccStore["changes"]>;
      try {
        page = store.changes({
          fromRevision: w.nextRev,
          key: w.key,
          ...(w.rangeEnd ? { rangeEnd: w.rangeEnd } : {}),
          limit: pageEntries,
        });
      } catch (err) {
        if (err instanceof StorageError && err.errorName === "ErrCompacted") {
          w.state = "compacted";
          w.owner.compacted(w, store.compactRevision);
          continue;
        }
        if (this.#closed || store !== this.#source.store || store.engine.closed) {
          // Shutting down, or the store is being replaced (a snapshot install closes the
          // old one before the new one is handed over): try again a little later.
          this.unsynced.add(w);
          retryLater = true;
          break;
        }
        this.#logger.error({ err, watchId: w.id }, "reading watch history failed");
        w.state = "canceled";
        w.owner.fail(err);
        continue;
      }
      budget -= pageEntries;
      this.stats.catchUpPages++;
      if (page.events.length > 0 && !w.owner.deliver(w, page.events, page.nextRevision - 1n)) {
        // hasRoom() was true a moment ago; a sink that refuses anyway keeps the watcher.
        this.#makeVictim(w);
        continue;
      }
      w.nextRev = page.nextRevision;
      if (page.done) {
        w.state = "synced";
        this.synced.add(w);
      } else {
        this.unsynced.add(w); // to the back: round robin
      }
    }
    this.#scheduleSync(retryLater ? RETRY_MS : 0);
  }
}
