/**
 * Structurally valid but hostile requests, built from the generated message types: huge
 * keys and values, txns with too many ops or nested past the decoder's depth, enormous
 * ranges, negative and huge revisions / limits / TTLs / ids. They may change state (a
 * huge but legal put succeeds); every answer must still be a valid response or a proper
 * gRPC status, and the member must stay healthy.
 */
import { etcdserverpb } from "@chainfire/api";
import type { RawRequest } from "./frames.js";
import type { Rng } from "./random.js";
import { grpcFrame } from "./raw-grpc.js";

const {
  CompactionRequest,
  DeleteRangeRequest,
  HashKVRequest,
  LeaseGrantRequest,
  LeaseRevokeRequest,
  LeaseTimeToLiveRequest,
  MemberAddRequest,
  MemberPromoteRequest,
  MemberRemoveRequest,
  MemberUpdateRequest,
  MoveLeaderRequest,
  PutRequest,
  RangeRequest,
  TxnRequest,
  AlarmRequest,
} = etcdserverpb;

/** A hostile request and where it goes. */
export interface HostileRequest extends RawRequest {
  path: string;
}

const KV = "/etcdserverpb.KV/";
const LEASE = "/etcdserverpb.Lease/";
const CLUSTER = "/etcdserverpb.Cluster/";
const MAINT = "/etcdserverpb.Maintenance/";

function raw(path: string, kind: string, bytes: Uint8Array): HostileRequest {
  const message = Buffer.from(bytes);
  return { path, kind, chunks: [grpcFrame(message)], message };
}

/** A key from a small space (so hostile writes and reads meet), sometimes huge. */
function key(rng: Rng): Buffer {
  if (rng.int(20) === 0) return Buffer.alloc(1_400_000 + rng.int(400_000), 0x6b);
  return Buffer.from(`fz/${rng.int(50)}`);
}

function value(rng: Rng): Buffer {
  switch (rng.int(6)) {
    case 0:
      return Buffer.alloc(1_500_000 + rng.int(600_000), 0x76);
    case 1:
      return Buffer.alloc(0);
    default:
      return rng.bytes(rng.int(2000));
  }
}

function rangeEnd(rng: Rng): Buffer | undefined {
  return rng.pick([
    undefined,
    Buffer.from([0]),
    Buffer.from("fz0"),
    Buffer.from("fz/"),
    Buffer.alloc(0),
  ]);
}

function requestOp(rng: Rng, depth: number): etcdserverpb.RequestOp {
  const which = depth > 0 ? rng.int(4) : rng.int(3);
  if (which === 0) {
    return {
      request: {
        $case: "requestPut",
        value: PutRequest.fromPartial({ key: key(rng), value: rng.bytes(8) }),
      },
    };
  }
  if (which === 1) {
    return {
      request: {
        $case: "requestRange",
        value: RangeRequest.fromPartial({
          key: key(rng),
          rangeEnd: rangeEnd(rng),
          limit: rng.edgeInt64(),
        }),
      },
    };
  }
  if (which === 2) {
    return {
      request: {
        $case: "requestDeleteRange",
        value: DeleteRangeRequest.fromPartial({ key: key(rng), rangeEnd: rangeEnd(rng) }),
      },
    };
  }
  return { request: { $case: "requestTxn", value: txn(rng, depth - 1, 1 + rng.int(3)) } };
}

function txn(rng: Rng, depth: number, ops: number): etcdserverpb.TxnRequest {
  return {
    compare: Array.from({ length: rng.int(3) }, () => ({
      key: key(rng),
      rangeEnd: rangeEnd(rng) ?? Buffer.alloc(0),
      target: rng.int(7) - 1,
      result: rng.int(6) - 1,
      targetUnion: { $case: "modRevision" as const, value: rng.edgeInt64() },
    })),
    success: Array.from({ length: ops }, () => requestOp(rng, depth)),
    failure: Array.from({ length: rng.int(3) }, () => requestOp(rng, depth)),
  };
}

/** A txn nested `depth` levels deep (one op per level). */
export function deepTxn(depth: number): etcdserverpb.TxnRequest {
  let t: etcdserverpb.TxnRequest = TxnRequest.fromPartial({
    success: [
      {
        request: {
          $case: "requestPut",
          value: PutRequest.fromPartial({ key: Buffer.from("fz/deep"), value: Buffer.from("v") }),
        },
      },
    ],
  });
  for (let i = 0; i < depth; i++)
    t = { compare: [], failure: [], success: [{ request: { $case: "requestTxn", value: t } }] };
  return t;
}

/** One hostile request (see the module comment). */
export function hostileRequest(rng: Rng): HostileRequest {
  const n = rng.edgeInt64;
  const e = () => n.call(rng);
  // uint64 fields (member ids) take the same edges as two's complement.
  const u = () => BigInt.asUintN(64, e());
  switch (rng.int(16)) {
    case 0:
      return raw(
        `${KV}Put`,
        "put huge/odd",
        PutRequest.encode(
          PutRequest.fromPartial({
            key: key(rng),
            value: value(rng),
            lease: rng.int(4) === 0 ? e() : 0n,
            prevKv: rng.int(2) === 0,
            ignoreValue: rng.int(8) === 0,
            ignoreLease: rng.int(8) === 0,
          }),
        ).finish(),
      );
    case 1:
      return raw(
        `${KV}Range`,
        "range edges",
        RangeRequest.encode(
          RangeRequest.fromPartial({
            key: rng.int(3) === 0 ? Buffer.from([0]) : key(rng),
            rangeEnd: rangeEnd(rng),
            limit: e(),
            revision: e(),
            sortOrder: rng.int(5) - 1,
            sortTarget: rng.int(7) - 1,
            minModRevision: e(),
            maxModRevision: e(),
            minCreateRevision: e(),
            maxCreateRevision: e(),
            keysOnly: rng.int(2) === 0,
            countOnly: rng.int(4) === 0,
            serializable: rng.int(2) === 0,
          }),
        ).finish(),
      );
    case 2:
      return raw(
        `${KV}Range`,
        "range everything",
        RangeRequest.encode(
          RangeRequest.fromPartial({
            key: Buffer.from([0]),
            rangeEnd: Buffer.from([0]),
            sortOrder: rng.int(3),
            sortTarget: rng.int(5),
          }),
        ).finish(),
      );
    case 3:
      return raw(
        `${KV}DeleteRange`,
        "delete edges",
        DeleteRangeRequest.encode(
          DeleteRangeRequest.fromPartial({
            key: key(rng),
            rangeEnd: rangeEnd(rng),
            prevKv: rng.int(2) === 0,
          }),
        ).finish(),
      );
    case 4:
      return raw(
        `${KV}Txn`,
        "txn random",
        TxnRequest.encode(txn(rng, 1 + rng.int(3), 1 + rng.int(6))).finish(),
      );
    case 5:
      return raw(
        `${KV}Txn`,
        "txn too many ops",
        TxnRequest.encode(txn(rng, 0, 129 + rng.int(200))).finish(),
      );
    case 6:
      return raw(
        `${KV}Txn`,
        "txn nested deep",
        TxnRequest.encode(deepTxn(30 + rng.int(60))).finish(),
      );
    case 7:
      return raw(
        `${KV}Compact`,
        "compact edges",
        CompactionRequest.encode({ revision: e(), physical: rng.int(2) === 0 }).finish(),
      );
    case 8:
      return raw(
        `${LEASE}LeaseGrant`,
        "lease grant edges",
        LeaseGrantRequest.encode({ TTL: e(), ID: rng.int(2) === 0 ? 0n : e() }).finish(),
      );
    case 9:
      return raw(
        `${LEASE}LeaseRevoke`,
        "lease revoke edges",
        LeaseRevokeRequest.encode({ ID: e() }).finish(),
      );
    case 10:
      return raw(
        `${LEASE}LeaseTimeToLive`,
        "lease ttl edges",
        LeaseTimeToLiveRequest.encode({ ID: e(), keys: rng.int(2) === 0 }).finish(),
      );
    case 11:
      return raw(
        `${MAINT}HashKV`,
        "hashkv edges",
        HashKVRequest.encode({ revision: e() }).finish(),
      );
    case 12:
      return raw(
        `${MAINT}MoveLeader`,
        "move leader edges",
        MoveLeaderRequest.encode({ targetID: u() }).finish(),
      );
    case 13:
      return raw(
        `${MAINT}Alarm`,
        "alarm get/deactivate",
        AlarmRequest.encode({
          action: rng.pick([0, 2, 7, -1]) as etcdserverpb.AlarmRequest_AlarmAction,
          memberID: u(),
          alarm: rng.int(4) - 1,
        }).finish(),
      );
    case 14: {
      const urls = [
        rng.pick([
          "\u00ff\u00fe://x",
          "http://",
          "",
          "http://[::1",
          "unix:///tmp/x",
          "http://a b:1",
        ]),
      ];
      return rng.int(2) === 0
        ? raw(
            `${CLUSTER}MemberAdd`,
            "member add bad urls",
            MemberAddRequest.encode({ peerURLs: urls, isLearner: true }).finish(),
          )
        : raw(
            `${CLUSTER}MemberUpdate`,
            "member update",
            MemberUpdateRequest.encode({ ID: u(), peerURLs: urls }).finish(),
          );
    }
    default:
      return rng.int(2) === 0
        ? raw(
            `${CLUSTER}MemberRemove`,
            "member remove edges",
            MemberRemoveRequest.encode({ ID: u() }).finish(),
          )
        : raw(
            `${CLUSTER}MemberPromote`,
            "member promote edges",
            MemberPromoteRequest.encode({ ID: u() }).finish(),
          );
  }
}
