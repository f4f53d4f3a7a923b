import { describe, expect, it } from "vitest";
import { MemberMetrics } from "./metrics.js";

describe("MemberMetrics", () => {
  it("exposes etcd's metric names with observations", async () => {
    const m = new MemberMetrics({ memberId: 0x8e9e05c52164694dn, version: "3.5.13" });
    m.hasLeader.set(1);
    m.walFsync.observe(0.002);
    m.grpcHandled.inc({
      grpc_type: "unary",
      grpc_service: "etcdserverpb.KV",
      grpc_method: "Put",
      grpc_code: "OK",
    });
    const text = await m.text();
    expect(text).toMatch(/^etcd_server_has_leader 1$/m);
    expect(text).toMatch(/^etcd_disk_wal_fsync_duration_seconds_count 1$/m);
    expect(text).toMatch(/^etcd_server_id\{server_id="8e9e05c52164694d"\} 1$/m);
    expect(text).toMatch(
      /^grpc_server_handled_total\{grpc_type="unary",grpc_service="etcdserverpb.KV",grpc_method="Put",grpc_code="OK"\} 1$/m,
    );
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
  });

  it("keeps two members' registries apart", async () => {
    const a = new MemberMetrics({ defaultMetrics: false });
    const b = new MemberMetrics({ defaultMetrics: false });
    a.leaderChanges.inc();
    expect(await a.text()).toMatch(/^etcd_server_leader_changes_seen_total 1$/m);
    expect(await b.text()).toMatch(/^etcd_server_leader_changes_seen_total 0$/m);
  });
});
