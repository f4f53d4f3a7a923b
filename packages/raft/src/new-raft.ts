import { type Config, resolveConfig } from "./config.js";
import { Raft } from "./raft.js";
import { restoreConfig } from "./raft-config.js";
import { stepRaft } from "./step.js";
import { stepCandidate } from "./step-candidate.js";
import { stepFollower } from "./step-follower.js";
import { stepLeader } from "./step-leader.js";
import { None } from "./types.js";

/**
 * Creates a node's raft state from its Config and storage: validates the config, restores
 * the configuration (ConfState) and HardState, skips what the application already
 * applied (`config.applied`, which also raises the commit index if the persisted one lags
 * behind it), and starts as a follower with no known leader. Throws ConfigError on a bad
 * config, BugIndicatingError if the HardState or `applied` point past the end of the log.
 */
export function newRaft(config: Config): Raft {
  const c = resolveConfig(config);
  const r = new Raft(c, {
    step: stepRaft,
    leader: stepLeader,
    candidate: stepCandidate,
    follower: stepFollower,
  });
  const { hardState, confState } = c.storage.initialState();
  restoreConfig(r, confState);
  if (hardState.term !== 0 || hardState.vote !== None || hardState.commit !== 0) {
    r.loadState(hardState);
  }
  if (c.applied > r.raftLog.committed) {
    // The application applied entries it learned were committed, but the HardState
    // carrying that commit index was not fsynced (Ready.mustSync is false when only the
    // commit index moves). Everything applied was committed, so catching up is safe; an
    // applied index past the end of the log means fsynced entries were lost.
    r.logger?.warn(
      `${r.id.toString(16)} applied index ${c.applied} is ahead of the persisted commit index ${r.raftLog.committed}; raising commit`,
    );
    r.raftLog.commitTo(c.applied);
  }
  if (c.applied > r.raftLog.applied) r.raftLog.appliedTo(c.applied, 0);
  r.becomeFollower(r.term, None);
  r.logger?.info(
    `newRaft ${r.id.toString(16)} [peers: [${r.trk
      .voterNodes()
      .map((id) => id.toString(16))
      .join(
        ",",
      )}], term: ${r.term}, commit: ${r.raftLog.committed}, applied: ${r.raftLog.applied}, lastindex: ${r.raftLog.lastIndex()}, lastterm: ${r.raftLog.lastTerm()}]`,
  );
  return r;
}
