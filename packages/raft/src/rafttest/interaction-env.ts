import type { Config, RaftLogger, Ready } from "../index.js";
import {
  type ConfState,
  decodeConfChange,
  decodeConfChangeV2,
  describeMessage,
  describeReady,
  type Entry,
  EntryType,
  emptyConfState,
  MemoryStorage,
  type Message,
  type NodeId,
  RawNode,
  type Snapshot,
} from "../index.js";

/** Log levels of the output, as in etcd's rafttest: NONE silences everything but errors. */
export const LEVELS = ["DEBUG", "INFO", "WARN", "ERROR", "NONE"] as const;
export type Level = (typeof LEVELS)[number];

/**
 * A MemoryStorage whose `snapshot()` is the node's state as of its applied index (as in
 * etcd's rafttest and etcd's server, which send the current state rather than the last
 * snapshot taken, so that a node added after that snapshot is named in the one it gets).
 */
export class EnvStorage extends MemoryStorage {
  /** The applied index and configuration (durable with the application's state). */
  applied = 0;
  conf: ConfState = emptyConfState();

  override snapshot(): Snapshot {
    const stored = super.snapshot();
    if (this.applied <= stored.metadata.index) return stored;
    return {
      metadata: { index: this.applied, term: this.term(this.applied), confState: this.conf },
      data: ENCODER.encode(`state@${this.applied}`),
    };
  }
}

/** A member of the interaction environment. Node i has id i and sits at nodes[i-1]. */
export interface EnvNode {
  id: NodeId;
  /** Undefined while crashed. */
  raw: RawNode | undefined;
  /** What is durable: written only when a Ready is persisted. */
  storage: EnvStorage;
  config: Omit<Config, "storage" | "applied">;
  /** A Ready taken by `process-ready ... persist=false`, not yet persisted. */
  pending?: Ready;
}

/**
 * The state behind the data-driven interaction tests (see testdata/README.md): nodes, the
 * messages in flight between them, cut links, and an output buffer that every command
 * narrates into. Commands are in handlers.ts.
 */
export class InteractionEnv {
  readonly nodes: EnvNode[] = [];
  /** Messages sent and not yet delivered or dropped, in send order. */
  messages: Message[] = [];
  /** Cut directed links, "from>to". */
  readonly cut = new Set<string>();
  level: Level = "DEBUG";
  private out: string[] = [];
  private indent = "";

  /** Appends a line of narration unless the level is NONE. */
  write(line: string): void {
    if (this.level === "NONE") return;
    for (const l of line.replace(/\n+$/, "").split("\n")) this.out.push(this.indent + l);
  }

  /** Appends an error line, shown at every level. */
  error(line: string): void {
    this.out.push(this.indent + line);
  }

  /** Takes the narration written so far. */
  take(): string {
    const s = this.out.join("\n");
    this.out = [];
    return s;
  }

  /** Runs `f` with its narration indented by two spaces. */
  indented(f: () => void): void {
    const prev = this.indent;
    this.indent += "  ";
    try {
      f();
    } finally {
      this.indent = prev;
    }
  }

  /** The logger handed to every RawNode: lines go to the output at or above `level`. */
  logger(): RaftLogger {
    const at = (lvl: Level) => (msg: string) => {
      if (LEVELS.indexOf(lvl) >= LEVELS.indexOf(this.level)) this.write(`${lvl} ${msg}`);
    };
    return { debug: at("DEBUG"), info: at("INFO"), warn: at("WARN") };
  }

  node(id: NodeId | number): EnvNode {
    const n = this.nodes[Number(id) - 1];
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** Creates the RawNode of `n` from what its storage holds. */
  start(n: EnvNode): void {
    n.raw = new RawNode({ ...n.config, storage: n.storage, applied: n.storage.applied });
  }

  /** Handles one Ready of node `id` (ready.ts steps 1–5, or 1 only with persist=false). */
  processReady(id: NodeId, persist = true): void {
    const n = this.node(id);
    if (n.raw === undefined) throw new Error(`node ${id} is crashed`);
    if (n.pending !== undefined)
      throw new Error(`node ${id} has an unpersisted Ready; run persist ${id}`);
    const rd = n.raw.ready();
    this.write(describeReady(rd, fmt));
    this.messages.push(...rd.messages);
    n.pending = rd;
    if (persist) this.persist(id);
  }

  /** Persists the pending Ready of `id`, sends what waited for it, applies, advances. */
  persist(id: NodeId): void {
    const n = this.node(id);
    const rd = n.pending;
    if (rd === undefined || n.raw === undefined) throw new Error(`node ${id} has no pending Ready`);
    if (rd.snapshot !== undefined) {
      n.storage.applySnapshot(rd.snapshot);
      n.storage.applied = rd.snapshot.metadata.index;
      n.storage.conf = rd.snapshot.metadata.confState;
    }
    n.storage.append(rd.entries);
    if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
    this.messages.push(...rd.messagesAfterPersist);
    for (const e of rd.committedEntries) this.apply(n, e);
    n.pending = undefined;
    n.raw.advance(rd);
  }

  private apply(n: EnvNode, e: Entry): void {
    n.storage.applied = e.index;
    if (e.type === EntryType.Normal) return;
    const cc =
      e.type === EntryType.ConfChange ? decodeConfChange(e.data) : decodeConfChangeV2(e.data);
    const cs = n.raw!.applyConfChange(cc);
    n.storage.conf = cs;
    n.storage.setConfState(cs); // raft itself logs "switched to configuration"
  }

  /** Whether messages from `from` to `to` are lost. */
  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.has(`${from}>${to}`);
  }

  /**
   * Delivers (or drops) the in-flight messages addressed to `to`, optionally only those of
   * type `type`, in send order. Returns how many were handled.
   */
  deliver(to: NodeId, opts: { drop?: boolean; type?: number } = {}): number {
    const mine: Message[] = [];
    const rest: Message[] = [];
    for (const m of this.messages) {
      if (m.to === to && (opts.type === undefined || m.type === opts.type)) mine.push(m);
      else rest.push(m);
    }
    this.messages = rest;
    for (const m of mine) {
      const n = this.nodes[Number(m.to) - 1];
      if (opts.drop) {
        this.write(`dropped: ${describeMessage(m, fmt)}`);
        continue;
      }
      if (this.isCut(m.from, m.to)) {
        this.write(`dropped (partition): ${describeMessage(m, fmt)}`);
        continue;
      }
      if (n?.raw === undefined) {
        this.write(
          `dropped (${n === undefined ? "no such node" : "crashed"}): ${describeMessage(m, fmt)}`,
        );
        continue;
      }
      this.write(describeMessage(m, fmt));
      try {
        n.raw.step(m);
      } catch (err) {
        this.error((err as Error).message);
      }
    }
    return mine.length;
  }

  /**
   * Processes Readys and delivers messages among `ids` (all nodes when empty) until
   * nothing is left to do, narrating each round as etcd's rafttest does.
   */
  stabilize(ids: NodeId[]): void {
    const set = ids.length > 0 ? ids : this.nodes.map((n) => n.id);
    for (let round = 0; ; round++) {
      if (round > 1000) throw new Error("stabilize: no fixed point after 1000 rounds");
      let done = true;
      for (const id of set) {
        const n = this.node(id);
        if (n.raw === undefined || n.pending !== undefined || !n.raw.hasReady()) continue;
        this.write(`> ${id} handling Ready`);
        this.indented(() => this.processReady(id));
        done = false;
      }
      for (const id of set) {
        if (!this.messages.some((m) => m.to === id)) continue;
        this.write(`> ${id} receiving messages`);
        this.indented(() => this.deliver(id));
        done = false;
      }
      if (done) return;
    }
  }
}

/** Entry payloads are shown as quoted text, as etcd's tests do. */
export function fmt(data: Uint8Array): string {
  return JSON.stringify(DECODER.decode(data));
}

const DECODER = new TextDecoder();
const ENCODER = new TextEncoder();
