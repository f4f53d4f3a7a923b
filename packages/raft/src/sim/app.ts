import { type ConfState, type Entry, EntryType, emptyConfState, type Snapshot } from "../index.js";
import { chainHash } from "./hash.js";
import { BOOT_CHAIN } from "./sim-util.js";

/**
 * The simulation's application: a tiny key-value store fed by committed entries. Its
 * state — the key-value map, the applied index, a chain hash over every entry applied and
 * the configuration as of the applied index — is durable atomically with each apply
 * (DESIGN.md durability rule 3), so a crash never loses an applied entry.
 *
 * Proposals are text: `put <key> <value>`, where the value is a unique write id.
 */
export class KvApp {
  applied: number;
  /** chainHash over every applied entry, starting from the bootstrap chain. */
  chain: number;
  readonly kv: Map<string, string>;
  confState: ConfState;

  constructor(
    applied: number,
    chain: number,
    confState: ConfState,
    kv = new Map<string, string>(),
  ) {
    this.applied = applied;
    this.chain = chain;
    this.confState = confState;
    this.kv = kv;
  }

  /** Applies one normal entry; returns the write id it carried, if any. */
  applyNormal(e: Entry): string | undefined {
    this.advance(e);
    if (e.data.byteLength === 0) return undefined;
    const parts = DECODER.decode(e.data).split(" ");
    if (parts[0] === "put" && parts.length === 3) {
      this.kv.set(parts[1], parts[2]);
      return parts[2];
    }
    return undefined;
  }

  /** Accounts for an entry whose effect the caller applies (a conf change). */
  advance(e: Entry): void {
    if (e.index !== this.applied + 1) {
      throw new Error(`KvApp: applying ${e.index} after ${this.applied}`);
    }
    this.chain = chainHash(this.chain, e.term, e.type, e.data);
    this.applied = e.index;
  }

  /** The snapshot payload: everything but the configuration (raft carries that). */
  encode(): Uint8Array {
    const kv = [...this.kv.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return ENCODER.encode(JSON.stringify({ applied: this.applied, chain: this.chain, kv }));
  }

  /**
   * Restores a state machine from a snapshot. An empty payload is the bootstrap snapshot
   * of `new MemoryStorage(confState)` (index 1): the empty state with the boot chain.
   */
  static decode(snap: Snapshot): KvApp {
    const cs = cloneConfState(snap.metadata.confState);
    if (snap.data.byteLength === 0) {
      if (snap.metadata.index > 1)
        throw new Error(`KvApp: empty snapshot at ${snap.metadata.index}`);
      return new KvApp(snap.metadata.index, BOOT_CHAIN, cs);
    }
    const o = JSON.parse(DECODER.decode(snap.data)) as {
      applied: number;
      chain: number;
      kv: [string, string][];
    };
    return new KvApp(o.applied, o.chain, cs, new Map(o.kv));
  }

  static empty(chain: number): KvApp {
    return new KvApp(0, chain, emptyConfState());
  }
}

/** Encodes a write proposal. */
export function putCommand(key: string, writeId: string): Uint8Array {
  return ENCODER.encode(`put ${key} ${writeId}`);
}

export function isNormal(e: Entry): boolean {
  return e.type === EntryType.Normal;
}

export function cloneConfState(cs: ConfState): ConfState {
  return {
    voters: cs.voters.slice(),
    learners: cs.learners.slice(),
    votersOutgoing: cs.votersOutgoing.slice(),
    learnersNext: cs.learnersNext.slice(),
    autoLeave: cs.autoLeave,
  };
}

/** Every node named by a configuration (voters of both halves, learners, learners next). */
export function members(cs: ConfState): bigint[] {
  const s = new Set<bigint>([
    ...cs.voters,
    ...cs.votersOutgoing,
    ...cs.learners,
    ...cs.learnersNext,
  ]);
  return [...s].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();
