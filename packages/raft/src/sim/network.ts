import type { Message, NodeId } from "../index.js";
import type { Prng } from "./prng.js";

/** How the simulated network misbehaves; probabilities per message. */
export interface NetworkFaults {
  /** Probability that a message is lost. */
  drop: number;
  /** Probability that a message is delivered twice. */
  duplicate: number;
  /** Delivery delay range in virtual time units (uniform); reordering follows from it. */
  minDelay: number;
  maxDelay: number;
  /** Probability that a message is held back for up to `longDelay` instead. */
  longDelayRate: number;
  longDelay: number;
}

export const CALM: NetworkFaults = {
  drop: 0,
  duplicate: 0,
  minDelay: 1,
  maxDelay: 5,
  longDelayRate: 0,
  longDelay: 0,
};

/** Why a message was not delivered, or the delays of its copies. */
export type SendOutcome = { dropped: "loss" | "partition" } | { delays: number[] };

/**
 * A simulated network between node ids: it drops, duplicates, delays (and so reorders)
 * messages and cuts links, symmetric or one way. It decides; the simulation schedules.
 */
export class SimNetwork {
  faults: NetworkFaults = { ...CALM };
  /** Cut directed links, as "from>to". */
  private readonly cut = new Set<string>();

  constructor(private readonly rng: Prng) {}

  /**
   * Decides the fate of a message node `via` sends now (`via` differs from `m.from` when a
   * follower forwards a proposal or read request).
   */
  send(m: Message, via: NodeId = m.from): SendOutcome {
    if (this.isCut(via, m.to)) return { dropped: "partition" };
    if (this.rng.chance(this.faults.drop)) return { dropped: "loss" };
    const copies = this.rng.chance(this.faults.duplicate) ? 2 : 1;
    const delays: number[] = [];
    for (let i = 0; i < copies; i++) delays.push(this.delay());
    return { delays };
  }

  /** Whether messages from `from` to `to` are currently lost. */
  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.size > 0 && this.cut.has(`${from}>${to}`);
  }

  /** Cuts every link from a node of `a` to a node of `b` (and back unless oneWay). */
  partition(a: readonly NodeId[], b: readonly NodeId[], oneWay = false): void {
    for (const x of a) {
      for (const y of b) {
        if (x === y) continue;
        this.cut.add(`${x}>${y}`);
        if (!oneWay) this.cut.add(`${y}>${x}`);
      }
    }
  }

  /** Restores every link. */
  heal(): void {
    this.cut.clear();
  }

  /** The cut links, sorted, for traces. */
  describeCuts(): string {
    return [...this.cut].sort().join(" ");
  }

  private delay(): number {
    const f = this.faults;
    if (this.rng.chance(f.longDelayRate))
      return this.rng.int(f.maxDelay, Math.max(f.maxDelay, f.longDelay));
    return this.rng.int(f.minDelay, f.maxDelay);
  }
}
