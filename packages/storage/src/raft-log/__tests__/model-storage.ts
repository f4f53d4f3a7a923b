/**
 * References for RaftLogStore's model-based test: a naive array-based log written from the
 * Storage contract and etcd-io/raft's MemoryStorage semantics (its first element is the
 * boundary entry), and an adapter over packages/raft's own MemoryStorage.
 */
import {
  CompactedError,
  type ConfState,
  type Entry,
  EntryType,
  emptyConfState,
  type HardState,
  MemoryStorage,
  type Snapshot,
  SnapshotOutOfDateError,
  UnavailableError,
} from "@chainfire/raft";

export class ModelStorage {
  hardState: HardState = { term: 0, vote: 0n, commit: 0 };
  snap: Snapshot = {
    metadata: { index: 0, term: 0, confState: emptyConfState() },
    data: new Uint8Array(0),
  };
  ents: Entry[] = [{ index: 0, term: 0, type: EntryType.Normal, data: new Uint8Array(0) }];

  firstIndex(): number {
    return this.ents[0].index + 1;
  }

  lastIndex(): number {
    return this.ents[0].index + this.ents.length - 1;
  }

  term(i: number): number {
    const off = this.ents[0].index;
    if (i < off) throw new CompactedError();
    if (i > this.lastIndex()) throw new UnavailableError();
    return this.ents[i - off].term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const off = this.ents[0].index;
    if (lo <= off) throw new CompactedError();
    if (hi > this.lastIndex() + 1) throw new UnavailableError();
    const out: Entry[] = [];
    let size = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - off];
      if (out.length > 0 && size + e.data.length > maxBytes) break;
      size += e.data.length;
      out.push(e);
    }
    return out;
  }

  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0].index + entries.length - 1;
    if (last < first) return;
    const from = first > entries[0].index ? first - entries[0].index : 0;
    const at = entries[from].index;
    if (at > this.lastIndex() + 1) throw new Error("gap");
    this.ents.length = at - this.ents[0].index;
    for (let i = from; i < entries.length; i++) this.ents.push(entries[i]);
  }

  applySnapshot(s: Snapshot): void {
    if (this.snap.metadata.index >= s.metadata.index) throw new SnapshotOutOfDateError();
    this.snap = s;
    this.ents = [
      {
        index: s.metadata.index,
        term: s.metadata.term,
        type: EntryType.Normal,
        data: new Uint8Array(0),
      },
    ];
  }

  createSnapshot(i: number, cs: ConfState, data: Uint8Array): void {
    if (i <= this.snap.metadata.index) throw new SnapshotOutOfDateError();
    this.snap = { metadata: { index: i, term: this.term(i), confState: cs }, data };
  }

  compact(i: number): void {
    const off = this.ents[0].index;
    if (i <= off) throw new CompactedError();
    if (i > this.lastIndex()) throw new Error("out of bound");
    const e = this.ents[i - off];
    this.ents = [
      { index: e.index, term: e.term, type: EntryType.Normal, data: new Uint8Array(0) },
      ...this.ents.slice(i - off + 1),
    ];
  }
}

/** The same interface over packages/raft's MemoryStorage (the core's reference storage). */
export class RaftMemoryModel {
  private readonly ms = new MemoryStorage();

  get hardState(): HardState {
    return this.ms.initialState().hardState;
  }

  set hardState(hs: HardState) {
    this.ms.setHardState(hs);
  }

  get snap(): Snapshot {
    return this.ms.snapshot();
  }

  firstIndex(): number {
    return this.ms.firstIndex();
  }

  lastIndex(): number {
    return this.ms.lastIndex();
  }

  term(i: number): number {
    return this.ms.term(i);
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.ms.entries(lo, hi, maxBytes);
  }

  append(entries: readonly Entry[]): void {
    this.ms.append(entries);
  }

  applySnapshot(s: Snapshot): void {
    this.ms.applySnapshot(s);
  }

  createSnapshot(i: number, cs: ConfState, data: Uint8Array): void {
    this.ms.createSnapshot(i, cs, data);
  }

  compact(i: number): void {
    this.ms.compact(i);
  }
}

/** What the model-based test needs of a reference. */
export type LogModel = ModelStorage | RaftMemoryModel;
