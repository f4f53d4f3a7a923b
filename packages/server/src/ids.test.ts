import { describe, expect, it } from "vitest";
import { computeClusterId, computeMemberId, formatId } from "./ids.js";

/*
 * Test vectors obtained by running real etcd 3.4.23 (Debian etcd-server) once on loopback:
 *
 *   etcd --name nI --initial-advertise-peer-urls http://127.0.0.1:2I380 \
 *     --initial-cluster n1=http://127.0.0.1:21380,n2=http://127.0.0.1:22380,n3=http://127.0.0.1:23380 \
 *     --initial-cluster-token vec-token --initial-cluster-state new ...   (I = 1, 2, 3)
 *   etcdctl member list -w json
 *
 * and a single member with two peer URLs given out of order and the default token:
 *
 *   etcd --name solo --initial-advertise-peer-urls http://127.0.0.1:24381,http://127.0.0.1:24380 \
 *     --initial-cluster solo=http://127.0.0.1:24381,solo=http://127.0.0.1:24380
 */
describe("ids", () => {
  it("computes etcd's member and cluster ids for a three-member cluster", () => {
    const n1 = computeMemberId(["http://127.0.0.1:21380"], "vec-token");
    const n2 = computeMemberId(["http://127.0.0.1:22380"], "vec-token");
    const n3 = computeMemberId(["http://127.0.0.1:23380"], "vec-token");
    expect(n1).toBe(13751960916438354056n);
    expect(n2).toBe(17516049510934609448n);
    expect(n3).toBe(2626657246343562885n);
    expect(formatId(n1)).toBe("bed8c797ad5d0888");
    expect(computeClusterId([n1, n2, n3])).toBe(14165896464298331939n);
    expect(computeClusterId([n3, n1, n2])).toBe(14165896464298331939n);
  });

  it("sorts a member's peer URLs and uses the default token", () => {
    const id = computeMemberId(
      ["http://127.0.0.1:24381", "http://127.0.0.1:24380"],
      "etcd-cluster",
    );
    expect(id).toBe(12830721384808205469n);
    expect(computeClusterId([id])).toBe(2775251724426940987n);
  });
});
