/**
 * Canonical text of raft values, in the format of etcd-io/raft's Describe* helpers. Tests
 * (interaction traces) print these; logs use them. Nothing here runs unless called.
 */
import { confChangeAsV2, decodeConfChange, decodeConfChangeV2 } from "./conf-change.js";
import type { Ready } from "./ready.js";
import {
  type ConfChangeSingle,
  ConfChangeType,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  type NodeId,
  None,
  type Snapshot,
  type SoftState,
  StateType,
} from "./types.js";

/** Formats an entry's payload; the default quotes the bytes. */
export type EntryFormatter = (data: Uint8Array) => string;

/** A node id as etcd prints it: hex, or `None`. */
export function describeTarget(id: NodeId): string {
  return id === None ? "None" : id.toString(16);
}

/** Go-style `%q` of bytes: printable ASCII as is, `"` and `\` escaped, the rest as \xNN. */
export function quoteBytes(b: Uint8Array): string {
  let s = '"';
  for (let i = 0; i < b.byteLength; i++) {
    const c = b[i];
    if (c === 0x22) s += '\\"';
    else if (c === 0x5c) s += "\\\\";
    else if (c === 0x0a) s += "\\n";
    else if (c === 0x09) s += "\\t";
    else if (c === 0x0d) s += "\\r";
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return `${s}"`;
}

const CHANGE_LETTER: Record<ConfChangeType, string> = {
  [ConfChangeType.AddNode]: "v",
  [ConfChangeType.RemoveNode]: "r",
  [ConfChangeType.UpdateNode]: "u",
  [ConfChangeType.AddLearnerNode]: "l",
};

/** etcd's compact change list, e.g. `v2 r3 l4` (add voter 2, remove 3, add learner 4). */
export function describeConfChanges(ccs: readonly ConfChangeSingle[]): string {
  return ccs.map((c) => `${CHANGE_LETTER[c.type]}${c.nodeId}`).join(" ");
}

const ENTRY_TYPE_NAMES: Record<EntryType, string> = {
  [EntryType.Normal]: "EntryNormal",
  [EntryType.ConfChange]: "EntryConfChange",
  [EntryType.ConfChangeV2]: "EntryConfChangeV2",
};

/** One entry: `term/index Type payload`, e.g. `1/3 EntryNormal "foo"`. */
export function describeEntry(e: Entry, f?: EntryFormatter): string {
  let formatted: string;
  try {
    switch (e.type) {
      case EntryType.ConfChange:
        formatted = describeConfChanges(confChangeAsV2(decodeConfChange(e.data)).changes);
        break;
      case EntryType.ConfChangeV2:
        formatted = describeConfChanges(decodeConfChangeV2(e.data).changes);
        break;
      default:
        formatted = (f ?? quoteBytes)(e.data);
    }
  } catch (err) {
    formatted = (err as Error).message;
  }
  return `${e.term}/${e.index} ${ENTRY_TYPE_NAMES[e.type] ?? `EntryType(${e.type})`}${formatted === "" ? "" : ` ${formatted}`}`;
}

/** Entries, one per line (each line ends with a newline). */
export function describeEntries(ents: readonly Entry[], f?: EntryFormatter): string {
  let s = "";
  for (const e of ents) s += `${describeEntry(e, f)}\n`;
  return s;
}

/** `Voters:[1 2 3] VotersOutgoing:[] Learners:[] LearnersNext:[] AutoLeave:false`. */
export function describeConfState(cs: ConfState): string {
  const l = (ids: readonly NodeId[]) => `[${ids.join(" ")}]`;
  return `Voters:${l(cs.voters)} VotersOutgoing:${l(cs.votersOutgoing)} Learners:${l(cs.learners)} LearnersNext:${l(cs.learnersNext)} AutoLeave:${cs.autoLeave}`;
}

/** `Index:5 Term:2 ConfState:...`. */
export function describeSnapshot(s: Snapshot): string {
  const m = s.metadata;
  return `Index:${m.index} Term:${m.term} ConfState:${describeConfState(m.confState)}`;
}

/** `Term:2 Vote:1 Commit:5` (Vote omitted when None). */
export function describeHardState(hs: HardState): string {
  return `Term:${hs.term}${hs.vote !== None ? ` Vote:${hs.vote}` : ""} Commit:${hs.commit}`;
}

const STATE_NAMES: Record<StateType, string> = {
  [StateType.Follower]: "StateFollower",
  [StateType.Candidate]: "StateCandidate",
  [StateType.Leader]: "StateLeader",
  [StateType.PreCandidate]: "StatePreCandidate",
};

/** The name of a role, e.g. `StateLeader`. */
export function describeStateType(s: StateType): string {
  return STATE_NAMES[s] ?? `StateType(${s})`;
}

/** `Lead:1 State:StateLeader`. */
export function describeSoftState(ss: SoftState): string {
  return `Lead:${ss.lead} State:${describeStateType(ss.raftState)}`;
}

/**
 * One message on one line: `1->2 MsgApp Term:1 Log:1/2 Commit:2 Entries:[1/3 EntryNormal
 * "foo"]`, with ` Rejected (Hint: n)`, ` Snapshot: ...` when relevant.
 */
export function describeMessage(m: Message, f?: EntryFormatter): string {
  let s = `${describeTarget(m.from)}->${describeTarget(m.to)} ${MessageType[m.type] ?? m.type} Term:${m.term} Log:${m.logTerm}/${m.index}`;
  if (m.reject) s += ` Rejected (Hint: ${m.rejectHint})`;
  if (m.commit !== 0) s += ` Commit:${m.commit}`;
  if (m.entries.length > 0)
    s += ` Entries:[${m.entries.map((e) => describeEntry(e, f)).join(", ")}]`;
  if (m.snapshot !== undefined) s += ` Snapshot: ${describeSnapshot(m.snapshot)}`;
  return s;
}

/**
 * A Ready, one item per line under section headers, or `<empty Ready>`:
 *
 * ```
 * Ready MustSync=true:
 * Lead:1 State:StateLeader
 * HardState Term:1 Vote:1 Commit:0
 * Entries:
 * 1/1 EntryNormal ""
 * Messages:
 * 1->2 MsgApp Term:1 Log:0/0 Entries:[1/1 EntryNormal ""]
 * MessagesAfterPersist:
 * ...
 * ```
 */
export function describeReady(rd: Ready, f?: EntryFormatter): string {
  let s = "";
  if (rd.softState !== undefined) s += `${describeSoftState(rd.softState)}\n`;
  if (rd.hardState !== undefined) s += `HardState ${describeHardState(rd.hardState)}\n`;
  if (rd.readStates.length > 0) {
    s += `ReadStates ${rd.readStates.map((rs) => `{${rs.index} ${quoteBytes(rs.requestCtx)}}`).join(" ")}\n`;
  }
  if (rd.entries.length > 0) s += `Entries:\n${describeEntries(rd.entries, f)}`;
  if (rd.snapshot !== undefined) s += `Snapshot ${describeSnapshot(rd.snapshot)}\n`;
  if (rd.committedEntries.length > 0) {
    s += `CommittedEntries:\n${describeEntries(rd.committedEntries, f)}`;
  }
  if (rd.messages.length > 0) {
    s += "Messages:\n";
    for (const m of rd.messages) s += `${describeMessage(m, f)}\n`;
  }
  if (rd.messagesAfterPersist.length > 0) {
    s += "MessagesAfterPersist:\n";
    for (const m of rd.messagesAfterPersist) s += `${describeMessage(m, f)}\n`;
  }
  return s === "" ? "<empty Ready>" : `Ready MustSync=${rd.mustSync}:\n${s}`;
}
