/** How a leader handles each message (thesis §3.5, §3.10, §4, §6). */
import {
  confChangeAsV2,
  confChangeEnterJoint,
  confChangeLeaveJoint,
  decodeConfChange,
  decodeConfChangeV2,
} from "./conf-change.js";
import { Changer } from "./confchange/confchange.js";
import { BugIndicatingError, ProposalDroppedError } from "./errors.js";
import type { Raft } from "./raft.js";
import { leaderMaybeCommit, respondToReadIndex, sendReadIndexResponse } from "./read-index.js";
import { bcastHeartbeat, sendAppend, sendTimeoutNow } from "./replicate.js";
import {
  type ConfChangeV2,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  type NodeId,
  None,
} from "./types.js";
import { EMPTY_BYTES } from "./util.js";

/** The leader's step function. */
export function stepLeader(r: Raft, m: Message): void {
  switch (m.type) {
    case MessageType.MsgBeat:
      bcastHeartbeat(r);
      return;
    case MessageType.MsgCheckQuorum:
      if (!r.trk.quorumActive()) {
        r.logger?.warn(`${r.id.toString(16)} stepped down to follower since quorum is not active`);
        r.becomeFollower(r.term, None);
      }
      // Start a new activity window; the leader itself is always active.
      for (const [id, pr] of r.trk.progress) if (id !== r.id) pr.recentActive = false;
      return;
    case MessageType.MsgProp:
      handlePropose(r, m);
      return;
    case MessageType.MsgReadIndex:
      handleReadIndex(r, m);
      return;
  }

  const pr = r.trk.progress.get(m.from);
  if (pr === undefined) {
    r.logger?.debug(`${r.id.toString(16)} no progress available for ${m.from.toString(16)}`);
    return;
  }
  switch (m.type) {
    case MessageType.MsgAppResp:
      handleAppendResponse(r, m);
      return;
    case MessageType.MsgHeartbeatResp: {
      pr.recentActive = true;
      pr.msgAppFlowPaused = false;
      // A heartbeat response is the probe clock: retry a probe, or catch up a follower.
      if (pr.match < r.raftLog.lastIndex() || pr.state === "probe") sendAppend(r, m.from);
      if (r.leaseReads() || m.context.byteLength === 0) return;
      r.readOnly.recvAck(m.from, m.context);
      for (const rs of r.readOnly.maybeAdvance(r.trk.config.voters)) {
        respondToReadIndex(r, rs.req, rs.index);
      }
      return;
    }
    case MessageType.MsgSnapStatus:
      if (pr.state !== "snapshot") return;
      if (m.reject) {
        // The snapshot did not make it: forget it and probe again.
        pr.pendingSnapshot = 0;
      }
      // On success, probe from the snapshot index on; on failure, from match.
      pr.becomeProbe();
      r.logger?.debug(
        `${r.id.toString(16)} snapshot ${m.reject ? "failed" : "succeeded"}, resumed sending replication messages to ${m.from.toString(16)} [${pr.describe()}]`,
      );
      // Wait for a heartbeat response before the next probe: the follower may still be
      // installing the snapshot.
      pr.msgAppFlowPaused = true;
      return;
    case MessageType.MsgUnreachable:
      // The transport failed to deliver a MsgApp; stop optimistic pipelining.
      if (pr.state === "replicate") pr.becomeProbe();
      r.logger?.debug(
        `${r.id.toString(16)} failed to send message to ${m.from.toString(16)} because it is unreachable [${pr.describe()}]`,
      );
      return;
    case MessageType.MsgTransferLeader:
      handleTransferLeader(r, m);
      return;
  }
}

/**
 * Appends proposed entries (thesis §3.5). Drops the proposal if this leader was removed,
 * transfers leadership, or is over its uncommitted budget. A conf change that is not
 * allowed right now is replaced by an empty normal entry (the proposer's waiter sees an
 * empty entry commit where it expected its change), as etcd does.
 */
function handlePropose(r: Raft, m: Message): void {
  if (m.entries.length === 0) throw new BugIndicatingError(`${r.id} stepped empty MsgProp`);
  if (r.isRemovedLeader()) {
    // Removed or demoted; still leader until it has handed over.
    throw new ProposalDroppedError("leader is not a voter");
  }
  if (r.leadTransferee !== None) {
    r.logger?.debug(
      `${r.id.toString(16)} [term ${r.term}] transfer leadership to ${r.leadTransferee.toString(16)} is in progress; dropping proposal`,
    );
    throw new ProposalDroppedError("leadership transfer in progress");
  }
  const ents = m.entries;
  for (let i = 0; i < ents.length; i++) {
    const e = ents[i];
    if (e.type === EntryType.Normal) continue;
    const failed = checkConfChange(r, e);
    if (failed !== "") {
      r.logger?.info(
        `${r.id.toString(16)} ignoring conf change at config ${r.trk.config.describe()}: ${failed}`,
      );
      ents[i] = { term: 0, index: 0, type: EntryType.Normal, data: EMPTY_BYTES };
    } else {
      r.pendingConfIndex = r.raftLog.lastIndex() + i + 1;
    }
  }
  if (!r.appendEntry(ents)) throw new ProposalDroppedError("uncommitted entries size limit");
  r.pendingBcast = true;
}

/**
 * A local proposal of one normal entry on the leader: exactly what stepping a local
 * MsgProp does (handlePropose), without allocating the message. The hot path of writes.
 */
export function proposeOnLeader(r: Raft, data: Uint8Array): void {
  if (r.isRemovedLeader()) throw new ProposalDroppedError("leader is not a voter");
  if (r.leadTransferee !== None) throw new ProposalDroppedError("leadership transfer in progress");
  if (!r.appendNormalEntry(data)) throw new ProposalDroppedError("uncommitted entries size limit");
  r.pendingBcast = true;
}

/**
 * The reason a proposed conf change must not enter the log now, or "" if it may:
 * another one may be unapplied (thesis §4.1: one change at a time); a joint
 * configuration must be left before anything else; only a joint configuration can be
 * left; and the change must be valid against the current configuration (which is the one
 * it will apply to, since no other change is pending).
 */
function checkConfChange(r: Raft, e: Entry): string {
  let cc: ConfChangeV2;
  try {
    cc =
      e.type === EntryType.ConfChange
        ? confChangeAsV2(decodeConfChange(e.data))
        : decodeConfChangeV2(e.data);
  } catch (err) {
    return `undecodable conf change: ${(err as Error).message}`;
  }
  if (r.pendingConfIndex > r.raftLog.applied) {
    return `possible unapplied conf change at index ${r.pendingConfIndex} (applied to ${r.raftLog.applied})`;
  }
  const alreadyJoint = r.trk.config.voters.isJoint();
  const wantsLeaveJoint = confChangeLeaveJoint(cc);
  if (alreadyJoint && !wantsLeaveJoint) return "must transition out of joint config first";
  if (!alreadyJoint && wantsLeaveJoint) return "not in joint state; refusing empty conf change";
  try {
    const changer = new Changer(r.trk, r.raftLog.lastIndex());
    if (wantsLeaveJoint) changer.leaveJoint();
    else {
      const { joint, autoLeave } = confChangeEnterJoint(cc);
      if (joint) changer.enterJoint(autoLeave, cc.changes);
      else changer.simple(cc.changes);
    }
  } catch (err) {
    return (err as Error).message;
  }
  return "";
}

/** ReadIndex on the leader (thesis §6.4). */
function handleReadIndex(r: Raft, m: Message): void {
  if (r.trk.isSingleton()) {
    // Nobody else can have a newer commit index: answer at once.
    respondToReadIndex(r, m, r.raftLog.committed);
    return;
  }
  if (!r.committedEntryInCurrentTerm()) {
    // A new leader does not know the latest commit index until its no-op commits.
    r.pendingReadIndexMessages.push(m);
    return;
  }
  sendReadIndexResponse(r, m);
}

/**
 * A follower's answer to MsgApp (or MsgSnap). A rejection walks `next` back using the
 * follower's hint; an acceptance advances `match`, may commit, and moves the follower to
 * replicate state.
 */
function handleAppendResponse(r: Raft, m: Message): void {
  const pr = r.trk.progress.get(m.from)!;
  pr.recentActive = true;
  if (m.reject) {
    r.logger?.debug(
      `${r.id.toString(16)} received MsgAppResp(rejected, hint: (index ${m.rejectHint}, term ${m.logTerm})) from ${m.from.toString(16)} for index ${m.index}`,
    );
    // The follower told us its last index <= rejectHint with term <= logTerm. Skip over
    // every index where our term is greater than that: those cannot match either.
    let nextProbeIdx = m.rejectHint;
    if (m.logTerm > 0) nextProbeIdx = r.raftLog.findConflictByTerm(m.rejectHint, m.logTerm)[0];
    if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
      r.logger?.debug(
        `${r.id.toString(16)} decreased progress of ${m.from.toString(16)} to [${pr.describe()}]`,
      );
      if (pr.state === "replicate") pr.becomeProbe();
      sendAppend(r, m.from);
    }
    return;
  }
  if (!(pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === "probe"))) return;
  if (pr.state === "probe") {
    pr.becomeReplicate();
  } else if (pr.state === "snapshot" && pr.match + 1 >= r.raftLog.firstIndex()) {
    // The follower caught up past the compacted prefix (through the snapshot or
    // otherwise): resume normal replication.
    pr.becomeProbe();
    pr.becomeReplicate();
  } else if (pr.state === "replicate") {
    pr.inflights.freeLE(m.index);
  }
  leaderMaybeCommit(r);
  // Either way, the follower may now take more entries or a newer commit index.
  r.pendingBcast = true;
  if (m.from === r.leadTransferee && pr.match === r.raftLog.lastIndex()) {
    r.logger?.info(
      `${r.id.toString(16)} sent MsgTimeoutNow to ${m.from.toString(16)} after received MsgAppResp`,
    );
    handOver(r, m.from);
  }
}

/**
 * Starts a leadership transfer to `m.from` (thesis §3.10): bring it up to date, then tell
 * it to campaign at once. Proposals are refused meanwhile; the transfer is abandoned
 * after an election timeout.
 */
function handleTransferLeader(r: Raft, m: Message): void {
  const pr = r.trk.progress.get(m.from)!;
  if (pr.isLearner) {
    r.logger?.debug(`${r.id.toString(16)} is learner. Ignored transferring leadership`);
    return;
  }
  const transferee = m.from;
  const last = r.leadTransferee;
  if (last !== None) {
    if (last === transferee) {
      r.logger?.info(
        `${r.id.toString(16)} [term ${r.term}] transfer leadership to ${transferee.toString(16)} is in progress, ignores request to same node`,
      );
      return;
    }
    r.abortLeaderTransfer();
    r.logger?.info(
      `${r.id.toString(16)} [term ${r.term}] abort previous transferring leadership to ${last.toString(16)}`,
    );
  }
  if (transferee === r.id) {
    r.logger?.debug(
      `${r.id.toString(16)} is already leader. Ignored transferring leadership to self`,
    );
    return;
  }
  r.logger?.info(
    `${r.id.toString(16)} [term ${r.term}] starts to transfer leadership to ${transferee.toString(16)}`,
  );
  // The transfer must finish within one election timeout.
  r.electionElapsed = 0;
  r.leadTransferee = transferee;
  if (pr.match === r.raftLog.lastIndex()) {
    handOver(r, transferee);
  } else {
    sendAppend(r, transferee);
  }
}

/**
 * Tells a caught-up transferee to campaign now. A leader that is no longer a voter then
 * steps down: the transferee's log is as complete as ours, so it can win with or without
 * our vote even if this MsgTimeoutNow is lost and it campaigns only on its own timeout;
 * staying leader would leave us leading a term nobody else follows (the new leader does
 * not talk to non-members).
 */
function handOver(r: Raft, to: NodeId): void {
  sendTimeoutNow(r, to);
  if (r.isRemovedLeader()) r.becomeFollower(r.term, None);
}
