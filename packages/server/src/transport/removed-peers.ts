/**
 * Refusing a removed member's peer traffic (member-removal.ts): its Hello and Raft streams
 * get FAILED_PRECONDITION "the member has been permanently removed from the cluster",
 * which tells it to stop; its messages never reach raft (a removed member cut off
 * during its removal cannot disturb the cluster with a higher term).
 */
import type { EtcdError } from "@chainfire/api";
import type { Logger } from "pino";
import { formatId } from "../ids.js";
import { memberRemovedError } from "../member-removal.js";

/** Whether `host` knows `id` as removed (0n, an unnamed joiner, never is). */
export function isMemberRemoved(host: { isRemoved?(id: bigint): boolean }, id: bigint): boolean {
  return id !== 0n && host.isRemoved?.(id) === true;
}

/** The refusal, logged (once per attempt: the removed member stops on it). */
export function refuseRemoved(logger: Logger, id: bigint): EtcdError {
  logger.warn({ peer: formatId(id) }, "refusing peer traffic from a removed member");
  return memberRemovedError();
}
