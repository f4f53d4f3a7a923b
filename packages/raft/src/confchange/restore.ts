import type { ProgressTracker } from "../tracker/progress-tracker.js";
import { type ConfChangeSingle, ConfChangeType, type ConfState } from "../types.js";
import { type ChangeResult, Changer } from "./confchange.js";

/**
 * Rebuilds the configuration described by a ConfState (after a restart or a snapshot) by
 * replaying it as a sequence of changes through a {@link Changer}, so that the result
 * passes the same invariant checks as live changes. Outside joint consensus every member is
 * added one by one; in a joint config the outgoing voters are added first, then the joint
 * configuration is entered with the changes that produce the incoming half.
 *
 * `tracker` must be empty (fresh); it is used as scratch and left holding the result.
 */
export function restoreConfState(
  tracker: ProgressTracker,
  lastIndex: number,
  cs: ConfState,
): ChangeResult {
  const outgoing: ConfChangeSingle[] = [];
  const incoming: ConfChangeSingle[] = [];
  // The outgoing config is built first, as if it were the current (non-joint) one; the
  // incoming changes then remove every outgoing voter and add the new config, so that
  // entering joint leaves the outgoing half intact.
  for (const id of cs.votersOutgoing) {
    outgoing.push({ type: ConfChangeType.AddNode, nodeId: id });
  }
  for (const id of cs.votersOutgoing) {
    incoming.push({ type: ConfChangeType.RemoveNode, nodeId: id });
  }
  for (const id of cs.voters) incoming.push({ type: ConfChangeType.AddNode, nodeId: id });
  for (const id of cs.learners) {
    incoming.push({ type: ConfChangeType.AddLearnerNode, nodeId: id });
  }
  // Voters being demoted: AddLearnerNode on an outgoing voter stages it in learnersNext.
  for (const id of cs.learnersNext) {
    incoming.push({ type: ConfChangeType.AddLearnerNode, nodeId: id });
  }

  const steps: ((c: Changer) => ChangeResult)[] = [];
  if (outgoing.length === 0) {
    for (const cc of incoming) steps.push((c) => c.simple([cc]));
  } else {
    for (const cc of outgoing) steps.push((c) => c.simple([cc]));
    steps.push((c) => c.enterJoint(cs.autoLeave, incoming));
  }
  let result: ChangeResult = { config: tracker.config, progress: tracker.progress };
  for (const step of steps) {
    result = step(new Changer(tracker, lastIndex));
    tracker.setConfig(result.config, result.progress);
  }
  return result;
}
