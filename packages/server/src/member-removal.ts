/**
 * A member removed from its cluster stops for good, as etcd's does.
 *
 * It learns of the removal in one of two ways: it applies the conf change that removes it
 * (the leader's removal hands leadership to a caught-up voter first, in raft), or a peer
 * that already applied it refuses its Hello or Raft stream with
 * {@link MEMBER_REMOVED_MESSAGE} (a member that was down or cut off while it was removed).
 * Then it writes a marker file into its data dir, stops serving, and the process exits
 * with {@link EXIT_CODE_REMOVED}. Restarting on that data dir is refused with the same exit
 * code ({@link MemberRemovedError}) instead of disturbing the cluster: to rejoin, add the
 * member again and start it on an empty data dir.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { EtcdError } from "@chainfire/api";
import { status } from "@grpc/grpc-js";
import { formatId } from "./ids.js";

/** Exit code of a member that was removed from its cluster (and of a refused restart). */
export const EXIT_CODE_REMOVED = 3;

/** etcd's rafthttp text for a removed member's peer traffic. */
export const MEMBER_REMOVED_MESSAGE =
  "etcdserver: the member has been permanently removed from the cluster";

/** The peer protocol's answer to a member that was removed (FAILED_PRECONDITION). */
export function memberRemovedError(): EtcdError {
  return new EtcdError(status.FAILED_PRECONDITION, MEMBER_REMOVED_MESSAGE);
}

/** Whether a peer call failed because the peer says this member was removed. */
export function isMemberRemovedError(err: unknown): boolean {
  const e = err as { code?: unknown; details?: unknown; message?: unknown } | null;
  if (e === null || typeof e !== "object" || e.code !== status.FAILED_PRECONDITION) return false;
  const text = typeof e.details === "string" ? e.details : String(e.message ?? "");
  return text.includes(MEMBER_REMOVED_MESSAGE);
}

/** What the marker file records. */
export interface RemovalRecord {
  memberId: string;
  clusterId: string;
  /** ISO time of the removal as this member learned it. */
  at: string;
  /** "applied its own removal" or "peer <id> says it was removed". */
  how: string;
}

/** `<data-dir>/member/removed`. */
export function removalMarkerPath(dataDir: string): string {
  return path.join(dataDir, "member", "removed");
}

/** Writes the marker (atomically: a temp file renamed into place). */
export function writeRemovalMarker(dataDir: string, record: RemovalRecord): void {
  const file = removalMarkerPath(dataDir);
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(record)}\n`, { flush: true });
  renameSync(tmp, file);
}

/** The marker of `dataDir`, if the member was removed. */
export function readRemovalMarker(dataDir: string): RemovalRecord | undefined {
  try {
    return JSON.parse(readFileSync(removalMarkerPath(dataDir), "utf8")) as RemovalRecord;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    // Unreadable or torn: still a removed member's data dir.
    return { memberId: "?", clusterId: "?", at: "?", how: "unreadable marker" };
  }
}

/** Starting a member whose data dir says it was removed from its cluster. */
export class MemberRemovedError extends Error {
  override readonly name = "MemberRemovedError";
  constructor(memberId: bigint, clusterId: bigint, dataDir: string) {
    super(
      `member ${formatId(memberId)} was removed from cluster ${formatId(clusterId)}; refusing ` +
        `to start on its data dir ${dataDir} (to rejoin: "member add" it again and start it ` +
        "on an empty --data-dir)",
    );
  }
}
