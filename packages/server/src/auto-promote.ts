/**
 * --auto-promote (beyond etcd): a learner started with the flag asks the leader to promote
 * it, every election timeout, until it is a voting member. The leader decides with
 * Membership's strict rule (member-membership.ts `learnerReady`): the learner's match index
 * is at least 90% of the leader's (etcd's MemberPromote rule) AND raft replicates to it
 * normally (not probing, not sending it a snapshot). A voter, or a member started without
 * the flag, never asks.
 */
import { ErrMemberLearnerNotReady, EtcdError } from "@chainfire/api";
import type { Logger } from "pino";
import { formatId } from "./ids.js";
import { delay } from "./member-events.js";

/** What the loop needs from the member. */
export interface AutoPromoteHost {
  readonly id: bigint;
  readonly logger: Logger;
  readonly stopping: AbortSignal;
  /** Whether this member is a learner / a voter in the applied configuration. */
  isLearner(): boolean;
  isVoter(): boolean;
  /** Asks the leader to promote this member under the strict rule. */
  promoteSelf(signal: AbortSignal): Promise<void>;
  readonly intervalMs: number;
}

/** Runs until this member is a voter or stops; never rejects. */
export async function runAutoPromote(h: AutoPromoteHost): Promise<void> {
  const log = h.logger.child({ component: "auto-promote" });
  let attempts = 0;
  while (!h.stopping.aborted) {
    if (h.isVoter()) {
      if (attempts > 0) log.info({ attempts }, "auto-promote: this member is now a voting member");
      return;
    }
    if (h.isLearner()) {
      attempts++;
      try {
        await h.promoteSelf(h.stopping);
        log.info({ memberId: formatId(h.id), attempts }, "auto-promote: the leader promoted us");
        continue; // the promotion is applied here: the next check sees a voter
      } catch (err) {
        if (h.stopping.aborted) return;
        const notReady =
          err instanceof EtcdError && err.message === ErrMemberLearnerNotReady.message;
        log.debug(
          { attempts, err: (err as Error).message },
          notReady ? "auto-promote: not in sync with the leader yet" : "auto-promote: retrying",
        );
      }
    }
    await delay(h.intervalMs, h.stopping);
  }
}
