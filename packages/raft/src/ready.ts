import type { Entry, HardState, Message, ReadState, Snapshot, SoftState } from "./types.js";

/**
 * Everything the node wants the caller to do, taken with `rawNode.ready()` and handed back
 * with `rawNode.advance(rd)` once done. The caller's duties, in order:
 *
 * 1. Send `messages` now, in parallel with step 2. Raft puts here only what is safe to send
 *    before this Ready is durable: a leader's MsgApp/MsgHeartbeat/MsgSnap/MsgTimeoutNow and
 *    its read-index answers (thesis §10.2.1: a leader may replicate before its own fsync;
 *    it counts itself toward a quorum only after `advance`).
 * 2. Persist `snapshot` (if set), then append `entries` (truncating any conflicting suffix),
 *    then `hardState` (if set), atomically and durably (fsync) when `mustSync`.
 * 3. Send `messagesAfterPersist` only once step 2 is durable: votes, append and heartbeat
 *    responses and anything a candidate or follower says (DESIGN.md durability rule 1).
 * 4. Apply `committedEntries` in order (and the snapshot if one was persisted), atomically
 *    with the applied index; answer `readStates` once applied >= their index.
 * 5. Call `advance(rd)`.
 *
 * While the caller works on a Ready it may keep calling `step`, `propose`, `tick` and the
 * rest; the next `ready()` collects everything that accumulated (group commit).
 */
export interface Ready {
  /** Set when the leader or this node's role changed since the previous Ready. */
  softState?: SoftState;
  /** Set when term, vote or commit changed since the previous Ready. */
  hardState?: HardState;
  readStates: ReadState[];
  /** Entries to append to stable storage. */
  entries: Entry[];
  /** A snapshot to persist (received from the leader). */
  snapshot?: Snapshot;
  /** Committed entries to apply. Already durable on a quorum. */
  committedEntries: Entry[];
  /** Messages safe to send before this Ready is persisted (see step 1). */
  messages: Message[];
  /** Messages that may be sent only after this Ready is persisted (see step 3). */
  messagesAfterPersist: Message[];
  /** Whether entries/hardState must be fsynced (false when only commit changed). */
  mustSync: boolean;
}
