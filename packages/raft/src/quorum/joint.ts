import type { NodeId } from "../types.js";
import { MajorityConfig } from "./majority.js";
import { type AckedIndexer, VoteResult } from "./quorum.js";

/**
 * Two majority configs that must both agree: the incoming config and, during joint
 * consensus, the outgoing one (thesis §4.3). Outside joint consensus `outgoing` is empty
 * and the joint config behaves exactly like `incoming`.
 */
export class JointConfig {
  constructor(
    /** The configuration being moved to (the only one outside joint consensus). */
    public incoming: MajorityConfig = new MajorityConfig(),
    /** The configuration being left; empty when not joint. */
    public outgoing: MajorityConfig = new MajorityConfig(),
  ) {}

  /** Whether this is a joint configuration. */
  isJoint(): boolean {
    return this.outgoing.size > 0;
  }

  /** Whether `id` is a voter in either half. */
  has(id: NodeId): boolean {
    return this.incoming.has(id) || this.outgoing.has(id);
  }

  /** The union of both halves, sorted ascending. */
  ids(): NodeId[] {
    if (this.outgoing.size === 0) return this.incoming.ids.slice();
    const m = new MajorityConfig(this.incoming.ids);
    for (const id of this.outgoing.ids) m.add(id);
    return m.ids;
  }

  /** A deep copy. */
  clone(): JointConfig {
    return new JointConfig(this.incoming.clone(), this.outgoing.clone());
  }

  /** The largest index committed in both halves. */
  committedIndex(l: AckedIndexer): number {
    const a = this.incoming.committedIndex(l);
    if (this.outgoing.size === 0) return a;
    const b = this.outgoing.committedIndex(l);
    return Math.min(a, b);
  }

  /** Won only if won in both halves; lost if lost in either; otherwise pending. */
  voteResult(votes: ReadonlyMap<NodeId, boolean>): VoteResult {
    const r1 = this.incoming.voteResult(votes);
    const r2 = this.outgoing.voteResult(votes);
    if (r1 === r2) return r1;
    if (r1 === VoteResult.VoteLost || r2 === VoteResult.VoteLost) return VoteResult.VoteLost;
    return VoteResult.VotePending;
  }

  /** Canonical text: `(1 2 3)` or `(1 2 4)&&(1 2 3)` when joint. */
  describe(): string {
    const a = this.incoming.describe();
    return this.outgoing.size > 0 ? `${a}&&${this.outgoing.describe()}` : a;
  }
}
