/** Elections (thesis §3.4) and pre-vote elections (thesis §9.6). */
import { CAMPAIGN_TRANSFER, voteRespMsgType } from "./messages.js";
import { VoteResult } from "./quorum/quorum.js";
import type { CampaignType, Raft } from "./raft.js";
import { MessageType, type NodeId, StateType } from "./types.js";
import { EMPTY_BYTES } from "./util.js";

/** Starts an election unless this node is leader, not promotable, or must apply first. */
export function hup(r: Raft, t: CampaignType): void {
  if (r.state === StateType.Leader) {
    r.logger?.debug(`${r.id.toString(16)} ignoring MsgHup because already leader`);
    return;
  }
  if (!r.promotable()) {
    r.logger?.warn(`${r.id.toString(16)} is unpromotable and can not campaign`);
    return;
  }
  if (r.raftLog.hasUnappliedConfChanges()) {
    r.logger?.warn(
      `${r.id.toString(16)} cannot campaign at term ${r.term} since there are still pending configuration changes to apply`,
    );
    return;
  }
  r.logger?.info(`${r.id.toString(16)} is starting a new election at term ${r.term}`);
  campaign(r, t);
}

/** Runs a (pre-)election: becomes (pre-)candidate, votes for itself, asks every voter. */
export function campaign(r: Raft, t: CampaignType): void {
  let term: number;
  let voteMsg: MessageType;
  if (t === "pre-election") {
    r.becomePreCandidate();
    voteMsg = MessageType.MsgPreVote;
    // A pre-vote asks about the next term without moving to it.
    term = r.term + 1;
  } else {
    r.becomeCandidate();
    voteMsg = MessageType.MsgVote;
    term = r.term;
  }
  if (poll(r, r.id, voteRespMsgType(voteMsg), true) === VoteResult.VoteWon) {
    // Single-voter configuration: won on our own vote.
    if (t === "pre-election") campaign(r, "election");
    else r.becomeLeader();
    return;
  }
  const lastIndex = r.raftLog.lastIndex();
  const lastTerm = r.raftLog.lastTerm();
  for (const id of r.trk.voterNodes()) {
    if (id === r.id) continue;
    r.logger?.info(
      `${r.id.toString(16)} [logterm: ${lastTerm}, index: ${lastIndex}] sent ${MessageType[voteMsg]} request to ${id.toString(16)} at term ${r.term}`,
    );
    r.send({
      type: voteMsg,
      to: id,
      from: r.id,
      term,
      logTerm: lastTerm,
      index: lastIndex,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      context: t === "transfer" ? CAMPAIGN_TRANSFER : EMPTY_BYTES,
    });
  }
}

/** Records a vote and returns the election result so far. */
export function poll(r: Raft, id: NodeId, t: MessageType, granted: boolean): VoteResult {
  r.logger?.info(
    `${r.id.toString(16)} received ${MessageType[t]}${granted ? "" : " rejection"} from ${id.toString(16)} at term ${r.term}`,
  );
  r.trk.recordVote(id, granted);
  return r.trk.tallyVotes().result;
}
