/**
 * Member and cluster ids, computed exactly as etcd computes them for a new cluster, so a
 * Chainfire cluster started with the same --initial-cluster and --initial-cluster-token
 * as an etcd cluster has the same ids (etcd server/etcdserver/api/membership: member.go
 * `computeMemberId`, cluster.go `genID`).
 *
 * - member id: SHA-1 over the member's peer URLs sorted and concatenated, followed by the
 *   cluster token; the first 8 bytes, big-endian.
 * - cluster id: SHA-1 over the member ids sorted ascending, each as 8 bytes big-endian;
 *   the first 8 bytes, big-endian.
 */
import { createHash } from "node:crypto";

/** The id of a member with `peerUrls` in a cluster bootstrapped with `token`. */
export function computeMemberId(peerUrls: readonly string[], token: string): bigint {
  const joined = [...peerUrls].sort().join("");
  const hash = createHash("sha1").update(joined, "utf8").update(token, "utf8").digest();
  return hash.readBigUInt64BE(0);
}

/** The id of a cluster whose initial members have `memberIds`. */
export function computeClusterId(memberIds: readonly bigint[]): bigint {
  const ids = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const buf = Buffer.alloc(8 * ids.length);
  ids.forEach((id, i) => {
    buf.writeBigUInt64BE(id, 8 * i);
  });
  return createHash("sha1").update(buf).digest().readBigUInt64BE(0);
}

/** An id as etcd prints it: lowercase hex without leading zeros ("bed8c797ad5d0888"). */
export function formatId(id: bigint): string {
  return id.toString(16);
}
