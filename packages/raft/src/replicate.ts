/**
 * The leader's outgoing replication: MsgApp (with flow control), MsgSnap when a follower
 * needs entries that were compacted, heartbeats, and MsgTimeoutNow.
 */

import { reply } from "./messages.js";
import type { Raft } from "./raft.js";
import { SnapshotTemporarilyUnavailableError } from "./storage.js";
import type { Progress } from "./tracker/progress.js";
import type { Snapshot } from "./types.js";
import { type Entry, MessageType, type NodeId, StateType } from "./types.js";
import { EMPTY_BYTES, entriesSize } from "./util.js";

/** Sends a MsgApp to `to` (possibly empty, to carry the commit index) unless paused. */
export function sendAppend(r: Raft, to: NodeId): void {
  maybeSendAppend(r, to, true);
}

/**
 * Sends the entries from `next` on to `to`, at most maxSizePerMsg bytes, unless the
 * follower is paused (probe outstanding, inflight window full, snapshot in flight). With
 * `sendIfEmpty` false, nothing is sent when there are no entries. Falls back to a
 * snapshot if the entries (or the previous entry's term) were compacted. Returns whether
 * a message was sent.
 */
export function maybeSendAppend(r: Raft, to: NodeId, sendIfEmpty: boolean): boolean {
  const pr = r.trk.progress.get(to);
  if (pr === undefined || pr.isPaused()) return false;
  const log = r.raftLog;
  const prevIndex = pr.next - 1;
  const prevTerm = log.termOrNeg(prevIndex);
  if (prevTerm < 0) return maybeSendSnapshot(r, to, pr);
  let ents: Entry[] = [];
  if (pr.state !== "replicate" || !pr.inflights.full()) {
    if (pr.next < log.firstIndex()) return maybeSendSnapshot(r, to, pr);
    ents = log.entries(pr.next, r.maxMsgSize);
  }
  if (ents.length === 0 && !sendIfEmpty) return false;
  const commit = log.committed;
  r.send({
    type: MessageType.MsgApp,
    to,
    from: r.id,
    term: 0,
    logTerm: prevTerm,
    index: prevIndex,
    entries: ents,
    commit,
    reject: false,
    rejectHint: 0,
    context: EMPTY_BYTES,
  });
  // Byte accounting is only needed when inflight bytes are limited.
  const bytes = ents.length === 0 || r.trk.maxInflightBytes === 0 ? 0 : entriesSize(ents);
  pr.sentEntries(ents.length, bytes);
  pr.sentCommitTo(commit);
  return true;
}

/**
 * Sends the latest snapshot to a follower whose next entry was compacted, and pauses
 * replication to it until the caller reports the snapshot's fate (reportSnapshot).
 * Skipped for followers not recently active (they would likely not receive it) and when
 * the storage has no snapshot ready yet (retried later).
 */
export function maybeSendSnapshot(r: Raft, to: NodeId, pr: Progress): boolean {
  if (!pr.recentActive) {
    r.logger?.debug(
      `ignore sending snapshot to ${to.toString(16)} since it is not recently active`,
    );
    return false;
  }
  let snapshot: Snapshot;
  try {
    snapshot = r.raftLog.snapshot();
  } catch (e) {
    if (e instanceof SnapshotTemporarilyUnavailableError) {
      r.logger?.debug(
        `${r.id.toString(16)} failed to send snapshot to ${to.toString(16)} because snapshot is temporarily unavailable`,
      );
      return false;
    }
    throw e;
  }
  const { index, term } = snapshot.metadata;
  r.logger?.debug(
    `${r.id.toString(16)} [firstindex: ${r.raftLog.firstIndex()}, commit: ${r.raftLog.committed}] sent snapshot[index: ${index}, term: ${term}] to ${to.toString(16)} [${pr.describe()}]`,
  );
  pr.becomeSnapshot(index);
  const m = reply(MessageType.MsgSnap, to);
  m.snapshot = snapshot;
  r.send(m);
  return true;
}

/** Sends a heartbeat carrying a commit index the follower is sure to have (<= match). */
export function sendHeartbeat(r: Raft, to: NodeId, ctx: Uint8Array): void {
  const pr = r.trk.progress.get(to);
  if (pr === undefined) return;
  const commit = Math.min(pr.match, r.raftLog.committed);
  const m = reply(MessageType.MsgHeartbeat, to);
  m.commit = commit;
  m.context = ctx;
  r.send(m);
  pr.sentCommitTo(commit);
}

/** Heartbeats every other member; the context is the read-index position, if any. */
export function bcastHeartbeat(r: Raft): void {
  bcastHeartbeatWithCtx(r, r.readOnly.heartbeatCtx());
}

/** Heartbeats every other member with the given context. */
export function bcastHeartbeatWithCtx(r: Raft, ctx: Uint8Array): void {
  for (const id of r.trk.ids) {
    if (id !== r.id) sendHeartbeat(r, id, ctx);
  }
}

/**
 * Sends what each follower is missing: entries (as many MsgApps as flow control allows),
 * or an empty MsgApp when only the commit index moved. Called when messages are
 * collected, if {@link Raft.pendingBcast} was set since (one MsgApp per follower per
 * Ready instead of one per proposal).
 */
export function bcastAppend(r: Raft): void {
  r.pendingBcast = false;
  if (r.state !== StateType.Leader) return;
  const committed = r.raftLog.committed;
  for (const id of r.trk.ids) {
    if (id === r.id) continue;
    const pr = r.trk.progress.get(id)!;
    let sent = false;
    while (maybeSendAppend(r, id, false)) sent = true;
    if (!sent && pr.canBumpCommit(committed)) maybeSendAppend(r, id, true);
  }
}

/** Tells the transferee to campaign now (thesis §3.10). */
export function sendTimeoutNow(r: Raft, to: NodeId): void {
  r.send(reply(MessageType.MsgTimeoutNow, to));
}
