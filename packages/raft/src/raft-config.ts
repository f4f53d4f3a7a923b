/**
 * Installing configurations: applying a committed conf change, restoring the
 * configuration of a snapshot or of a restart, and what a leader must do when the
 * configuration it replicates to changes (thesis §4).
 */
import { confChangeEnterJoint, confChangeLeaveJoint } from "./conf-change.js";
import { type ChangeResult, Changer } from "./confchange/confchange.js";
import { restoreConfState } from "./confchange/restore.js";
import type { Raft } from "./raft.js";
import { leaderMaybeCommit } from "./read-index.js";
import { ProgressTracker } from "./tracker/progress-tracker.js";
import { type ConfChangeV2, type ConfState, None, type Snapshot, StateType } from "./types.js";

/**
 * Applies a committed conf change and returns the new ConfState. Throws ConfChangeError
 * if the change is invalid for the current configuration (the leader screens proposals,
 * so this indicates a caller bug such as applying a change twice).
 */
export function applyConfChange(r: Raft, cc: ConfChangeV2): ConfState {
  const changer = new Changer(r.trk, r.raftLog.lastIndex());
  let res: ChangeResult;
  if (confChangeLeaveJoint(cc)) {
    res = changer.leaveJoint();
  } else {
    const { joint, autoLeave } = confChangeEnterJoint(cc);
    res = joint ? changer.enterJoint(autoLeave, cc.changes) : changer.simple(cc.changes);
  }
  return switchToConfig(r, res);
}

/**
 * Installs a configuration. A leader that is no longer a voter hands leadership over to a
 * voter of the new configuration (see {@link Raft.maybeHandOffLeadership}); a leader that
 * is still one recomputes its commit index (the quorum changed) and brings new members up
 * to date; a leadership transfer to a node that is no longer a voter is abandoned.
 */
export function switchToConfig(r: Raft, res: ChangeResult): ConfState {
  r.trk.setConfig(res.config, res.progress);
  r.logger?.info(`${r.id.toString(16)} switched to configuration ${r.trk.config.describe()}`);
  const cs = r.trk.confState();
  const pr = r.trk.progress.get(r.id);
  r.isLearner = pr?.isLearner === true;
  r.isMember = pr !== undefined;
  if ((pr === undefined || r.isLearner) && r.state === StateType.Leader) {
    // Removed or demoted (thesis §4.2.2): keep replicating without counting ourselves,
    // so the others learn that the change committed, and hand leadership over to the
    // most up-to-date voter of the new configuration. Stepping down at once could leave
    // the cluster without a leader: the others may still need our vote in the old
    // configuration, which we would refuse if our log is longer than theirs.
    r.abortLeaderTransfer();
    r.maybeHandOffLeadership();
    return cs;
  }
  if (r.state !== StateType.Leader || cs.voters.length === 0) return cs;
  leaderMaybeCommit(r);
  r.pendingBcast = true;
  if (r.leadTransferee !== None && !r.trk.config.voters.has(r.leadTransferee)) {
    r.abortLeaderTransfer();
  }
  return cs;
}

/** Installs the configuration described by a ConfState (restart or snapshot). */
export function restoreConfig(r: Raft, cs: ConfState): ConfState {
  r.trk = new ProgressTracker(r.trk.maxInflight, r.trk.maxInflightBytes);
  const res = restoreConfState(r.trk, r.raftLog.lastIndex(), cs);
  return switchToConfig(r, res);
}

/**
 * Follower: installs a snapshot from the leader if it is newer than what we have
 * committed. If our log already holds the snapshot's last entry, only the commit index
 * moves (the entries are kept). Refused while the application is applying a conf change
 * handed out in an earlier Ready (the snapshot's configuration already includes it).
 * Returns whether the snapshot was installed.
 */
export function restoreSnapshot(r: Raft, s: Snapshot): boolean {
  const { index, term, confState: cs } = s.metadata;
  if (index <= r.raftLog.committed) return false;
  if (r.state !== StateType.Follower) {
    // Only a follower receives snapshots; anything else is a bug elsewhere. Step down
    // into a new term to be safe, as etcd does.
    r.logger?.warn(
      `${r.id.toString(16)} attempted to restore snapshot as leader; should never happen`,
    );
    r.becomeFollower(r.term + 1, None);
    return false;
  }
  const member =
    cs.voters.includes(r.id) || cs.learners.includes(r.id) || cs.votersOutgoing.includes(r.id);
  if (!member) {
    r.logger?.warn(
      `${r.id.toString(16)} attempted to restore snapshot but it is not in the ConfState; should never happen`,
    );
    return false;
  }
  if (r.raftLog.hasApplyingConfChanges()) {
    // The application is applying committed entries that include a conf change and will
    // call applyConfChange for it; installing the snapshot's (later) configuration now
    // would make that call apply the change twice. Ignoring a snapshot is always safe:
    // the leader sends another one once this one is reported.
    r.logger?.info(
      `${r.id.toString(16)} [commit: ${r.raftLog.committed}, applied: ${r.raftLog.applied}, applying: ${r.raftLog.applying}] ignored snapshot [index: ${index}, term: ${term}] while applying a conf change`,
    );
    return false;
  }
  if (r.raftLog.matchTerm(index, term)) {
    r.logger?.info(
      `${r.id.toString(16)} [commit: ${r.raftLog.committed}] fast-forwarded commit to snapshot [index: ${index}, term: ${term}]`,
    );
    r.raftLog.commitTo(index);
    return false;
  }
  r.raftLog.restore(s);
  restoreConfig(r, cs);
  r.logger?.info(
    `${r.id.toString(16)} [commit: ${r.raftLog.committed}] restored snapshot [index: ${index}, term: ${term}]`,
  );
  return true;
}
