/**
 * The entry point for every message: what all roles share (term checks, leases, votes)
 * before the role's own handler runs.
 */
import { hup } from "./election.js";
import { CAMPAIGN_TRANSFER, reply, voteRespMsgType } from "./messages.js";
import type { Raft } from "./raft.js";
import { type Message, MessageType, None } from "./types.js";
import { bytesEqual } from "./util.js";

/**
 * The entry point for every message. Handles what is common to all roles: messages from
 * other terms (thesis §3.3: a higher term makes this node a follower; a lower term is
 * ignored or answered so the sender learns), leases (a node that hears from a leader
 * ignores vote requests for an election timeout, thesis §4.2.3), vote requests
 * (thesis §3.4, §3.6.1), elections; then hands the message to the role's step function.
 */
export function stepRaft(r: Raft, m: Message): void {
  const t = m.type;
  if (m.term === 0) {
    // Local message.
  } else if (m.term > r.term) {
    if (t === MessageType.MsgVote || t === MessageType.MsgPreVote) {
      const force = bytesEqual(m.context, CAMPAIGN_TRANSFER);
      const inLease = r.checkQuorum && r.lead !== None && r.electionElapsed < r.electionTimeout;
      if (!force && inLease) {
        r.logger?.info(
          `${r.id.toString(16)} [term: ${r.term}] ignored ${MessageType[t]} from ${m.from.toString(16)} [term: ${m.term}]: lease is not expired (remaining ticks: ${r.electionTimeout - r.electionElapsed})`,
        );
        return;
      }
    }
    if (t === MessageType.MsgPreVote) {
      // A pre-vote never changes our term.
    } else if (t === MessageType.MsgPreVoteResp && !m.reject) {
      // We sent a pre-vote for term+1; a grant carries that term. We move to it only
      // when the pre-election is won.
    } else {
      r.logger?.info(
        `${r.id.toString(16)} [term: ${r.term}] received a ${MessageType[t]} message with higher term from ${m.from.toString(16)} [term: ${m.term}]`,
      );
      const fromLeader =
        t === MessageType.MsgApp || t === MessageType.MsgHeartbeat || t === MessageType.MsgSnap;
      r.becomeFollower(m.term, fromLeader ? m.from : None);
    }
  } else if (m.term < r.term) {
    if (
      (r.checkQuorum || r.preVote) &&
      (t === MessageType.MsgHeartbeat || t === MessageType.MsgApp)
    ) {
      // A stale leader (e.g. after a partition healed) that we would otherwise ignore
      // forever; with check-quorum or pre-vote our term would never reach it otherwise.
      // The response carries our term and makes it step down.
      r.send(reply(MessageType.MsgAppResp, m.from));
    } else if (t === MessageType.MsgPreVote) {
      r.logger?.info(
        `${r.id.toString(16)} [term: ${r.term}] rejected ${MessageType[t]} from ${m.from.toString(16)} [term: ${m.term}]`,
      );
      const resp = reply(MessageType.MsgPreVoteResp, m.from);
      resp.term = r.term;
      resp.reject = true;
      r.send(resp);
    } else {
      r.logger?.info(
        `${r.id.toString(16)} [term: ${r.term}] ignored a ${MessageType[t]} message with lower term from ${m.from.toString(16)} [term: ${m.term}]`,
      );
    }
    return;
  }

  if (m.reject && (t === MessageType.MsgVoteResp || t === MessageType.MsgPreVoteResp)) {
    maybeLearnCommit(r, m);
  }

  switch (t) {
    case MessageType.MsgHup:
      hup(r, r.preVote ? "pre-election" : "election");
      return;
    case MessageType.MsgVote:
    case MessageType.MsgPreVote:
      handleVoteRequest(r, m);
      return;
    default:
      r.stepRole(m);
  }
}

/**
 * Grants a (pre-)vote if we have not voted for someone else in this term and do not
 * know a leader (or it is a pre-vote for a later term), and the candidate's log is at
 * least as up to date as ours (thesis §3.6.1).
 */
function handleVoteRequest(r: Raft, m: Message): void {
  const canVote =
    r.vote === m.from ||
    (r.vote === None && r.lead === None) ||
    (m.type === MessageType.MsgPreVote && m.term > r.term);
  const resp = reply(voteRespMsgType(m.type), m.from);
  if (canVote && r.raftLog.isUpToDate(m.index, m.logTerm)) {
    r.logger?.info(
      `${r.id.toString(16)} [logterm: ${r.raftLog.lastTerm()}, index: ${r.raftLog.lastIndex()}, vote: ${r.vote.toString(16)}] cast ${MessageType[m.type]} for ${m.from.toString(16)} [logterm: ${m.logTerm}, index: ${m.index}] at term ${r.term}`,
    );
    // The response carries the term of the request: for a pre-vote, the future term
    // (so the pre-candidate does not mistake it for a stale response).
    resp.term = m.term;
    r.send(resp);
    if (m.type === MessageType.MsgVote) {
      // Only a real vote is recorded; it also resets the election timer.
      r.electionElapsed = 0;
      r.vote = m.from;
    }
  } else {
    r.logger?.info(
      `${r.id.toString(16)} [logterm: ${r.raftLog.lastTerm()}, index: ${r.raftLog.lastIndex()}, vote: ${r.vote.toString(16)}] rejected ${MessageType[m.type]} from ${m.from.toString(16)} [logterm: ${m.logTerm}, index: ${m.index}] at term ${r.term}`,
    );
    resp.term = r.term;
    resp.reject = true;
    attachCommit(r, resp);
    r.send(resp);
  }
}

/**
 * Adds our commit index and the term of the entry there to a vote rejection, so that a
 * candidate holding that entry learns it is committed (see {@link maybeLearnCommit}).
 */
function attachCommit(r: Raft, resp: Message): void {
  const c = r.raftLog.committed;
  const t = r.raftLog.termOrNeg(c);
  if (c > 0 && t > 0) {
    resp.index = c;
    resp.logTerm = t;
    resp.commit = c;
  }
}

/**
 * Learns the commit index from a vote rejection: if our log holds the rejecter's committed
 * entry (same index and term), everything up to it is committed here too (Log Matching
 * Property, thesis §3.5). Not in etcd: it lets nodes that never heard from the leader that
 * a membership change committed (for example when the leader removed itself and stepped
 * down) apply it, instead of waiting forever for the vote of a node that is no longer a
 * voter and refuses because its log is longer.
 */
function maybeLearnCommit(r: Raft, m: Message): void {
  if (m.commit > r.raftLog.committed && m.logTerm > 0 && r.raftLog.matchTerm(m.commit, m.logTerm)) {
    r.logger?.info(
      `${r.id.toString(16)} learned commit index ${m.commit} from ${m.from.toString(16)}'s vote rejection`,
    );
    r.raftLog.commitTo(m.commit);
  }
}
