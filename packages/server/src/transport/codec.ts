/**
 * Raft core types ↔ their wire form (chainfire.raftpb). The core uses numbers for terms
 * and indexes (they never pass 2^53, see packages/raft/src/types.ts) and bigint for node
 * ids; the wire uses uint64 (bigint) everywhere. Decoding checks what the core relies on:
 * a known message type and numbers within the safe integer range; anything else is a
 * malformed message and is refused.
 */
import type { raftpb } from "@chainfire/api";
import {
  type ConfState,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  type Snapshot,
} from "@chainfire/raft";

const EMPTY = Buffer.alloc(0);

/** A peer sent something that is not a valid raft message. */
export class MalformedMessageError extends Error {
  override readonly name = "MalformedMessageError";
}

function num(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new MalformedMessageError(`${what} too large`);
  return Number(v);
}

function bytes(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

export function confStateToWire(cs: ConfState): raftpb.ConfState {
  return {
    voters: cs.voters,
    learners: cs.learners,
    votersOutgoing: cs.votersOutgoing,
    learnersNext: cs.learnersNext,
    autoLeave: cs.autoLeave,
  };
}

export function confStateFromWire(cs: raftpb.ConfState | undefined): ConfState {
  return {
    voters: cs?.voters ?? [],
    learners: cs?.learners ?? [],
    votersOutgoing: cs?.votersOutgoing ?? [],
    learnersNext: cs?.learnersNext ?? [],
    autoLeave: cs?.autoLeave ?? false,
  };
}

function entryToWire(e: Entry): raftpb.Entry {
  return {
    term: BigInt(e.term),
    index: BigInt(e.index),
    type: e.type as number as raftpb.EntryType,
    data: bytes(e.data),
  };
}

function entryFromWire(e: raftpb.Entry): Entry {
  const type = e.type as number;
  if (
    type !== EntryType.Normal &&
    type !== EntryType.ConfChange &&
    type !== EntryType.ConfChangeV2
  ) {
    throw new MalformedMessageError(`unknown entry type ${type}`);
  }
  return { term: num(e.term, "term"), index: num(e.index, "index"), type, data: e.data };
}

export function snapshotToWire(s: Snapshot, withData = false): raftpb.Snapshot {
  return {
    data: withData ? bytes(s.data) : EMPTY,
    metadata: {
      confState: confStateToWire(s.metadata.confState),
      index: BigInt(s.metadata.index),
      term: BigInt(s.metadata.term),
    },
  };
}

function snapshotFromWire(s: raftpb.Snapshot): Snapshot {
  return {
    data: s.data,
    metadata: {
      confState: confStateFromWire(s.metadata?.confState),
      index: num(s.metadata?.index ?? 0n, "snapshot index"),
      term: num(s.metadata?.term ?? 0n, "snapshot term"),
    },
  };
}

/** A core message in wire form. */
export function messageToWire(m: Message): raftpb.Message {
  return {
    type: m.type as number as raftpb.MessageType,
    to: m.to,
    from: m.from,
    term: BigInt(m.term),
    logTerm: BigInt(m.logTerm),
    index: BigInt(m.index),
    entries: m.entries.length === 0 ? [] : m.entries.map(entryToWire),
    commit: BigInt(m.commit),
    snapshot: m.snapshot ? snapshotToWire(m.snapshot) : undefined,
    reject: m.reject,
    rejectHint: BigInt(m.rejectHint),
    context: bytes(m.context),
  };
}

/** A wire message as a core message; throws {@link MalformedMessageError}. */
export function messageFromWire(m: raftpb.Message): Message {
  const type = m.type as number;
  if (!(type in MessageType) || type < 0) {
    throw new MalformedMessageError(`unknown message type ${type}`);
  }
  const out: Message = {
    type,
    to: m.to,
    from: m.from,
    term: num(m.term, "term"),
    logTerm: num(m.logTerm, "logTerm"),
    index: num(m.index, "index"),
    entries: m.entries.length === 0 ? [] : m.entries.map(entryFromWire),
    commit: num(m.commit, "commit"),
    reject: m.reject,
    rejectHint: num(m.rejectHint, "rejectHint"),
    context: m.context,
  };
  if (m.snapshot) out.snapshot = snapshotFromWire(m.snapshot);
  return out;
}
