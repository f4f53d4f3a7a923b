/** How a candidate or pre-candidate handles each message (thesis §3.4, §9.6). */

import { campaign, poll } from "./election.js";
import { ProposalDroppedError } from "./errors.js";
import { VoteResult } from "./quorum/quorum.js";
import type { Raft } from "./raft.js";
import { handleAppendEntries, handleHeartbeat, handleSnapshot } from "./step-follower.js";
import { type Message, MessageType, None, StateType } from "./types.js";

/** The step function of candidates and pre-candidates. */
export function stepCandidate(r: Raft, m: Message): void {
  const myVoteRespType =
    r.state === StateType.PreCandidate ? MessageType.MsgPreVoteResp : MessageType.MsgVoteResp;
  switch (m.type) {
    case MessageType.MsgProp:
      r.logger?.info(`${r.id.toString(16)} no leader at term ${r.term}; dropping proposal`);
      throw new ProposalDroppedError("no leader");
    case MessageType.MsgApp:
      // A leader of our term exists (m.term === r.term here): follow it.
      r.becomeFollower(m.term, m.from);
      handleAppendEntries(r, m);
      return;
    case MessageType.MsgHeartbeat:
      r.becomeFollower(m.term, m.from);
      handleHeartbeat(r, m);
      return;
    case MessageType.MsgSnap:
      r.becomeFollower(m.term, m.from);
      handleSnapshot(r, m);
      return;
    case myVoteRespType: {
      const result = poll(r, m.from, m.type, !m.reject);
      if (result === VoteResult.VoteWon) {
        if (r.state === StateType.PreCandidate) {
          campaign(r, "election");
        } else {
          r.becomeLeader();
        }
      } else if (result === VoteResult.VoteLost) {
        // A pre-candidate that lost stays in its term; a candidate keeps its vote.
        r.becomeFollower(r.term, None);
      }
      return;
    }
    case MessageType.MsgTimeoutNow:
      r.logger?.debug(
        `${r.id.toString(16)} [term ${r.term}] ignored MsgTimeoutNow from ${m.from.toString(16)}`,
      );
      return;
  }
}
