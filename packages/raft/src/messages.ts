/** Message constructors and per-type facts shared by the role step functions. */
import { BugIndicatingError } from "./errors.js";
import { type Message, MessageType, type NodeId, None } from "./types.js";
import { EMPTY_BYTES } from "./util.js";

/** The context a MsgVote carries when a leadership transfer asked for it (bypasses leases). */
export const CAMPAIGN_TRANSFER: Uint8Array = new Uint8Array([
  ...Array.from("CampaignTransfer", (c) => c.charCodeAt(0)),
]);

/**
 * Message types a leader may send before the Ready that produced them is durable
 * (thesis §10.2.1). Everything else waits for persistence (Ready.messagesAfterPersist).
 */
export const EARLY_LEADER_MESSAGES: readonly boolean[] = (() => {
  const t: boolean[] = [];
  for (const mt of [
    MessageType.MsgApp,
    MessageType.MsgHeartbeat,
    MessageType.MsgSnap,
    MessageType.MsgTimeoutNow,
    MessageType.MsgReadIndexResp,
  ]) {
    t[mt] = true;
  }
  return t;
})();

/** The response type for a vote request type. */
export function voteRespMsgType(t: MessageType): MessageType {
  if (t === MessageType.MsgVote) return MessageType.MsgVoteResp;
  if (t === MessageType.MsgPreVote) return MessageType.MsgPreVoteResp;
  throw new BugIndicatingError(`not a vote message: ${MessageType[t]}`);
}

/** A message with every field at its zero value except type and to. */
export function reply(type: MessageType, to: NodeId): Message {
  return {
    type,
    to,
    from: None,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: EMPTY_BYTES,
  };
}

/** A local message (term 0) of the given type from `from`. */
export function localMessage(type: MessageType, from: NodeId): Message {
  const m = reply(type, None);
  m.from = from;
  return m;
}
