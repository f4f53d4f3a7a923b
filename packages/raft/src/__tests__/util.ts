/**
 * Test utilities for the raft core's unit tests: a seeded PRNG, node construction, a Ready
 * driver that persists into MemoryStorage, and an in-memory network with drops and
 * partitions (in the spirit of etcd-io/raft's raft_test.go `network`).
 */

import { decodeConfChange, decodeConfChangeV2 } from "../conf-change.js";
import type { Config } from "../config.js";
import { StepPeerNotFoundError } from "../errors.js";
import { MemoryStorage } from "../memory-storage.js";
import type { Raft } from "../raft.js";
import { RawNode } from "../raw-node.js";
import type { Ready } from "../ready.js";
import type { Status } from "../status.js";
import {
  type ConfState,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  type NodeId,
  type ReadState,
  StateType,
} from "../types.js";

/** mulberry32: a tiny seeded PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Bytes of a string (ASCII). */
export function b(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** A string from ASCII bytes. */
export function str(u: Uint8Array): string {
  return String.fromCharCode(...u);
}

/** ids 1n..n. */
export function ids(n: number): NodeId[] {
  return Array.from({ length: n }, (_, i) => BigInt(i + 1));
}

/**
 * A storage whose configuration is the given voters (and learners) and whose log is empty
 * from index 1 (unlike `new MemoryStorage(confState)`, which bootstraps at index 1), so
 * tests can reason about exact indexes as etcd's paper tests do.
 */
export function storageWith(voters: NodeId[], learners: NodeId[] = []): MemoryStorage {
  const s = new MemoryStorage();
  s.setConfState({ voters, learners, votersOutgoing: [], learnersNext: [], autoLeave: false });
  return s;
}

/** A Config with test defaults (election 10, heartbeat 1, seeded randomness). */
export function testConfig(id: NodeId, storage: MemoryStorage, over: Partial<Config> = {}): Config {
  return {
    id,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    maxSizePerMsg: Number.MAX_SAFE_INTEGER,
    maxInflightMsgs: 256,
    random: mulberry32(Number(id) * 7919 + 1),
    ...over,
  };
}

/** An entry literal. */
export function ent(term: number, index: number, data = ""): Entry {
  return { term, index, type: EntryType.Normal, data: b(data) };
}

/** A message with zero values except those given. */
export function msg(m: Partial<Message> & Pick<Message, "type">): Message {
  return {
    to: 0n,
    from: 0n,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: new Uint8Array(0),
    ...m,
  };
}

/** A test node: a RawNode with its MemoryStorage and what it has applied. */
export class TestNode {
  readonly rn: RawNode;
  applied: Entry[] = [];
  /** Every ReadState received, in order. */
  readStates: ReadState[] = [];
  confState: ConfState | undefined;
  /** Apply conf changes found in committed entries (on by default). */
  autoApplyConfChanges = true;

  constructor(
    readonly storage: MemoryStorage,
    readonly config: Config,
  ) {
    this.rn = new RawNode(config);
  }

  get raft(): Raft {
    return this.rn.raft;
  }
  get id(): NodeId {
    return this.config.id;
  }
  get state(): StateType {
    return this.raft.state;
  }
  status(): Status {
    return this.rn.status();
  }

  /** Persists a Ready into storage the way a correct caller does (snapshot, entries, hs). */
  persist(rd: Ready): void {
    if (rd.snapshot !== undefined) this.storage.applySnapshot(rd.snapshot);
    this.storage.append(rd.entries);
    if (rd.hardState !== undefined) this.storage.setHardState(rd.hardState);
  }

  /** Applies committed entries (conf changes go to applyConfChange). */
  apply(rd: Ready): void {
    for (const e of rd.committedEntries) {
      this.applied.push(e);
      if (!this.autoApplyConfChanges) continue;
      if (e.type === EntryType.ConfChange) {
        this.confState = this.rn.applyConfChange(decodeConfChange(e.data));
        this.storage.setConfState(this.confState);
      } else if (e.type === EntryType.ConfChangeV2) {
        this.confState = this.rn.applyConfChange(decodeConfChangeV2(e.data));
        this.storage.setConfState(this.confState);
      }
    }
  }

  /**
   * Handles every pending Ready (persist, apply, advance) and returns the messages to
   * send, in order (`messages` then `messagesAfterPersist` of each Ready).
   */
  drain(): Message[] {
    const out: Message[] = [];
    while (this.rn.hasReady()) {
      const rd = this.rn.ready();
      this.persist(rd);
      out.push(...rd.messages, ...rd.messagesAfterPersist);
      this.readStates.push(...rd.readStates);
      this.apply(rd);
      this.rn.advance(rd);
    }
    return out;
  }

  /** Payloads of applied normal, non-empty entries. */
  appliedData(): string[] {
    return this.applied
      .filter((e) => e.type === EntryType.Normal && e.data.length > 0)
      .map((e) => str(e.data));
  }
}

/** Creates a TestNode with a fresh storage holding `peers` as voters. */
export function newNode(
  id: NodeId,
  peers: NodeId[],
  over: Partial<Config> = {},
  learners: NodeId[] = [],
): TestNode {
  const s = storageWith(peers, learners);
  return new TestNode(s, testConfig(id, s, over));
}

/**
 * An in-memory network of TestNodes with instant, ordered delivery and optional drops
 * and cuts. `send` delivers until no messages are left.
 */
export class Network {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Dropped connections (from->to, one way): key `${from}-${to}`. */
  private readonly cut = new Set<string>();
  /** Message types dropped everywhere. */
  private readonly ignored = new Set<MessageType>();
  /** Every message delivered (or dropped), for assertions. */
  readonly log: Message[] = [];
  /** Optional hook that can rewrite or drop (return undefined) a message. */
  filter: ((m: Message) => Message | undefined) | undefined;

  constructor(nodes: TestNode[]) {
    for (const n of nodes) this.nodes.set(n.id, n);
  }

  /**
   * A network of `n` voters bootstrapped etcd-style (membership as conf-change entries in
   * the log, so nodes added later can learn it by replaying the log).
   */
  static bootstrapped(n: number, over: Partial<Config> = {}): Network {
    const peers = ids(n);
    const nodes = peers.map((id) => {
      const s = storageWith([]);
      const node = new TestNode(s, testConfig(id, s, over));
      node.rn.bootstrap(peers.map((p) => ({ id: p })));
      return node;
    });
    const nw = new Network(nodes);
    nw.send();
    return nw;
  }

  /** A network of `n` voters with the given config overrides. */
  static of(n: number, over: Partial<Config> = {}): Network {
    const peers = ids(n);
    return new Network(peers.map((id) => newNode(id, peers, over)));
  }

  node(id: NodeId | number): TestNode {
    return this.nodes.get(BigInt(id))!;
  }

  /** Cuts both directions between a and b. */
  cutLink(a: NodeId | number, c: NodeId | number): void {
    this.cut.add(`${BigInt(a)}-${BigInt(c)}`);
    this.cut.add(`${BigInt(c)}-${BigInt(a)}`);
  }

  /** Isolates a node from all others. */
  isolate(id: NodeId | number): void {
    for (const other of this.nodes.keys()) if (other !== BigInt(id)) this.cutLink(id, other);
  }

  /** Drops every message of type t. */
  ignore(t: MessageType): void {
    this.ignored.add(t);
  }

  /** Heals every cut and ignore. */
  recover(): void {
    this.cut.clear();
    this.ignored.clear();
  }

  /** Delivers the given messages and everything they cause, until quiet. */
  send(...msgs: Message[]): void {
    const queue = [...msgs];
    for (const n of this.nodes.values()) queue.push(...n.drain());
    while (queue.length > 0) {
      let m: Message | undefined = queue.shift()!;
      if (this.filter) m = this.filter(m);
      if (m === undefined) continue;
      this.log.push(m);
      const target = this.nodes.get(m.to);
      if (target === undefined) continue;
      if (this.cut.has(`${m.from}-${m.to}`) || this.ignored.has(m.type)) continue;
      try {
        target.rn.step(m);
      } catch (e) {
        if (!(e instanceof StepPeerNotFoundError) && (e as Error).name !== "ProposalDroppedError")
          throw e;
      }
      queue.push(...target.drain());
    }
  }

  /** Steps a local action on a node and delivers the consequences. */
  act(id: NodeId | number, f: (n: TestNode) => void): void {
    f(this.node(id));
    this.send();
  }

  /** Campaigns on `id` and delivers until quiet. */
  campaign(id: NodeId | number): void {
    this.act(id, (n) => n.rn.campaign());
  }

  /** Proposes on `id` and delivers until quiet. */
  propose(id: NodeId | number, data: string): void {
    this.act(id, (n) => n.rn.propose(b(data)));
  }

  /** Ticks every node `n` times, delivering after each round. */
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const node of this.nodes.values()) node.rn.tick();
      this.send();
    }
  }

  /** The current leader, if exactly one node believes it is leader in the highest term. */
  leader(): TestNode | undefined {
    let best: TestNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.state === StateType.Leader && (best === undefined || n.raft.term > best.raft.term))
        best = n;
    }
    return best;
  }
}

/**
 * A node whose storage already holds entries with the given terms at indexes 1.. and the
 * given HardState (as if restarted).
 */
export function nodeWithLog(
  id: NodeId,
  peers: NodeId[],
  terms: number[],
  hs: { term?: number; vote?: NodeId; commit?: number } = {},
  over: Partial<Config> = {},
): TestNode {
  const s = storageWith(peers);
  s.append(terms.map((t, i) => ent(t, i + 1)));
  if (hs.term !== undefined || hs.vote !== undefined || hs.commit !== undefined) {
    s.setHardState({ term: hs.term ?? 0, vote: hs.vote ?? 0n, commit: hs.commit ?? 0 });
  }
  return new TestNode(s, testConfig(id, s, over));
}

/** The follower's successful answer to a MsgApp (as if it appended everything). */
export function acceptAndReply(m: Message): Message {
  if (m.type !== MessageType.MsgApp) throw new Error("not a MsgApp");
  return msg({
    type: MessageType.MsgAppResp,
    from: m.to,
    to: m.from,
    term: m.term,
    index: m.index + m.entries.length,
  });
}

/** Sorts messages by (to, type, from), like etcd's messageSlice. */
export function sortMsgs(ms: Message[]): Message[] {
  return ms
    .slice()
    .sort((x, y) =>
      x.to !== y.to
        ? x.to < y.to
          ? -1
          : 1
        : x.type !== y.type
          ? x.type - y.type
          : Number(x.from - y.from),
    );
}

/** "term/index" of every entry in the node's log. */
export function logTerms(n: TestNode): string[] {
  return n.raft.raftLog.allEntries().map((e) => `${e.term}/${e.index}`);
}

/**
 * Makes `n` (a fresh node of a 3+ voter config) leader at term+1 and commits its no-op by
 * acknowledging it from every follower. Returns the messages that followed.
 */
export function electAndCommitNoop(n: TestNode): Message[] {
  n.raft.becomeCandidate();
  n.raft.becomeLeader();
  const out: Message[] = [];
  for (const m of n.drain()) {
    if (m.type === MessageType.MsgApp) n.rn.step(acceptAndReply(m));
  }
  out.push(...n.drain());
  return out;
}
