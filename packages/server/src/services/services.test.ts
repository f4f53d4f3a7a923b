import { createHash } from "node:crypto";
import { etcdserverpb } from "@chainfire/api";
import {
  type Client,
  credentials,
  makeGenericClientConstructor,
  Server,
  ServerCredentials,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import { service as healthServiceDefinition } from "grpc-health-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type StubContext, stubContext } from "../__tests__/stub-context.js";
import { clientServerOptions, registerClientServices } from "./index.js";

let server: Server;
let ctx: StubContext;
let address: string;
const clients: Client[] = [];
let disposeServices: () => void;

beforeEach(async () => {
  ctx = stubContext();
  ctx.markReady();
  server = new Server(clientServerOptions(ctx.options));
  disposeServices = registerClientServices(server, ctx).dispose;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  address = `127.0.0.1:${port}`;
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  disposeServices();
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
});

function client<T extends Client>(
  Ctor: new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => T,
): T {
  const c = new Ctor(address, credentials.createInsecure());
  clients.push(c);
  return c;
}

/** Promisifies a unary call of a generated client. */
function call<Req, Res>(
  fn: (req: Req, cb: (err: ServiceError | null, res: Res) => void) => unknown,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) =>
    fn(req, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

describe("Maintenance", () => {
  it("Status reports version 3.5.13 and the member's raft and db state", async () => {
    const m = client(etcdserverpb.MaintenanceClient);
    const r = await call(m.status.bind(m), etcdserverpb.StatusRequest.fromPartial({}));
    expect(r).toEqual(
      etcdserverpb.StatusResponse.fromPartial({
        header: { clusterId: 0xc1n, memberId: 0x1n, revision: 7n, raftTerm: 3n },
        version: "3.5.13",
        dbSize: 4096n,
        dbSizeInUse: 2048n,
        leader: 0x1n,
        raftIndex: 12n,
        raftTerm: 3n,
        raftAppliedIndex: 11n,
        isLearner: false,
        errors: [],
      }),
    );
  });

  it("Alarm GET lists alarms by type; ACTIVATE goes through raft", async () => {
    const nospace = etcdserverpb.AlarmMember.fromPartial({
      memberID: 1n,
      alarm: etcdserverpb.AlarmType.NOSPACE,
    });
    ctx.state.alarms = [nospace];
    const m = client(etcdserverpb.MaintenanceClient);
    const all = await call(m.alarm.bind(m), etcdserverpb.AlarmRequest.fromPartial({}));
    expect(all.alarms).toEqual([nospace]);
    const corrupt = await call(
      m.alarm.bind(m),
      etcdserverpb.AlarmRequest.fromPartial({ alarm: etcdserverpb.AlarmType.CORRUPT }),
    );
    expect(corrupt.alarms).toEqual([]);
    await call(
      m.alarm.bind(m),
      etcdserverpb.AlarmRequest.fromPartial({
        action: etcdserverpb.AlarmRequest_AlarmAction.DEACTIVATE,
        memberID: 1n,
        alarm: etcdserverpb.AlarmType.NOSPACE,
      }),
    );
    expect(ctx.state.calls.map((c) => c.method)).toEqual(["propose"]);
  });

  it("HashKV and MoveLeader use the context", async () => {
    const m = client(etcdserverpb.MaintenanceClient);
    const h = await call(
      m.hashKv.bind(m),
      etcdserverpb.HashKVRequest.fromPartial({ revision: 5n }),
    );
    expect(h).toMatchObject({ hash: 0xdeadbeef, compactRevision: -1n });
    await call(
      m.moveLeader.bind(m),
      etcdserverpb.MoveLeaderRequest.fromPartial({ targetID: 0x2n }),
    );
    expect(ctx.state.calls).toContainEqual({ method: "moveLeader", args: [0x2n] });
  });

  it("Snapshot streams what etcdctl expects: length = 32 mod 512, SHA-256 trailer", async () => {
    ctx.state.snapshotChunks = [Buffer.alloc(70_000, 1), Buffer.alloc(3, 2)];
    const m = client(etcdserverpb.MaintenanceClient);
    const parts: etcdserverpb.SnapshotResponse[] = [];
    await new Promise<void>((resolve, reject) => {
      const s = m.snapshot(etcdserverpb.SnapshotRequest.fromPartial({}));
      s.on("data", (r: etcdserverpb.SnapshotResponse) => parts.push(r));
      s.on("error", reject);
      s.on("end", resolve);
    });
    const all = Buffer.concat(parts.map((p) => p.blob));
    expect(all.length % 512).toBe(32);
    const body = all.subarray(0, all.length - 32);
    expect(all.subarray(all.length - 32)).toEqual(createHash("sha256").update(body).digest());
    expect(body.subarray(0, 70_003)).toEqual(Buffer.concat(ctx.state.snapshotChunks));
    expect(parts.every((p) => p.blob.length <= 32 * 1024)).toBe(true);
    expect(parts[0]!.header?.clusterId).toBe(0xc1n);
    expect(parts.at(-1)!.remainingBytes).toBe(0n);
    expect(parts.slice(0, -1).every((p) => p.remainingBytes > 0n)).toBe(true);
    expect(ctx.snapshotClosed).toBe(true);
  });

  it("Defragment and Hash call the member; Downgrade answers UNIMPLEMENTED", async () => {
    const m = client(etcdserverpb.MaintenanceClient);
    const d = await call(m.defragment.bind(m), {});
    expect(d.header?.memberId).toBe(ctx.id);
    ctx.state.revision = 42n;
    const h = await call(m.hash.bind(m), {});
    expect(h).toMatchObject({ hash: 0x1234, header: { revision: 42n } });
    expect(ctx.state.calls.map((c) => c.method)).toEqual(
      expect.arrayContaining(["defragment", "hash"]),
    );
    await expect(
      call(m.downgrade.bind(m), etcdserverpb.DowngradeRequest.fromPartial({})),
    ).rejects.toMatchObject({ code: status.UNIMPLEMENTED });
  });
});

describe("Cluster", () => {
  it("MemberList answers the applied membership; linearizable waits for a read barrier", async () => {
    const c = client(etcdserverpb.ClusterClient);
    const r = await call(c.memberList.bind(c), etcdserverpb.MemberListRequest.fromPartial({}));
    expect(r.members).toEqual([
      etcdserverpb.Member.fromPartial({
        ID: 1n,
        name: "n1",
        peerURLs: ["http://127.0.0.1:2380"],
        clientURLs: ["http://127.0.0.1:2379"],
      }),
    ]);
    expect(ctx.state.calls).toEqual([]);
    await call(
      c.memberList.bind(c),
      etcdserverpb.MemberListRequest.fromPartial({ linearizable: true }),
    );
    expect(ctx.state.calls.map((x) => x.method)).toEqual(["readBarrier"]);
  });

  it("MemberAdd checks peer URLs, then asks the member", async () => {
    const c = client(etcdserverpb.ClusterClient);
    await expect(
      call(
        c.memberAdd.bind(c),
        etcdserverpb.MemberAddRequest.fromPartial({ peerURLs: ["not a url"] }),
      ),
    ).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: "etcdserver: given member URLs are invalid",
    });
    const r = await call(
      c.memberAdd.bind(c),
      etcdserverpb.MemberAddRequest.fromPartial({
        peerURLs: ["http://127.0.0.1:22380"],
        isLearner: true,
      }),
    );
    expect(r.member).toMatchObject({
      ID: 2n,
      peerURLs: ["http://127.0.0.1:22380"],
      isLearner: true,
    });
    expect(r.members).toHaveLength(2);
    await call(c.memberRemove.bind(c), etcdserverpb.MemberRemoveRequest.fromPartial({ ID: 2n }));
    await call(c.memberPromote.bind(c), etcdserverpb.MemberPromoteRequest.fromPartial({ ID: 2n }));
    expect(ctx.state.calls.map((x) => x.method)).toEqual([
      "addMember",
      "removeMember",
      "promoteMember",
    ]);
  });
});

describe("placeholders, learners, errors and metrics", () => {
  // (Watch and Lease are implemented: services/watch.test.ts, services/lease.test.ts.)
  it("a stream failing with UNIMPLEMENTED is counted with its code; Auth is served", async () => {
    const l = client(etcdserverpb.LeaseClient);
    const err = await new Promise<ServiceError>((resolve) => {
      const s = l.leaseKeepAlive();
      s.on("error", resolve);
      s.write(etcdserverpb.LeaseKeepAliveRequest.fromPartial({ ID: 1n }));
    });
    expect(err).toMatchObject({
      code: status.UNIMPLEMENTED,
      details: "chainfire: stub Lessor is not implemented yet",
    });
    const text = await ctx.metrics.text();
    expect(text).toMatch(
      /grpc_type="bidi_stream",grpc_service="etcdserverpb.Lease",grpc_method="LeaseKeepAlive",grpc_code="Unimplemented"\} 1$/m,
    );
    const a = client(etcdserverpb.AuthClient);
    // Auth is implemented (services/auth.ts): with auth off, AuthStatus answers at once.
    expect(await call(a.authStatus.bind(a), {})).toMatchObject({
      enabled: false,
      authRevision: 1n,
    });
  });

  it("a learner serves Status only (of these services)", async () => {
    ctx.state.learner = true;
    const m = client(etcdserverpb.MaintenanceClient);
    expect((await call(m.status.bind(m), {})).isLearner).toBe(true);
    const c = client(etcdserverpb.ClusterClient);
    await expect(
      call(c.memberList.bind(c), etcdserverpb.MemberListRequest.fromPartial({})),
    ).rejects.toMatchObject({
      code: status.UNAVAILABLE,
      details: "etcdserver: rpc not supported for learner",
    });
  });

  it("a context bug answers INTERNAL and the member keeps serving", async () => {
    ctx.state.readBarrier = () => Promise.reject(new TypeError("oops"));
    const c = client(etcdserverpb.ClusterClient);
    await expect(
      call(
        c.memberList.bind(c),
        etcdserverpb.MemberListRequest.fromPartial({ linearizable: true }),
      ),
    ).rejects.toMatchObject({ code: status.INTERNAL, details: "chainfire: internal error: oops" });
    const m = client(etcdserverpb.MaintenanceClient);
    expect((await call(m.status.bind(m), {})).version).toBe("3.5.13");
  });

  it("counts started and handled RPCs with go-grpc-prometheus labels", async () => {
    const m = client(etcdserverpb.MaintenanceClient);
    await call(m.status.bind(m), {});
    await call(m.downgrade.bind(m), etcdserverpb.DowngradeRequest.fromPartial({})).catch(() => {});
    const text = await ctx.metrics.text();
    expect(text).toMatch(
      /^grpc_server_started_total\{grpc_type="unary",grpc_service="etcdserverpb.Maintenance",grpc_method="Status"\} 1$/m,
    );
    expect(text).toMatch(
      /^grpc_server_handled_total\{grpc_type="unary",grpc_service="etcdserverpb.Maintenance",grpc_method="Status",grpc_code="OK"\} 1$/m,
    );
    expect(text).toMatch(/grpc_method="Downgrade",grpc_code="Unimplemented"\} 1$/m);
  });

  it("grpc.health.v1 says SERVING with a leader and NOT_SERVING without", async () => {
    const Health = makeGenericClientConstructor(
      healthServiceDefinition as never,
      "grpc.health.v1.Health",
    );
    const h = client(Health) as unknown as {
      check(
        req: { service: string },
        cb: (err: ServiceError | null, res: { status: string | number }) => void,
      ): void;
    };
    const check = () => call(h.check.bind(h), { service: "" });
    expect((await check()).status).toBe("SERVING");
    ctx.setLeader(0n);
    expect((await check()).status).toBe("NOT_SERVING");
    ctx.setLeader(0x2n);
    expect((await call(h.check.bind(h), { service: "etcdserverpb.KV" })).status).toBe("SERVING");
  });
});
