/** Quorum arithmetic: majority and joint configurations. Knows nothing of raft. */
export { JointConfig } from "./joint.js";
export { MajorityConfig } from "./majority.js";
export { type AckedIndexer, MapAckIndexer, VoteResult, voteResultNames } from "./quorum.js";
