/**
 * RaftDriver: the Ready loop, the one place that does I/O (docs/architecture.md, "The
 * Ready loop"). Inputs (proposals, peer messages, ticks, read requests) only touch the
 * RawNode and schedule one `processReady` for the end of the event-loop turn; one Ready is
 * in flight at a time, and while it awaits its fsync new inputs accumulate, so the next
 * Ready carries all of them (group commit, DESIGN rule 5). For each Ready:
 *
 * 1. `rd.messages` go to the transport at once (thesis §10.2.1).
 * 2. ONE RocksDB write batch gets the raft log changes (entries, HardState), the effects
 *    of `rd.committedEntries` (MVCC, leases, membership) and the applied index; it is
 *    written, then fsynced when `rd.mustSync`. Apply results are computed before the write
 *    and released only after it (DESIGN rules 3 and 4): right after the write when every
 *    applied entry was already durable here (written and fsynced by an earlier Ready),
 *    otherwise after the fsync. Read states are released right after the write.
 * 3. `rd.messagesAfterPersist` go to the transport once the fsync is done (DESIGN rule 1).
 * 4. Waiters not answered in step 2 are answered (hooks).
 * 5. `advance(rd)`; then, every `snapshotCount` applied entries or `snapshotBytes` of
 *    them, a raft snapshot is taken and the log compacted (keeping `catchUpEntries` for
 *    slow followers, fewer when they exceed `catchUpBytes`: log-retention.ts), once the
 *    applied state is synced.
 *
 * A long apply (a DeleteRange of many keys) does not hold the event loop: the apply hook
 * may return a generator that yields inside such a request; once a slice has run
 * {@link APPLY_SLICE_MS}, the driver gives the event loop a turn before resuming it. The
 * Ready stays in flight meanwhile (its write batch open, nothing written, no result
 * released, the next Ready not started): only timers and I/O run, and inputs touch the
 * RawNode as during an fsync. While a Ready is in flight, each tick and each heartbeat
 * received send what raft lets leave early (`takeEarlyMessages`: a leader's heartbeats
 * and appends, a follower's heartbeat responses at a durable term), so no election
 * timeout expires during a long apply, on the leader or on a follower.
 *
 * The driver can be paused (the member swaps its storage for an installed snapshot) and
 * stopped. A failed write is fatal: the member must stop (hooks.onFatal).
 */
import {
  BugIndicatingError,
  type Entry,
  type Message,
  MessageType,
  type RawNode,
  type ReadState,
  type Ready,
  type SnapshotStatus,
  type SoftState,
  StateType,
} from "@chainfire/raft";
import {
  type Engine,
  failpoint,
  failpointsActive,
  type LeaseStore,
  type MetaStore,
  type MvccStore,
  type MvccWrite,
  type RaftLogStore,
  type WriteBatch,
} from "@chainfire/storage";
import type { AlarmStore } from "./apply/alarms.js";
import type { ApplyOutput } from "./apply/applier.js";
import {
  CHECKPOINT_BYTES,
  compactTarget,
  DEFAULT_CATCH_UP_BYTES,
  DEFAULT_SNAPSHOT_BYTES,
  LogBytes,
} from "./log-retention.js";
import { MAX_STALL_WAIT_MS, STALL_LOG_EVERY_MS, STALL_POLL_MS } from "./storage-stall.js";

/** The storage and raft node the driver works on (replaced as a whole by a snapshot install). */
export interface DriverState {
  readonly engine: Engine;
  readonly log: RaftLogStore;
  readonly meta: MetaStore;
  readonly leases: LeaseStore;
  readonly store: MvccStore;
  readonly alarms: AlarmStore;
  readonly node: RawNode;
}

/** What the driver calls back into. */
export interface DriverHooks {
  /** Hands messages to the transport. */
  send(msgs: Message[]): void;
  /**
   * Writes what {@link send} handed over to the sockets now instead of at the end of the
   * event-loop turn (synchronous; optional).
   */
  flushSends?(): void;
  /**
   * Applies committed entries into the open write: at once, or as a generator that yields
   * where the driver may give the event loop a turn (see the module comment).
   */
  apply(w: MvccWrite, entries: readonly Entry[]): ApplyOutput | Iterator<void, ApplyOutput, void>;
  /** The leader or role changed (called before the Ready's write). */
  onSoftState(ss: SoftState): void;
  /** A Ready's write is done: release results (`out` undefined when nothing was applied). */
  onApplied(out: ApplyOutput | undefined, appliedIndex: number): void;
  onReadStates(rs: readonly ReadState[]): void;
  /** After each Ready (e.g. to re-propose held proposals). */
  afterReady(): void;
  /** The loop failed (an I/O error, a bug): the member must stop. */
  onFatal(err: unknown): void;
}

/** Timings and counters the driver reports (Prometheus, etcd's names; see metrics.ts). */
export interface DriverMetrics {
  walFsyncSeconds(s: number): void;
  backendCommitSeconds(s: number): void;
  /** Entries committed / applied so far (the indexes). */
  committedIndex(i: number): void;
  appliedIndex(i: number): void;
  /** Number of entries written per Ready (batching factor). */
  readyEntries?(n: number): void;
}

/**
 * With `CHAINFIRE_WAL_SYNC=auto`: the largest Ready (in entries) whose fsync runs on the
 * event-loop thread. A light load (one client: one entry per Ready) waits on each fsync,
 * and a hand-off to the sync worker and back costs two thread wake-ups; blocking the loop
 * for a small fsync costs little when nothing else is queued. Under load each Ready
 * carries many entries, and the worker keeps the loop free to read the next requests
 * during the fsync. Not the default: on this machine (10-40% CPU steal that day) no A/B
 * showed a difference, and on a slow disk a blocked loop stalls every client of the
 * member (docs/performance.md).
 */
export const INLINE_SYNC_MAX_ENTRIES = 4;

/**
 * `inlineSyncMaxEntries` for `CHAINFIRE_WAL_SYNC` (A/B measurements): "auto"
 * {@link INLINE_SYNC_MAX_ENTRIES}, "inline" Infinity, anything else (unset: the default)
 * 0, every fsync on the sync worker.
 */
export function walSyncInlineMaxEntries(env: NodeJS.ProcessEnv = process.env): number {
  if (env.CHAINFIRE_WAL_SYNC === "auto") return INLINE_SYNC_MAX_ENTRIES;
  if (env.CHAINFIRE_WAL_SYNC === "inline") return Number.POSITIVE_INFINITY;
  return 0;
}

/** Apply time after which a sliced apply gives the event loop a turn (heartbeats: 100 ms). */
export const APPLY_SLICE_MS = 10;

/** Peer messages (and their entry bytes) kept at most while paused with holdMessages;
 * beyond, messages are dropped (raft retries, forwarded proposals time out). */
const MAX_HELD_MESSAGES = 10_000;
const MAX_HELD_BYTES = 64 * 1024 * 1024;

export interface RaftDriverOptions {
  /** Applied entries between raft snapshots. */
  snapshotCount: number;
  /** Entries kept behind a snapshot for slow followers (etcd: 5000). */
  catchUpEntries: number;
  /** Applied entry bytes between raft snapshots (log-retention.ts). Default 64 MiB. */
  snapshotBytes?: number;
  /** Entry bytes kept behind a snapshot (log-retention.ts). Default 64 MiB. */
  catchUpBytes?: number;
  /**
   * A Ready that writes at most this many entries fsyncs on the event-loop thread, larger
   * ones on the engine's sync worker (see {@link walSyncInlineMaxEntries}). Default 0:
   * always the worker; Infinity: always inline.
   */
  inlineSyncMaxEntries?: number;
  hooks: DriverHooks;
  metrics?: DriverMetrics;
  logger?: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

export class RaftDriver {
  #state: DriverState;
  readonly #opts: RaftDriverOptions;
  #scheduled = false;
  #running: Promise<void> | null = null;
  #paused = false;
  #stopped = false;
  /** Whether peer messages are kept (not dropped) while paused; see takeHeldMessages. */
  #holdMessages = false;
  #heldMessages: Message[] = [];
  /** Paused with holdMessages and no Ready in flight: ticks send heartbeats (see tick). */
  #heartbeatWhilePaused = false;
  #heldBytes = 0;
  #snapIndex: number;
  /** Bytes of the log appended by this driver, for the byte rules of log-retention.ts. */
  readonly #logBytes: LogBytes;
  /** The sliced apply of the Ready in flight, when it took 10 turns or more (logged). */
  #longApply: { ms: number; turns: number } | undefined;
  /** Stall waits since the last "held Ready writes" log line. */
  #stallLog: { since: number; waits: number; ms: number; bytes: number } | undefined;
  /** Whether the last SoftState said leader (only for the send failpoints). */
  #leading = false;
  /** Readies processed and entries they wrote (for tests and the log). */
  readonly stats = {
    readies: 0,
    entries: 0,
    committed: 0,
    syncs: 0,
    /** Event-loop turns given during applies, and messages sent early (mid-Ready). */
    applyYields: 0,
    earlySent: 0,
    /** Ready writes held for a RocksDB write stall (storage-stall.ts). */
    stallWaits: 0,
  };

  constructor(state: DriverState, opts: RaftDriverOptions) {
    this.#state = state;
    this.#opts = opts;
    this.#snapIndex = state.log.snapshot().metadata.index;
    this.#logBytes = new LogBytes(
      Math.min(
        CHECKPOINT_BYTES,
        (opts.snapshotBytes ?? DEFAULT_SNAPSHOT_BYTES) / 16,
        (opts.catchUpBytes ?? DEFAULT_CATCH_UP_BYTES) / 16,
      ),
    );
  }

  get state(): DriverState {
    return this.#state;
  }

  get node(): RawNode {
    return this.#state.node;
  }

  /** Whether inputs are accepted (not paused or stopped). */
  get accepting(): boolean {
    return !this.#paused && !this.#stopped;
  }

  // ---- inputs: touch the RawNode, schedule ----

  /** Proposes `data`; throws raft's ProposalDroppedError when it cannot be accepted. */
  propose(data: Uint8Array): void {
    this.#state.node.propose(data);
    this.schedule();
  }

  step(m: Message): void {
    if (this.#paused && !this.#stopped && this.#holdMessages) {
      let bytes = 0;
      for (const e of m.entries) bytes += e.data.length;
      if (
        this.#heldMessages.length < MAX_HELD_MESSAGES &&
        this.#heldBytes + bytes <= MAX_HELD_BYTES
      ) {
        this.#heldMessages.push(m);
        this.#heldBytes += bytes;
      }
      return;
    }
    if (!this.accepting) return;
    this.#state.node.step(m);
    // A follower answers heartbeats even while a long Ready is in flight.
    if (this.#running && m.type === MessageType.MsgHeartbeat) this.#sendEarly();
    this.schedule();
  }

  /**
   * The peer messages that arrived while paused with `holdMessages` (Defragment: the
   * storage stays the same, so they are still meaningful — forwarded proposals among
   * them); the caller steps them after {@link resume}.
   */
  takeHeldMessages(): Message[] {
    const held = this.#heldMessages;
    this.#heldMessages = [];
    this.#heldBytes = 0;
    return held;
  }

  /**
   * Advances raft's clock by one tick. While paused with `holdMessages` (Defragment) the
   * clock stands still, and a leader sends heartbeats instead (RawNode.pausedHeartbeats):
   * the pause can outlast the election timeout, and followers that stop hearing from the
   * leader would elect another one, losing the proposals it holds.
   */
  tick(): void {
    if (this.#heartbeatWhilePaused && this.#paused && !this.#stopped) {
      const beats = this.#state.node.pausedHeartbeats();
      if (beats.length > 0) this.#opts.hooks.send(beats);
      return;
    }
    if (!this.accepting) return;
    this.#state.node.tick();
    // A leader's heartbeats leave even while a long Ready is in flight.
    if (this.#running) this.#sendEarly();
    this.schedule();
  }

  /** Sends what raft lets leave while a Ready is in flight (see the module comment). */
  #sendEarly(): void {
    const msgs = this.#state.node.takeEarlyMessages();
    if (msgs.length === 0) return;
    this.stats.earlySent += msgs.length;
    if (failpointsActive) this.#sendFailpoint();
    this.#opts.hooks.send(msgs);
  }

  readIndex(ctx: Uint8Array): void {
    if (!this.accepting) return;
    this.#state.node.readIndex(ctx);
    this.schedule();
  }

  reportUnreachable(id: bigint): void {
    if (!this.accepting) return;
    this.#state.node.reportUnreachable(id);
    this.schedule();
  }

  reportSnapshot(id: bigint, status: SnapshotStatus): void {
    if (!this.accepting) return;
    this.#state.node.reportSnapshot(id, status);
    this.schedule();
  }

  transferLeadership(to: bigint): void {
    if (!this.accepting) return;
    this.#state.node.transferLeadership(to);
    this.schedule();
  }

  campaign(): void {
    if (!this.accepting) return;
    this.#state.node.campaign();
    this.schedule();
  }

  /** Schedules one run of the loop at the end of this event-loop turn. */
  schedule(): void {
    if (this.#scheduled || this.#running || !this.accepting) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#kick();
    });
  }

  // ---- control ----

  /** Waits for the Ready in flight, then processes nothing until {@link resume}. */
  async pause(opts: { holdMessages?: boolean } = {}): Promise<void> {
    this.#paused = true;
    this.#holdMessages = opts.holdMessages ?? false;
    await this.#running;
    // No Ready in flight any more: ticks may send a leader's heartbeats (see tick).
    this.#heartbeatWhilePaused = this.#paused && this.#holdMessages;
  }

  /** Replaces the storage and node (while paused) and resumes the loop. */
  resume(state?: DriverState): void {
    this.#holdMessages = false;
    this.#heartbeatWhilePaused = false;
    if (state) {
      this.#heldMessages = [];
      this.#heldBytes = 0;
      this.#state = state;
      this.#snapIndex = state.log.snapshot().metadata.index;
      this.#logBytes.reset();
    }
    this.#paused = false;
    this.schedule();
  }

  /**
   * While paused (Maintenance.Defragment): takes a raft snapshot at the applied index
   * (after syncing the applied state) and compacts the log up to `compactTo`, clamped to
   * the snapshot index. Returns the first index left in the log.
   */
  async compactLog(compactTo: number): Promise<number> {
    if (!this.#paused) throw new BugIndicatingError("compactLog while the driver runs");
    const { engine, log, meta } = this.#state;
    await engine.syncWal();
    const applied = meta.appliedIndex;
    if (applied > this.#snapIndex) {
      log.createSnapshot(applied, meta.confState);
      this.#snapIndex = applied;
    }
    const to = Math.min(compactTo, this.#snapIndex);
    if (to > log.firstIndex() - 1) log.compact(to);
    this.#logBytes.forget(log.firstIndex() - 1);
    return log.firstIndex();
  }

  /** Stops the loop after the Ready in flight. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#running;
  }

  // ---- the loop ----

  #kick(): void {
    if (this.#running || !this.accepting) return;
    this.#running = this.#loop().finally(() => {
      this.#running = null;
    });
  }

  async #loop(): Promise<void> {
    try {
      while (this.accepting && this.#state.node.hasReady()) {
        await this.#processReady(this.#state);
        this.#opts.hooks.afterReady();
        // Let the I/O callbacks of this turn (new proposals, peer messages) run first, so
        // the next Ready carries all of them.
        if (this.accepting && this.#state.node.hasReady()) {
          await new Promise<void>((r) => setImmediate(r));
        }
      }
    } catch (err) {
      this.#stopped = true;
      this.#opts.hooks.onFatal(err);
    }
  }

  async #processReady(st: DriverState): Promise<void> {
    const { node, engine, log, meta, leases, store } = st;
    const hooks = this.#opts.hooks;
    const rd: Ready = node.ready();
    this.stats.readies++;
    if (rd.softState) {
      this.#leading = rd.softState.raftState === StateType.Leader;
      hooks.onSoftState(rd.softState);
    }

    // node.ready() and log.save below stay in one synchronous block: no input reaches the
    // RawNode before this Ready's entries are in the log store. (Session 5 tried a wait
    // here, and messages held back until after the results; both were reverted after
    // membership e2e failures, docs/performance.md.)
    // 1. Messages that may leave before this Ready is durable.
    if (rd.messages.length > 0) {
      if (failpointsActive) this.#sendFailpoint();
      hooks.send(rd.messages);
    }

    // 2. One write batch: raft log + apply effects + applied index.
    if (rd.snapshot) {
      // Snapshots are installed by the member outside the loop (storage swap); raft never
      // hands one out here because the installed state is already at the snapshot.
      throw new Error(`unexpected snapshot in Ready at index ${rd.snapshot.metadata.index}`);
    }
    const ce = rd.committedEntries;
    const needWrite = rd.entries.length > 0 || rd.hardState !== undefined || ce.length > 0;
    let out: ApplyOutput | undefined;
    // Results of committed entries may go before this Ready's fsync when every one of them
    // is already durable here: it reached the disk in an earlier Ready (each Ready's fsync
    // completes before the next Ready starts), i.e. none is among this Ready's entries.
    // Committed entries are durable on a quorum anyway (rules 1 and 2); see
    // docs/architecture.md, "When results are released".
    let released = false;
    let readsReleased = false;
    if (needWrite) {
      let w: MvccWrite | undefined;
      let batch: WriteBatch;
      if (ce.length > 0) {
        w = store.beginWrite();
        batch = w.batch;
      } else {
        batch = engine.batch();
      }
      try {
        log.save(batch, { entries: rd.entries, hardState: rd.hardState });
        if (rd.entries.length > 0) this.#countEntries(rd.entries);
        if (w && failpointsActive) failpoint("raftBeforeApply");
        if (w) out = await this.#apply(w, ce);
      } catch (err) {
        w?.abort();
        log.abort(batch);
        meta.abort(batch);
        leases.abort(batch);
        if (!w) batch.close();
        throw err;
      }
      // RocksDB would sleep inside the write, on this thread, while it stalls writes: let
      // the sync worker take that sleep first, with the Ready in flight (storage-stall.ts).
      const stall = engine.writeStall();
      const stalled = stall.stopped || stall.delayedRate > 0;
      if (stalled) await this.#absorbStall(batch.byteLength);
      const sync = rd.mustSync;
      const t0 = performance.now();
      if (failpointsActive) failpoint("raftBeforeSave");
      // The write itself is synchronous (memtable + WAL in the page cache; later reads see
      // it); the fsync is awaited separately below. A failed write rejects here.
      if (w) await w.commit({ sync: false });
      else await engine.write(batch, { sync: false });
      log.commit(batch);
      meta.commit(batch);
      leases.commit(batch);
      if (!w) batch.close(); // the MVCC store reuses its own batch
      // Read states need only the applied index (not this Ready's durability).
      if (rd.readStates.length > 0) hooks.onReadStates(rd.readStates);
      readsReleased = true;
      if (
        ce.length > 0 &&
        (rd.entries.length === 0 || ce[ce.length - 1].index < rd.entries[0].index)
      ) {
        released = true;
        this.#applied(out, meta.appliedIndex);
      }
      const t1 = performance.now();
      if (this.#longApply) {
        const { ms, turns } = this.#longApply;
        this.#longApply = undefined;
        this.#opts.logger?.info(
          { ms: Math.round(ms), turns, writeMs: Math.round(t1 - t0), entries: ce.length },
          "long apply spread over event-loop turns",
        );
      }
      if (failpointsActive && sync) failpoint("raftBeforeFsync");
      if (sync) {
        // Not inline while RocksDB stalls: the fsync's write would take the charge for this
        // Ready's write on this thread.
        const inline = !stalled && rd.entries.length <= (this.#opts.inlineSyncMaxEntries ?? 0);
        // An inline fsync holds the thread: step 1's messages leave first (no yield, so no
        // input reaches the RawNode here), as they do while a worker fsync is awaited.
        if (inline && rd.messages.length > 0) hooks.flushSends?.();
        await engine.syncWal({ inline });
      }
      if (failpointsActive) failpoint("raftAfterSave");
      const m = this.#opts.metrics;
      if (m) {
        if (sync) m.walFsyncSeconds((performance.now() - t1) / 1000);
        m.backendCommitSeconds((t1 - t0) / 1000);
        if (rd.hardState) m.committedIndex(rd.hardState.commit);
        if (rd.entries.length > 0) m.readyEntries?.(rd.entries.length);
      }
      if (sync) this.stats.syncs++;
      this.stats.entries += rd.entries.length;
      this.stats.committed += ce.length;
    }

    // 3. Messages that promise what is now durable.
    if (rd.messagesAfterPersist.length > 0) {
      if (failpointsActive) this.#sendFailpoint();
      hooks.send(rd.messagesAfterPersist);
    }

    // 4. Results, reads (unless released above).
    if (!released && ce.length > 0) this.#applied(out, meta.appliedIndex);
    if (!readsReleased && rd.readStates.length > 0) hooks.onReadStates(rd.readStates);

    // 5.
    node.advance(rd);
    if (
      meta.appliedIndex - this.#snapIndex >= this.#opts.snapshotCount ||
      this.#logBytes.between(this.#snapIndex, meta.appliedIndex) >=
        (this.#opts.snapshotBytes ?? DEFAULT_SNAPSHOT_BYTES)
    ) {
      await this.#snapshot(st);
    }
  }

  #countEntries(entries: readonly Entry[]): void {
    let bytes = 0;
    for (const e of entries) bytes += e.data.length;
    this.#logBytes.appended(entries[0].index, entries[entries.length - 1].index, bytes);
  }

  /**
   * The lowest match index of the followers the leader streams entries to (replicate state)
   * or heard from recently (log-retention.ts); Infinity when not leading (no Progress then).
   */
  #protectedIndex(): number {
    const status = this.#state.node.status();
    let low = Number.POSITIVE_INFINITY;
    for (const [id, pr] of status.progress) {
      if (id === status.id || pr.state === "snapshot") continue;
      if (pr.state !== "replicate" && !pr.recentActive) continue;
      low = Math.min(low, pr.match);
    }
    return low;
  }

  /**
   * Before a Ready's write while RocksDB stalls (storage-stall.ts): a synced write on the
   * sync worker takes the sleep RocksDB charges for the previous write, or waits out a
   * stop, off the event loop; repeated every STALL_POLL_MS while writes stay stopped, the
   * driver runs, and MAX_STALL_WAIT_MS have not passed (then the batch is written anyway).
   * The Ready stays in flight: timers and I/O run, heartbeats and their answers leave early
   * (step, tick), nothing is written or released.
   */
  async #absorbStall(bytes: number): Promise<void> {
    const engine = this.#state.engine;
    const t0 = performance.now();
    this.stats.stallWaits++;
    let gaveUp = false;
    for (;;) {
      await engine.syncWal();
      if (!this.accepting || !engine.writeStall().stopped) break;
      if (performance.now() - t0 >= MAX_STALL_WAIT_MS) {
        gaveUp = true;
        break;
      }
      await new Promise<void>((resolve) => setTimeout(resolve, STALL_POLL_MS));
    }
    const ms = performance.now() - t0;
    if (gaveUp) {
      this.#opts.logger?.warn(
        { ms: Math.round(ms), bytes, ...engine.writeStall() },
        "RocksDB still stops writes; writing the Ready anyway (the event loop may block)",
      );
    }
    const w = (this.#stallLog ??= { since: t0, waits: 0, ms: 0, bytes: 0 });
    w.waits++;
    w.ms += ms;
    w.bytes += bytes;
    if (t0 + ms - w.since >= STALL_LOG_EVERY_MS) {
      this.#opts.logger?.info(
        { readies: w.waits, heldMs: Math.round(w.ms), bytes: w.bytes },
        "held Ready writes during RocksDB write stalls",
      );
      this.#stallLog = undefined;
    }
  }

  /** Runs the apply hook; a sliced apply gets an event-loop turn every APPLY_SLICE_MS. */
  async #apply(w: MvccWrite, ce: readonly Entry[]): Promise<ApplyOutput> {
    const r = this.#opts.hooks.apply(w, ce);
    if (!isIterator(r)) return r;
    const t0 = performance.now();
    let sliceStart = t0;
    let turns = 0;
    for (;;) {
      const step = r.next();
      if (step.done) {
        if (turns >= 10) this.#longApply = { ms: performance.now() - t0, turns };
        return step.value;
      }
      if (performance.now() - sliceStart >= APPLY_SLICE_MS) {
        turns++;
        this.stats.applyYields++;
        await new Promise<void>((resolve) => setImmediate(resolve));
        sliceStart = performance.now();
      }
    }
  }

  /** Hands a Ready's apply results to the member (step 4). */
  #applied(out: ApplyOutput | undefined, applied: number): void {
    this.#opts.hooks.onApplied(out, applied);
    this.#opts.metrics?.appliedIndex(applied);
    if (failpointsActive) failpoint("raftAfterApply");
  }

  #sendFailpoint(): void {
    failpoint(this.#leading ? "raftBeforeLeaderSend" : "raftBeforeFollowerSend");
  }

  /** Raft snapshot + log compaction, once the applied state is synced. */
  async #snapshot(st: DriverState): Promise<void> {
    const { engine, log, meta } = st;
    await engine.syncWal();
    const applied = meta.appliedIndex;
    if (applied <= this.#snapIndex) return;
    if (failpointsActive) failpoint("raftBeforeSnapshotLog");
    log.createSnapshot(applied, meta.confState);
    this.#snapIndex = applied;
    const compactTo = compactTarget(
      applied,
      this.#opts.catchUpEntries,
      this.#logBytes.floor(applied, this.#opts.catchUpBytes ?? DEFAULT_CATCH_UP_BYTES),
      this.#protectedIndex(),
    );
    if (compactTo > log.firstIndex() - 1) {
      log.compact(compactTo);
      this.#logBytes.forget(compactTo);
    }
    if (failpointsActive) failpoint("raftAfterSnapshotLog");
    this.#opts.logger?.info(
      { snapshotIndex: applied, firstIndex: log.firstIndex() },
      "raft snapshot taken, log compacted",
    );
  }
}

function isIterator(
  x: ApplyOutput | Iterator<void, ApplyOutput, void>,
): x is Iterator<void, ApplyOutput, void> {
  return typeof (x as Partial<Iterator<void, ApplyOutput, void>>).next === "function";
}
