import type { Config, Ready } from "../index.js";
import {
  type ConfState,
  decodeConfChange,
  decodeConfChangeV2,
  type Entry,
  EntryType,
  type MemoryStorage,
  type Message,
  type NodeId,
  RawNode,
  StateType,
} from "../index.js";
import { KvApp } from "./app.js";
import type { Prng } from "./prng.js";
import type { ReadChecker } from "./read-checker.js";
import type { SafetyChecker } from "./safety-checker.js";

/** What a {@link SimNode} needs from the simulation around it. */
export interface NodeHost {
  readonly now: number;
  readonly rng: Prng;
  readonly checker: SafetyChecker;
  readonly reads: ReadChecker;
  readonly stats: { readsServed: number; writesAcked: number };
  trace(line: string): void;
  /** Hands a message node `via` sends to the network. */
  send(m: Message, via: NodeId): void;
  /**
   * Persists the node's oldest pending Ready after `delay` (0: now, inline). Calls come in
   * the order the Readys were taken and must be honoured in that order.
   */
  schedulePersist(n: SimNode, delay: number): void;
  /** A deliberately broken driver, to show that the checkers catch it (tests only). */
  readonly driverBug?: DriverBug;
  /** Whether the named failpoint fires now; if so the host has crashed the node. */
  failpoint(n: SimNode, name: "after-persist" | "after-send"): boolean;
  /** A conf change was applied at `index` on `n`, changing its configuration `prev` to `cs`. */
  onConfApplied(n: SimNode, index: number, prev: ConfState, cs: ConfState): void;
}

/**
 * Ways to break the driver's duties on purpose (sim.test.ts checks that each is caught):
 * `send-before-persist` sends messagesAfterPersist with `messages`, before the Ready is
 * durable; `lose-vote-on-crash` makes a crash forget the durable vote.
 */
export type DriverBug = "send-before-persist" | "lose-vote-on-crash";

/** Knobs the simulation fixes per seed and uses for every (re)start. */
export type NodeConfig = Omit<Config, "id" | "storage" | "applied" | "random" | "logger">;

/**
 * One member of the simulated cluster: a RawNode, the durable storage it was built from
 * (a MemoryStorage written only when the sim "fsyncs" a Ready) and the durable
 * application. The node plays the Ready loop of ready.ts, with persistence possibly
 * delayed: between taking a Ready and persisting it the node keeps receiving messages and
 * ticks, and a crash in that window loses the Ready.
 */
export class SimNode {
  readonly storage: MemoryStorage;
  raw: RawNode | undefined;
  app: KvApp;
  /** A Ready taken and not yet persisted. */
  /** Readys taken and not yet persisted, oldest first (pipelined up to `maxPipeline`). */
  readonly pending: Ready[] = [];
  /** The virtual time of the last scheduled persist (persists happen in order). */
  lastPersistAt = 0;
  /** Removed from the cluster and shut down for good. */
  stopped = false;
  /** Write ids proposed here whose client waits for the apply. */
  readonly waiting = new Set<string>();
  /** Reads issued here, not yet served. */
  readonly openReads = new Set<string>();
  /** Reads raft answered, waiting for applied >= index. */
  private readonly answered: { ctx: string; index: number }[] = [];

  constructor(
    readonly id: NodeId,
    storage: MemoryStorage,
    app: KvApp,
    private readonly cfg: NodeConfig,
  ) {
    this.storage = storage;
    this.app = app;
  }

  get alive(): boolean {
    return this.raw !== undefined;
  }

  /** Starts (or restarts) raft from what is durable. */
  start(h: NodeHost): void {
    const snap = this.storage.snapshot();
    if (snap.metadata.index > this.app.applied) {
      // A received snapshot was persisted but not applied before a crash: the member
      // restores its state machine from it before starting raft, as a real server does.
      this.app = KvApp.decode(snap);
      h.checker.onRestore(this.id, this.app.applied, this.app.chain);
    }
    this.raw = new RawNode({
      ...this.cfg,
      id: this.id,
      storage: this.storage,
      applied: this.app.applied,
      random: () => h.rng.next(),
    });
  }

  /** Loses everything volatile: raft's memory, the unpersisted Ready, waiting clients. */
  crash(h: NodeHost): void {
    this.raw = undefined;
    this.pending.length = 0;
    this.waiting.clear();
    for (const ctx of this.openReads) h.reads.abandon(ctx);
    this.openReads.clear();
    this.answered.length = 0;
    h.checker.onCrash(this.id);
    if (h.driverBug === "lose-vote-on-crash") {
      const hs = this.storage.initialState().hardState;
      this.storage.setHardState({ ...hs, vote: 0n });
    }
  }

  /**
   * Takes a Ready if there is one and fewer than `maxPipeline` are pending; sends what may
   * go before fsync and schedules the persist.
   */
  maybeReady(h: NodeHost, persistDelay: number, maxPipeline: number): boolean {
    const raw = this.raw;
    if (raw === undefined || this.pending.length >= maxPipeline || !raw.hasReady()) return false;
    const rd = raw.ready();
    h.checker.onReady(this.id, rd, raw.basicStatus().hardState.term);
    h.trace(`n${this.id} ready ${summarizeReady(rd)}`);
    this.pending.push(rd);
    const early =
      h.driverBug === "send-before-persist"
        ? [...rd.messages, ...rd.messagesAfterPersist]
        : rd.messages;
    for (const m of early) {
      h.checker.onSend(m);
      h.send(m, this.id);
    }
    h.schedulePersist(this, persistDelay);
    return true;
  }

  /** Persists the oldest pending Ready, then sends, applies and advances (ready.ts 2–5). */
  persist(h: NodeHost): void {
    const rd = this.pending[0];
    const raw = this.raw;
    if (rd === undefined || raw === undefined) return;
    if (rd.snapshot !== undefined) this.storage.applySnapshot(rd.snapshot);
    this.storage.append(rd.entries);
    if (rd.hardState !== undefined) this.storage.setHardState(rd.hardState);
    h.checker.onPersist(this.id);
    if (h.failpoint(this, "after-persist")) return;
    for (const m of h.driverBug === "send-before-persist" ? [] : rd.messagesAfterPersist) {
      h.checker.onSend(m);
      h.send(m, this.id);
    }
    if (h.failpoint(this, "after-send")) return;
    if (rd.snapshot !== undefined) {
      this.app = KvApp.decode(rd.snapshot);
      h.checker.onRestore(this.id, this.app.applied, this.app.chain);
      if (this.app.applied !== rd.snapshot.metadata.index) {
        throw new Error(
          `snapshot data at ${this.app.applied} but metadata at ${rd.snapshot.metadata.index}`,
        );
      }
    }
    for (const e of rd.committedEntries) this.apply(h, raw, e);
    for (const rs of rd.readStates) {
      this.answered.push({ ctx: DECODER.decode(rs.requestCtx), index: rs.index });
    }
    this.serveReads(h);
    this.pending.shift();
    raw.advance(rd);
  }

  private apply(h: NodeHost, raw: RawNode, e: Entry): void {
    h.checker.onApply(this.id, e);
    if (e.type === EntryType.Normal) {
      const writeId = this.app.applyNormal(e);
      if (writeId !== undefined && this.waiting.delete(writeId)) {
        h.reads.onWriteAcked(e.index);
        h.stats.writesAcked++;
        h.trace(`n${this.id} ack ${writeId}@${e.index}`);
      }
      return;
    }
    const cc =
      e.type === EntryType.ConfChange ? decodeConfChange(e.data) : decodeConfChangeV2(e.data);
    const cs = raw.applyConfChange(cc);
    const prev = this.app.confState;
    this.app.advance(e);
    this.app.confState = cs;
    this.storage.setConfState(cs);
    h.onConfApplied(this, e.index, prev, cs);
  }

  private serveReads(h: NodeHost): void {
    for (let i = 0; i < this.answered.length; ) {
      const r = this.answered[i];
      if (r.index <= this.app.applied) {
        if (this.openReads.has(r.ctx)) {
          h.reads.onReadServed(r.ctx, r.index, this.app.applied);
          h.stats.readsServed++;
          h.trace(`n${this.id} read ${r.ctx} served at ${r.index} (applied ${this.app.applied})`);
        }
        this.answered.splice(i, 1);
      } else i++;
    }
  }

  isLeader(): boolean {
    return this.raw?.basicStatus().softState.raftState === StateType.Leader;
  }
}

function summarizeReady(rd: Ready): string {
  const parts: string[] = [];
  if (rd.softState) parts.push(`ss=${StateType[rd.softState.raftState]}/lead${rd.softState.lead}`);
  if (rd.hardState)
    parts.push(`hs=${rd.hardState.term}/${rd.hardState.vote}/${rd.hardState.commit}`);
  if (rd.snapshot) parts.push(`snap=${rd.snapshot.metadata.index}/${rd.snapshot.metadata.term}`);
  if (rd.entries.length > 0) {
    const a = rd.entries[0];
    const b = rd.entries[rd.entries.length - 1];
    parts.push(`ents=${a.term}/${a.index}..${b.term}/${b.index}`);
  }
  if (rd.committedEntries.length > 0) {
    parts.push(
      `commit=${rd.committedEntries[0].index}..${rd.committedEntries[rd.committedEntries.length - 1].index}`,
    );
  }
  if (rd.readStates.length > 0) parts.push(`reads=${rd.readStates.length}`);
  parts.push(`msgs=${rd.messages.length}+${rd.messagesAfterPersist.length}`);
  return parts.join(" ");
}

const DECODER = new TextDecoder();
