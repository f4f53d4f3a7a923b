/** How a follower handles each message, and the handlers candidates share (thesis §3.5). */
import { hup } from "./election.js";
import { ProposalDroppedError } from "./errors.js";
import { reply } from "./messages.js";
import type { Raft } from "./raft.js";
import { restoreSnapshot } from "./raft-config.js";
import { type Message, MessageType, type NodeId, None } from "./types.js";
import { EMPTY_BYTES } from "./util.js";

/** The follower's step function. */
export function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case MessageType.MsgProp:
      if (r.lead === None) {
        r.logger?.info(`${r.id.toString(16)} no leader at term ${r.term}; dropping proposal`);
        throw new ProposalDroppedError("no leader");
      }
      if (r.disableProposalForwarding) {
        r.logger?.info(
          `${r.id.toString(16)} not forwarding to leader ${r.lead.toString(16)} at term ${r.term}; dropping proposal`,
        );
        throw new ProposalDroppedError("proposal forwarding disabled");
      }
      r.send(forward(m, r.lead));
      return;
    case MessageType.MsgApp:
      r.electionElapsed = 0;
      r.lead = m.from;
      handleAppendEntries(r, m);
      return;
    case MessageType.MsgHeartbeat:
      r.electionElapsed = 0;
      r.lead = m.from;
      handleHeartbeat(r, m);
      return;
    case MessageType.MsgSnap:
      r.electionElapsed = 0;
      r.lead = m.from;
      handleSnapshot(r, m);
      return;
    case MessageType.MsgTransferLeader:
      if (r.lead === None) {
        r.logger?.info(
          `${r.id.toString(16)} no leader at term ${r.term}; dropping leader transfer msg`,
        );
        return;
      }
      r.send(forward(m, r.lead));
      return;
    case MessageType.MsgTimeoutNow:
      // The leader is handing over: campaign now, skipping pre-vote and leases.
      r.logger?.info(
        `${r.id.toString(16)} [term ${r.term}] received MsgTimeoutNow from ${m.from.toString(16)} and starts an election to get leadership`,
      );
      hup(r, "transfer");
      return;
    case MessageType.MsgReadIndex:
      if (r.lead === None) {
        r.logger?.info(
          `${r.id.toString(16)} no leader at term ${r.term}; dropping index reading msg`,
        );
        return;
      }
      r.send(forward(m, r.lead));
      return;
    case MessageType.MsgReadIndexResp:
      if (m.entries.length !== 1) {
        r.logger?.warn(
          `${r.id.toString(16)} invalid format of MsgReadIndexResp from ${m.from.toString(16)}, entries count: ${m.entries.length}`,
        );
        return;
      }
      r.readStates.push({ index: m.index, requestCtx: m.entries[0].data });
      return;
  }
}

/**
 * A copy of `m` addressed to `to`, for forwarding to the leader. The term is cleared so
 * that `send` stamps ours (MsgProp and MsgReadIndex stay at term 0: they are local).
 */
function forward(m: Message, to: NodeId): Message {
  return { ...m, to, from: m.from, term: 0 };
}

/**
 * AppendEntries (thesis §3.5): accept if our log holds the entry before the new ones,
 * else reject with a hint for fast backtracking. The response goes out only after the
 * new entries are durable (Ready.messagesAfterPersist).
 */
export function handleAppendEntries(r: Raft, m: Message): void {
  const log = r.raftLog;
  if (m.index < log.committed) {
    // Already committed here; tell the leader where we are.
    const resp = reply(MessageType.MsgAppResp, m.from);
    resp.index = log.committed;
    r.send(resp);
    return;
  }
  const lastNew = log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
  if (lastNew >= 0) {
    r.send({
      type: MessageType.MsgAppResp,
      to: m.from,
      from: r.id,
      term: 0,
      logTerm: 0,
      index: lastNew,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      context: EMPTY_BYTES,
    });
    return;
  }
  r.logger?.debug(
    `${r.id.toString(16)} [logterm: ${log.zeroTermOnOutOfBounds(m.index)}, index: ${m.index}] rejected MsgApp [logterm: ${m.logTerm}, index: ${m.index}] from ${m.from.toString(16)}`,
  );
  // Our log does not contain (m.index, m.logTerm). Find the largest index <= m.index
  // whose term is <= m.logTerm: everything above it cannot match the leader's log either
  // (its terms are too high), so the leader can skip straight there.
  const hint = Math.min(m.index, log.lastIndex());
  const [hintIndex, hintTerm] = log.findConflictByTerm(hint, m.logTerm);
  const resp = reply(MessageType.MsgAppResp, m.from);
  resp.index = m.index;
  resp.reject = true;
  resp.rejectHint = hintIndex;
  resp.logTerm = hintTerm;
  r.send(resp);
}

/** A heartbeat: learn the commit index (capped by the leader at our match) and echo. */
export function handleHeartbeat(r: Raft, m: Message): void {
  r.raftLog.commitTo(m.commit);
  const resp = reply(MessageType.MsgHeartbeatResp, m.from);
  resp.context = m.context;
  r.send(resp);
}

/** InstallSnapshot (thesis §5.2): restore if newer, then report our last index. */
export function handleSnapshot(r: Raft, m: Message): void {
  const s = m.snapshot;
  if (s === undefined) return;
  const resp = reply(MessageType.MsgAppResp, m.from);
  if (restoreSnapshot(r, s)) {
    resp.index = r.raftLog.lastIndex();
  } else {
    resp.index = r.raftLog.committed;
  }
  r.send(resp);
}
