/**
 * MetaStore: the member's metadata. The applied position (etcd's consistent index), the
 * ConfState as applied, the cluster id, the membership, the store format marker (all in
 * the replicated `meta` column family, copied by state snapshots), and this member's own
 * id (in the local `raft` column family, never copied). Key layout: ./codec.ts.
 *
 * Everything is loaded at {@link MetaStore.open}; reads are from memory. Writes go into the
 * caller's batch, atomically with the effects they describe (DESIGN.md rule 3):
 *
 * ```ts
 * for (const e of rd.committedEntries) {
 *   if (!meta.shouldApply(e.index)) continue; // at or below the consistent index
 *   applyEntry(batch, e);                      // MVCC, leases, membership, ...
 * }
 * meta.setApplied(batch, last.index, last.term);
 * await engine.write(batch, { sync: rd.mustSync });
 * meta.commit(batch); // appliedIndex advances: reads waiting on it may go
 * ```
 *
 * Visibility: membership, ConfState and cluster id read back what was staged at once (so
 * later entries of the same batch see earlier ones); `appliedIndex`/`appliedTerm` advance
 * only at {@link commit}, because readers act on them (ReadIndex waiters, raft restart).
 * `abort(batch)` undoes what was staged in a batch that will not be written.
 */
import { type ConfState, emptyConfState, None } from "@chainfire/raft";
import type { Engine, WriteBatch } from "../engine.js";
import { CorruptRecordError } from "../raft-log/binary.js";
import {
  cloneConfState,
  decodeConfState,
  encodeConfState,
  RAFT_STATE_CF,
} from "../raft-log/codec.js";
import { moveRaftStateKeys } from "../raft-log/state-migration.js";
import { BatchUndo } from "./batch-undo.js";
import {
  APPLIED_KEY,
  type AppliedPosition,
  CLUSTER_ID_KEY,
  CONF_STATE_KEY,
  cloneMember,
  decodeApplied,
  decodeIdValue,
  decodeMember,
  decodeU32,
  encodeApplied,
  encodeIdValue,
  encodeMember,
  encodeU32,
  FORMAT_KEY,
  idOfPrefixedKey,
  LOCAL_MEMBER_ID_KEY,
  MEMBER_PREFIX,
  META_FORMAT_VERSION,
  type Member,
  prefixedIdKey,
  REMOVED_PREFIX,
} from "./codec.js";

/** The data dir holds a format this code cannot read. */
export class MetaFormatError extends Error {
  override readonly name = "MetaFormatError";
}

/** A meta record does not decode, or reading the meta column family failed (see cause). */
export class MetaIoError extends Error {
  override readonly name = "MetaIoError";
}

/** A caller broke the contract (the applied index going backwards). A bug. */
export class MetaBugError extends Error {
  override readonly name = "MetaBugError";
}

/** What a brand-new member writes once (see {@link MetaStore.bootstrap}). */
export interface MetaBootstrap {
  clusterId: bigint;
  memberId: bigint;
  /** The initial members (--initial-cluster); empty for a member joining later. */
  members: Member[];
  /** The initial configuration (voters = the initial members). */
  confState: ConfState;
}

const EMPTY = Buffer.alloc(0);

export class MetaStore {
  private readonly undo = new BatchUndo();
  private applied: AppliedPosition = { index: 0, term: 0 };
  private stagedApplied: AppliedPosition = { index: 0, term: 0 };
  private readonly pendingApplied = new Map<WriteBatch, AppliedPosition>();
  private _confState: ConfState = emptyConfState();
  private _clusterId: bigint = None;
  private _memberId: bigint = None;
  private _formatVersion = 0;
  private readonly _members = new Map<bigint, Member>();
  private readonly _removed = new Set<bigint>();

  /**
   * Loads the meta column family and the local member id. Throws {@link MetaFormatError}
   * if the data was written by an incompatible format version.
   */
  static async open(engine: Engine): Promise<MetaStore> {
    const s = new MetaStore();
    try {
      moveRaftStateKeys(engine); // its member id may still be in the old layout
      for await (const [k, v] of engine.iterate("meta")) s.loadRecord(k, v);
      const id = engine.getSync(RAFT_STATE_CF, LOCAL_MEMBER_ID_KEY);
      if (id) s._memberId = decodeIdValue(id);
    } catch (err) {
      if (err instanceof MetaFormatError) throw err;
      const what = err instanceof CorruptRecordError ? "a meta record does not decode" : "I/O";
      throw new MetaIoError(`cannot load member metadata (${what})`, { cause: err });
    }
    if (s._formatVersion !== 0 && s._formatVersion !== META_FORMAT_VERSION) {
      throw new MetaFormatError(
        `data dir format version ${s._formatVersion}; this build reads ${META_FORMAT_VERSION}`,
      );
    }
    s.stagedApplied = { ...s.applied };
    return s;
  }

  private loadRecord(k: Buffer, v: Buffer): void {
    if (k.equals(FORMAT_KEY)) this._formatVersion = decodeU32(v);
    else if (k.equals(APPLIED_KEY)) this.applied = decodeApplied(v);
    else if (k.equals(CONF_STATE_KEY)) this._confState = decodeConfState(v);
    else if (k.equals(CLUSTER_ID_KEY)) this._clusterId = decodeIdValue(v);
    else if (hasPrefix(k, MEMBER_PREFIX)) {
      const m = decodeMember(v);
      this._members.set(m.id, m);
    } else if (hasPrefix(k, REMOVED_PREFIX)) {
      this._removed.add(idOfPrefixedKey(REMOVED_PREFIX, k));
    }
    // Unknown keys belong to newer code paths sharing the family (auth); ignore them.
  }

  // ---- reads ----

  /** Whether this data dir was never bootstrapped (no format marker). */
  get isNew(): boolean {
    return this._formatVersion === 0;
  }

  get formatVersion(): number {
    return this._formatVersion;
  }

  /** The durable applied index (etcd's consistent index): pass as raft Config.applied. */
  get appliedIndex(): number {
    return this.applied.index;
  }

  /** The term of the entry at {@link appliedIndex}. */
  get appliedTerm(): number {
    return this.applied.term;
  }

  /** The applied index including batches staged but not yet committed. */
  get stagedAppliedIndex(): number {
    return this.stagedApplied.index;
  }

  /**
   * Whether the entry at `index` still has to be applied: false at or below the (staged)
   * applied index, so an entry is never applied twice, e.g. after a restart or after a
   * snapshot moved the state past entries still in flight.
   */
  shouldApply(index: number): boolean {
    return index > this.stagedApplied.index;
  }

  /** The ConfState as applied; what raft must restart with (RaftLogStore option). */
  get confState(): ConfState {
    return cloneConfState(this._confState);
  }

  /** The cluster id, or 0n before bootstrap. */
  get clusterId(): bigint {
    return this._clusterId;
  }

  /** This member's id, or 0n before bootstrap. */
  get memberId(): bigint {
    return this._memberId;
  }

  /** The current members, by id ascending. */
  members(): Member[] {
    return [...this._members.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map(cloneMember);
  }

  member(id: bigint): Member | undefined {
    const m = this._members.get(id);
    return m ? cloneMember(m) : undefined;
  }

  /** Whether `id` was removed from the cluster (it may never rejoin with that id). */
  isRemoved(id: bigint): boolean {
    return this._removed.has(id);
  }

  // ---- writes (into the caller's batch) ----

  /**
   * Writes the format marker, cluster id, this member's id, the initial members and
   * ConfState. For a brand-new member only (throws if already bootstrapped).
   */
  bootstrap(batch: WriteBatch, b: MetaBootstrap): void {
    if (!this.isNew) throw new MetaBugError("member metadata is already bootstrapped");
    batch.put("meta", FORMAT_KEY, encodeU32(META_FORMAT_VERSION));
    this.stage(batch, () => {
      const prev = this._formatVersion;
      this._formatVersion = META_FORMAT_VERSION;
      return () => {
        this._formatVersion = prev;
      };
    });
    this.setClusterId(batch, b.clusterId);
    this.setMemberId(batch, b.memberId);
    for (const m of b.members) this.putMember(batch, m);
    this.setConfState(batch, b.confState);
  }

  /**
   * Records that every entry up to `index` (of `term`) is applied, in the same batch as
   * their effects. Visible as {@link appliedIndex} after {@link commit}. Throws
   * {@link MetaBugError} if index goes backwards.
   */
  setApplied(batch: WriteBatch, index: number, term: number): void {
    if (index < this.stagedApplied.index) {
      throw new MetaBugError(
        `applied index going backwards: ${this.stagedApplied.index} -> ${index}`,
      );
    }
    const p = { index, term };
    batch.put("meta", APPLIED_KEY, encodeApplied(p));
    const prev = this.stagedApplied;
    this.stagedApplied = p;
    this.pendingApplied.set(batch, p);
    this.undo.record(batch, () => {
      this.stagedApplied = prev;
      this.pendingApplied.delete(batch);
    });
  }

  /** Records the ConfState returned by raft's applyConfChange. */
  setConfState(batch: WriteBatch, cs: ConfState): void {
    batch.put("meta", CONF_STATE_KEY, encodeConfState(cs));
    const next = cloneConfState(cs);
    this.stage(batch, () => {
      const prev = this._confState;
      this._confState = next;
      return () => {
        this._confState = prev;
      };
    });
  }

  setClusterId(batch: WriteBatch, id: bigint): void {
    batch.put("meta", CLUSTER_ID_KEY, encodeIdValue(id));
    this.stage(batch, () => {
      const prev = this._clusterId;
      this._clusterId = id;
      return () => {
        this._clusterId = prev;
      };
    });
  }

  /** This member's own id (stored locally, not replicated). */
  setMemberId(batch: WriteBatch, id: bigint): void {
    batch.put(RAFT_STATE_CF, LOCAL_MEMBER_ID_KEY, encodeIdValue(id));
    this.stage(batch, () => {
      const prev = this._memberId;
      this._memberId = id;
      return () => {
        this._memberId = prev;
      };
    });
  }

  /** Adds or updates a member (add, promote, update peer URLs, publish name/client URLs). */
  putMember(batch: WriteBatch, m: Member): void {
    const rec = cloneMember(m);
    batch.put("meta", prefixedIdKey(MEMBER_PREFIX, m.id), encodeMember(rec));
    this.stage(batch, () => {
      const prev = this._members.get(m.id);
      this._members.set(m.id, rec);
      return () => {
        if (prev) this._members.set(m.id, prev);
        else this._members.delete(m.id);
      };
    });
  }

  /** Removes a member and remembers its id as removed. */
  removeMember(batch: WriteBatch, id: bigint): void {
    batch.del("meta", prefixedIdKey(MEMBER_PREFIX, id));
    batch.put("meta", prefixedIdKey(REMOVED_PREFIX, id), EMPTY);
    this.stage(batch, () => {
      const prev = this._members.get(id);
      const wasRemoved = this._removed.has(id);
      this._members.delete(id);
      this._removed.add(id);
      return () => {
        if (prev) this._members.set(id, prev);
        if (!wasRemoved) this._removed.delete(id);
      };
    });
  }

  /** Call once `batch` is written: the staged applied position becomes durable. */
  commit(batch: WriteBatch): void {
    const p = this.pendingApplied.get(batch);
    if (p) {
      this.pendingApplied.delete(batch);
      if (p.index >= this.applied.index) this.applied = p;
    }
    this.undo.commit(batch);
  }

  /** Undo everything staged in `batch` (it will not be written). */
  abort(batch: WriteBatch): void {
    this.undo.abort(batch);
  }

  private stage(batch: WriteBatch, change: () => () => void): void {
    this.undo.record(batch, change());
  }
}

function hasPrefix(k: Uint8Array, prefix: Uint8Array): boolean {
  if (k.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (k[i] !== prefix[i]) return false;
  return true;
}
