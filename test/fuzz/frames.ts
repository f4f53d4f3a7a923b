/**
 * The gRPC surface as data (every method of KV, Watch, Lease, Cluster, Maintenance, Auth)
 * and malformed requests for it: broken protobuf (truncated varints, wrong wire types,
 * garbage and huge lengths, invalid UTF-8, deep nesting, unterminated groups) and broken
 * gRPC framing (compressed flag, a length header that lies or is enormous, zero-length,
 * missing or doubled messages).
 */
import { gzipSync } from "node:zlib";
import { etcdserverpb, peerpb } from "@chainfire/api";
import { checkDeleteRequest, checkPutRequest, checkTxnRequest } from "@chainfire/storage";
import type { Rng } from "./random.js";
import { grpcFrame } from "./raw-grpc.js";

/** One RPC method as the generated grpc-js definitions describe it. */
export interface Method {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  decodeRequest(b: Buffer): unknown;
  decodeResponse(b: Buffer): unknown;
}

interface Definition {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestDeserialize(b: Buffer): unknown;
  responseDeserialize(b: Buffer): unknown;
}

/** Every method of the six client services. */
export function allMethods(): Method[] {
  return methodsOf([
    etcdserverpb.KVService,
    etcdserverpb.WatchService,
    etcdserverpb.LeaseService,
    etcdserverpb.ClusterService,
    etcdserverpb.MaintenanceService,
    etcdserverpb.AuthService,
  ]);
}

/**
 * Every method of the member-to-member service (the peer port). Any frame that decodes
 * counts as a write (mustChangeNothing): only undecodable ones are sent to it.
 */
export function peerMethods(): Method[] {
  return methodsOf([peerpb.PeerService]);
}

function methodsOf(services: readonly object[]): Method[] {
  return services.flatMap((s) =>
    Object.values(s as Record<string, Definition>).map((d) => ({
      path: d.path,
      requestStream: d.requestStream,
      responseStream: d.responseStream,
      decodeRequest: (b: Buffer) => d.requestDeserialize(b),
      decodeResponse: (b: Buffer) => d.responseDeserialize(b),
    })),
  );
}

/**
 * Methods whose every request leaves the keyspace, its revision and its hash alone (reads,
 * lease keep-alives, Auth which answers UNIMPLEMENTED, Defragment). Any decodable request
 * may go to these in the "changes nothing" batches.
 */
const READ_ONLY = new Set([
  "/etcdserverpb.KV/Range",
  "/etcdserverpb.Watch/Watch",
  "/etcdserverpb.Lease/LeaseKeepAlive",
  "/etcdserverpb.Lease/LeaseTimeToLive",
  "/etcdserverpb.Lease/LeaseLeases",
  "/etcdserverpb.Cluster/MemberList",
  "/etcdserverpb.Maintenance/Status",
  "/etcdserverpb.Maintenance/Hash",
  "/etcdserverpb.Maintenance/HashKV",
  "/etcdserverpb.Maintenance/Snapshot",
  "/etcdserverpb.Maintenance/Defragment",
]);

/** A request as bytes on the wire. */
export interface RawRequest {
  /** What kind of damage, for the summary. */
  kind: string;
  chunks: Buffer[];
  headers?: Record<string, string>;
  /** The message the server would decode as the (first) request, if any. */
  message?: Buffer;
}

/**
 * Whether `req` must change nothing: no message the server could act on, one that fails
 * to decode, a read-only method, or a KV write etcd's checks refuse. Anything else (a
 * random frame that happens to be a valid write) is not sent in "changes nothing" batches.
 */
export function mustChangeNothing(m: Method, req: RawRequest, maxTxnOps: number): boolean {
  if (req.message === undefined || m.path.startsWith("/etcdserverpb.Auth/")) return true;
  let decoded: unknown;
  try {
    decoded = m.decodeRequest(req.message);
  } catch {
    return true;
  }
  if (READ_ONLY.has(m.path)) return true;
  try {
    if (m.path === "/etcdserverpb.KV/Put") checkPutRequest(decoded as etcdserverpb.PutRequest);
    else if (m.path === "/etcdserverpb.KV/DeleteRange") {
      checkDeleteRequest(decoded as etcdserverpb.DeleteRangeRequest);
    } else if (m.path === "/etcdserverpb.KV/Txn") {
      checkTxnRequest(decoded as etcdserverpb.TxnRequest, maxTxnOps);
    } else return false;
  } catch {
    return true;
  }
  return false;
}

function varint(n: bigint | number): Buffer {
  let v = BigInt(n);
  const out: number[] = [];
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}

function tag(field: number, wireType: number): Buffer {
  return varint((field << 3) | wireType);
}

/** `depth` levels of field `field` (length-delimited) nested in each other. */
function nested(field: number, depth: number): Buffer {
  let inner = Buffer.alloc(0);
  for (let i = 0; i < depth; i++)
    inner = Buffer.concat([tag(field, 2), varint(inner.length), inner]);
  return inner;
}

/** Damaged protobuf payloads (see the module comment). */
function badPayload(rng: Rng): { kind: string; payload: Buffer } {
  const field = 1 + rng.int(8);
  switch (rng.int(9)) {
    case 0:
      return { kind: "random bytes", payload: rng.bytes(rng.int(64)) };
    case 1:
      return {
        kind: "truncated varint",
        payload: Buffer.concat([tag(field, 0), Buffer.alloc(1 + rng.int(10), 0xff)]),
      };
    case 2:
      return {
        kind: "wrong wire type",
        payload: Buffer.concat([tag(field, rng.pick([1, 5, 3, 4, 6, 7])), rng.bytes(rng.int(9))]),
      };
    case 3:
      return {
        kind: "garbage length",
        payload: Buffer.concat([
          tag(field, 2),
          varint(rng.pick([2n ** 31n, 2n ** 32n + 5n, 2n ** 63n, 1000n])),
          rng.bytes(rng.int(16)),
        ]),
      };
    case 4:
      return {
        kind: "invalid utf-8",
        payload: Buffer.concat([
          tag(field, 2),
          varint(6),
          Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0]),
        ]),
      };
    case 5:
      return { kind: "deep nesting", payload: nested(field, 100 + rng.int(400)) };
    case 6:
      return {
        kind: "open groups",
        payload: Buffer.concat(Array.from({ length: 50 + rng.int(200) }, () => tag(field, 3))),
      };
    case 7: {
      // A length-prefixed field just under the member's receive limit (2 MiB).
      const n = 1_900_000 + rng.int(50_000);
      return {
        kind: "huge field",
        payload: Buffer.concat([tag(15 + rng.int(4), 2), varint(n), Buffer.alloc(n, 0x61)]),
      };
    }
    default:
      return {
        kind: "negative varints",
        payload: Buffer.concat([tag(field, 0), varint(2n ** 64n - 1n)]),
      };
  }
}

let bomb: Buffer | undefined;
const GZIP_BOMB = () => {
  bomb ??= gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
  return bomb;
};

/** One malformed request for any method (see the module comment). */
export function malformedRequest(rng: Rng): RawRequest {
  const { kind, payload } = badPayload(rng);
  switch (rng.int(11)) {
    case 10:
      // 64 MiB of zeros in a few KiB: must be refused while inflating, not after.
      return {
        kind: "gzip bomb",
        chunks: [grpcFrame(GZIP_BOMB(), { compressed: true })],
        headers: { "grpc-encoding": "gzip" },
      };
    case 0:
      return {
        kind: `${kind}, compressed flag`,
        chunks: [grpcFrame(payload, { compressed: true })],
        message: payload,
      };
    case 1:
      return {
        kind: `${kind}, gzip flag`,
        chunks: [grpcFrame(payload, { compressed: true })],
        headers: { "grpc-encoding": "gzip" },
      };
    case 2:
      return {
        kind: "message header of 4 GiB",
        chunks: [grpcFrame(payload, { length: 0xffffffff })],
      };
    case 3:
      return {
        kind: "message header longer than the message",
        chunks: [grpcFrame(payload, { length: payload.length + 1 + rng.int(1000) })],
      };
    case 4: {
      const cut = rng.int(payload.length + 1);
      const first = payload.subarray(0, cut);
      return {
        kind: "message header shorter than the message",
        chunks: [grpcFrame(payload, { length: cut })],
        message: first,
      };
    }
    case 5:
      return {
        kind: "zero-length message",
        chunks: [grpcFrame(Buffer.alloc(0))],
        message: Buffer.alloc(0),
      };
    case 6:
      return { kind: "no message", chunks: [] };
    case 7:
      return {
        kind: `${kind}, twice`,
        chunks: [grpcFrame(payload), grpcFrame(payload)],
        message: payload,
      };
    case 8: {
      // The frame's 5-byte header alone, split from its body.
      const f = grpcFrame(payload);
      return {
        kind: `${kind}, split`,
        chunks: [f.subarray(0, 3), f.subarray(3)],
        message: payload,
      };
    }
    default:
      return { kind, chunks: [grpcFrame(payload)], message: payload };
  }
}
