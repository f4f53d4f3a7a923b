/**
 * The data types of the Raft core: log entries, persistent state, snapshots, messages and
 * membership changes. They mirror etcd-io/raft's raftpb so that anyone who knows etcd finds
 * their way, and so that packages/api's `chainfire.raftpb` wire messages map onto them
 * field for field.
 *
 * Numbers: terms and indexes are plain `number`s. Invariant: a term or index never passes
 * 2^53 (at one million entries per second that takes 285 years). Node ids are `bigint`:
 * etcd member ids are random 64-bit values.
 */

/** A member id. `None` (0n) means "no node". */
export type NodeId = bigint;
/** The id that means "no node": no leader, no vote. */
export const None: NodeId = 0n;

/** What an entry carries: application data, or a membership change (v1 or V2 codec). */
export enum EntryType {
  Normal = 0,
  ConfChange = 1,
  ConfChangeV2 = 2,
}

/** One log entry. Invariant: `index` >= 1 and `term` >= 1 for every entry in a log. */
export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  /** Opaque to raft. An empty Normal entry is the no-op a new leader appends. */
  data: Uint8Array;
}

/** The state a node must persist before it sends any message that depends on it. */
export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

/** A membership configuration as persisted (with the applied index) and in snapshots. */
export interface ConfState {
  /** The voters of the incoming configuration (the only one outside joint consensus). */
  voters: NodeId[];
  learners: NodeId[];
  /** The voters of the outgoing configuration while in a joint configuration, else []. */
  votersOutgoing: NodeId[];
  /** Learners to be added when the joint configuration is left (voters being demoted). */
  learnersNext: NodeId[];
  /** Whether the joint configuration is left automatically once it commits. */
  autoLeave: boolean;
}

/** What a snapshot covers: the last index and term it includes, and the configuration then. */
export interface SnapshotMetadata {
  confState: ConfState;
  /** The index of the last entry the snapshot covers. */
  index: number;
  /** The term of that entry. */
  term: number;
}

/**
 * A snapshot as raft sees it. `data` is opaque to raft; Chainfire keeps it small (it names
 * the state-machine snapshot, which the transport streams separately).
 */
export interface Snapshot {
  metadata: SnapshotMetadata;
  data: Uint8Array;
}

/**
 * Message types, numbered as in etcd's raftpb. MsgHup, MsgBeat, MsgUnreachable, MsgSnapStatus
 * and MsgCheckQuorum are local only (never valid from the network).
 */
export enum MessageType {
  MsgHup = 0,
  MsgBeat = 1,
  MsgProp = 2,
  MsgApp = 3,
  MsgAppResp = 4,
  MsgVote = 5,
  MsgVoteResp = 6,
  MsgSnap = 7,
  MsgHeartbeat = 8,
  MsgHeartbeatResp = 9,
  MsgUnreachable = 10,
  MsgSnapStatus = 11,
  MsgCheckQuorum = 12,
  MsgTransferLeader = 13,
  MsgTimeoutNow = 14,
  MsgReadIndex = 15,
  MsgReadIndexResp = 16,
  MsgPreVote = 17,
  MsgPreVoteResp = 18,
}

/** One raft message. Fields not used by a message type are 0, empty or undefined. */
export interface Message {
  type: MessageType;
  to: NodeId;
  from: NodeId;
  term: number;
  /** For MsgApp: the term of the entry at `index` (the entry before `entries`). */
  logTerm: number;
  index: number;
  entries: Entry[];
  commit: number;
  snapshot?: Snapshot;
  reject: boolean;
  /** For a rejected MsgAppResp: the follower's hint for fast backtracking. */
  rejectHint: number;
  /** Opaque request context (ReadIndex request ids, campaign-transfer marker). */
  context: Uint8Array;
}

/** What a single membership change does to one node. */
export enum ConfChangeType {
  AddNode = 0,
  RemoveNode = 1,
  UpdateNode = 2,
  AddLearnerNode = 3,
}

/** A single-node change, the v1 form (one node at a time, no joint consensus). */
export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  /** Opaque to raft (Chainfire stores the member's name and URLs here). */
  context: Uint8Array;
  /** Opaque request id for the caller's waiter. */
  id: bigint;
}

/** One change of a ConfChangeV2. */
export interface ConfChangeSingle {
  type: ConfChangeType;
  nodeId: NodeId;
}

/** How a ConfChangeV2 is carried out: directly, or through a joint configuration. */
export enum ConfChangeTransition {
  /** Joint consensus when more than one change, left automatically; else simple. */
  Auto = 0,
  /** Joint consensus, left automatically once committed. */
  JointImplicit = 1,
  /** Joint consensus, left only by an explicit empty ConfChangeV2. */
  JointExplicit = 2,
}

/** A change of any number of nodes; an empty `changes` leaves a joint configuration. */
export interface ConfChangeV2 {
  transition: ConfChangeTransition;
  changes: ConfChangeSingle[];
  context: Uint8Array;
}

/** A node's role. */
export enum StateType {
  Follower = 0,
  Candidate = 1,
  Leader = 2,
  PreCandidate = 3,
}

/** Volatile state that the application may want to observe (leader changes, role). */
export interface SoftState {
  lead: NodeId;
  raftState: StateType;
}

/** The answer to a ReadIndex request: reads may be served once applied >= index. */
export interface ReadState {
  index: number;
  requestCtx: Uint8Array;
}

/** The outcome of sending a snapshot, reported with `reportSnapshot`. */
export enum SnapshotStatus {
  Finish = 0,
  Failure = 1,
}

/** Creates an empty ConfState. */
export function emptyConfState(): ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

/** Creates a message with every field at its zero value except those given. */
export function newMessage(init: Partial<Message> & Pick<Message, "type">): Message {
  return {
    to: None,
    from: None,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: EMPTY,
    ...init,
  };
}

const EMPTY = new Uint8Array(0);
