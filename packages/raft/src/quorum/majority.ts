import type { NodeId } from "../types.js";
import { compareNodeIds } from "../util.js";
import { type AckedIndexer, VoteResult } from "./quorum.js";

/**
 * A set of voters that decides by simple majority (thesis §3.4): an index is committed
 * once more than half of them acknowledged it, an election is won once more than half of
 * them granted their vote.
 *
 * Invariant: `ids` holds the members sorted ascending, with no duplicates; it is rebuilt on
 * every change, so readers may iterate it freely (deterministic order).
 */
export class MajorityConfig {
  private readonly set: Set<NodeId>;
  /** The members, sorted ascending. */
  ids: NodeId[];
  private scratch: number[] = [];

  constructor(ids: Iterable<NodeId> = []) {
    this.set = new Set(ids);
    this.ids = Array.from(this.set).sort(compareNodeIds);
  }

  /** The number of voters. */
  get size(): number {
    return this.ids.length;
  }

  /** Whether `id` is a voter in this config. */
  has(id: NodeId): boolean {
    return this.set.has(id);
  }

  /** Adds a voter. */
  add(id: NodeId): void {
    if (this.set.has(id)) return;
    this.set.add(id);
    this.ids = Array.from(this.set).sort(compareNodeIds);
  }

  /** Removes a voter (no-op if absent). */
  delete(id: NodeId): void {
    if (!this.set.delete(id)) return;
    this.ids = Array.from(this.set).sort(compareNodeIds);
  }

  /** A copy that can be changed independently. */
  clone(): MajorityConfig {
    return new MajorityConfig(this.ids);
  }

  /**
   * The largest index acknowledged by a majority: sort the acked indexes and take the one
   * a quorum (n/2+1 voters) has reached. An empty config returns +Infinity so that, joined
   * with another config, it does not constrain the result.
   */
  committedIndex(l: AckedIndexer): number {
    const n = this.ids.length;
    if (n === 0) return Number.POSITIVE_INFINITY;
    const srt = this.scratch;
    srt.length = n;
    for (let i = 0; i < n; i++) srt[i] = l.ackedIndex(this.ids[i]) ?? 0;
    // Insertion sort: n is tiny (3..7) in practice and this allocates nothing.
    for (let i = 1; i < n; i++) {
      const v = srt[i];
      let j = i - 1;
      while (j >= 0 && srt[j] > v) {
        srt[j + 1] = srt[j];
        j--;
      }
      srt[j + 1] = v;
    }
    return srt[n - (Math.floor(n / 2) + 1)];
  }

  /**
   * The election outcome given the votes recorded so far (true = granted). Votes of
   * non-members are ignored. An empty config wins (by convention, for joint configs).
   */
  voteResult(votes: ReadonlyMap<NodeId, boolean>): VoteResult {
    const n = this.ids.length;
    if (n === 0) return VoteResult.VoteWon;
    let granted = 0;
    let missing = 0;
    for (const id of this.ids) {
      const v = votes.get(id);
      if (v === undefined) missing++;
      else if (v) granted++;
    }
    const q = Math.floor(n / 2) + 1;
    if (granted >= q) return VoteResult.VoteWon;
    if (granted + missing >= q) return VoteResult.VotePending;
    return VoteResult.VoteLost;
  }

  /** Canonical text: the ids in parentheses, e.g. `(1 2 3)`. */
  describe(): string {
    return `(${this.ids.map((id) => id.toString(16)).join(" ")})`;
  }
}
