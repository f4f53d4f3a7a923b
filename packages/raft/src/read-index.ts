/**
 * The leader's side of ReadIndex (thesis §6.4): record the commit index when a read
 * arrives, confirm leadership with a heartbeat round (or trust the lease, §6.4.1), then
 * answer with that index. A new leader defers reads until it has committed an entry of
 * its own term, since only then is its commit index known to be current.
 */

import { reply } from "./messages.js";
import type { Raft } from "./raft.js";
import { bcastHeartbeat } from "./replicate.js";
import { type Message, MessageType, None } from "./types.js";

/**
 * Handles a MsgReadIndex on the leader once the first commit of its term happened:
 * with Safe reads, queue it and start a heartbeat round; with lease reads, answer now.
 */
export function sendReadIndexResponse(r: Raft, m: Message): void {
  if (r.leaseReads()) {
    respondToReadIndex(r, m, r.raftLog.committed);
    return;
  }
  r.readOnly.addRequest(r.raftLog.committed, m);
  // The leader acknowledges its own heartbeat round.
  r.readOnly.recvAck(r.id, r.readOnly.heartbeatCtx());
  bcastHeartbeat(r);
}

/**
 * Answers a confirmed read: a local request becomes a ReadState in the next Ready; a
 * follower's request gets a MsgReadIndexResp carrying the original context entry.
 */
export function respondToReadIndex(r: Raft, req: Message, readIndex: number): void {
  if (req.from === None || req.from === r.id) {
    r.readStates.push({ index: readIndex, requestCtx: req.entries[0].data });
    return;
  }
  const m = reply(MessageType.MsgReadIndexResp, req.from);
  m.index = readIndex;
  m.entries = req.entries;
  r.send(m);
}

/** Answers the reads that waited for the first commit of this term. */
export function releasePendingReadIndexMessages(r: Raft): void {
  if (r.pendingReadIndexMessages.length === 0) return;
  if (!r.committedEntryInCurrentTerm()) return;
  const msgs = r.pendingReadIndexMessages;
  r.pendingReadIndexMessages = [];
  for (const m of msgs) sendReadIndexResponse(r, m);
}

/**
 * Leader: recomputes the commit index; if it moved, releases deferred reads and schedules
 * MsgApps to tell the followers. Returns whether it moved.
 */
export function leaderMaybeCommit(r: Raft): boolean {
  if (!r.maybeCommit()) return false;
  releasePendingReadIndexMessages(r);
  r.pendingBcast = true;
  return true;
}
