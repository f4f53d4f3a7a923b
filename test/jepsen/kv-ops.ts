/**
 * The operations of the KV workloads, sent over the harness's gRPC client and recorded
 * with their outcome: a read that fails is `fail` (it changed nothing); a write that fails
 * is `unknown` unless the error proves the request never took effect (the connection was
 * never established, or the server rejected it as invalid before proposing it).
 */
import { etcdserverpb } from "@chainfire/api";
import { Metadata, status as Status } from "@grpc/grpc-js";
import { bytes, type EtcdGrpcClient, isServiceError, op } from "../harness/index.js";
import type { Op } from "./history.js";
import type { Recorder } from "./recorder.js";

/** Codes with which etcd refuses a request before it reaches raft. */
const DEFINITE_CODES = new Set<number>([
  Status.INVALID_ARGUMENT,
  Status.FAILED_PRECONDITION,
  Status.OUT_OF_RANGE,
  Status.NOT_FOUND,
  Status.PERMISSION_DENIED,
  Status.UNAUTHENTICATED,
  Status.UNIMPLEMENTED,
]);

/** Whether a failed write certainly did not take effect. */
export function definitelyFailed(error: unknown): boolean {
  if (!isServiceError(error)) return false;
  if (DEFINITE_CODES.has(error.code)) return true;
  // grpc-js fails a call that never got a connection without sending it.
  return (
    error.code === Status.UNAVAILABLE &&
    /No connection established|ECONNREFUSED|ENOENT/.test(error.details)
  );
}

/** Short text of an error for the history. */
export function errorText(error: unknown): string {
  if (isServiceError(error)) return `${Status[error.code] ?? error.code}: ${error.details}`;
  return error instanceof Error ? error.message : String(error);
}

/** One recorded call site: a client number, the member it talks to, and its connection. */
export interface Session {
  client: number;
  member: number;
  conn: EtcdGrpcClient;
  recorder: Recorder;
  timeoutMs: number;
  /** Serializable reads (served locally, may be stale): to prove the checker catches them. */
  serializable?: boolean;
}

/** Range of one key: linearizable unless the session asks for serializable reads. */
export async function get(s: Session, key: string): Promise<Op> {
  const o = s.recorder.invoke({ client: s.client, member: s.member, f: "get", key });
  try {
    const res = await s.conn.range({ key: bytes(key), serializable: s.serializable }, s.timeoutMs);
    const kv = res.kvs[0];
    s.recorder.ok(o, {
      rev: Number(res.header?.revision ?? 0n),
      read: kv ? kv.value.toString("utf8") : null,
      readModRev: kv ? Number(kv.modRevision) : 0,
    });
  } catch (error) {
    s.recorder.fail(o, errorText(error));
  }
  return o;
}

/** Put; the response header's revision is the write's revision. */
export async function put(s: Session, key: string, value: string): Promise<Op> {
  const o = s.recorder.invoke({ client: s.client, member: s.member, f: "put", key, value });
  try {
    const res = await s.conn.put({ key: bytes(key), value: bytes(value) }, s.timeoutMs);
    s.recorder.ok(o, { rev: Number(res.header?.revision ?? 0n) });
  } catch (error) {
    writeFailed(s, o, error);
  }
  return o;
}

/** `Txn(MOD(key) == expect) Then Put(key, value) Else Range(key)`. */
export async function cas(s: Session, key: string, expect: number, value: string): Promise<Op> {
  const o = s.recorder.invoke({ client: s.client, member: s.member, f: "cas", key, value, expect });
  const request = etcdserverpb.TxnRequest.fromPartial({
    compare: [
      {
        result: etcdserverpb.Compare_CompareResult.EQUAL,
        target: etcdserverpb.Compare_CompareTarget.MOD,
        key: bytes(key),
        targetUnion: { $case: "modRevision", value: BigInt(expect) },
      },
    ],
    success: [op.put(key, value)],
    failure: [op.get(key)],
  });
  try {
    const res = await s.conn.txn(request, s.timeoutMs);
    const rev = Number(res.header?.revision ?? 0n);
    if (res.succeeded) {
      s.recorder.ok(o, { rev, succeeded: true });
    } else {
      const range = res.responses[0]?.response;
      const kv = range?.$case === "responseRange" ? range.value.kvs[0] : undefined;
      s.recorder.ok(o, {
        rev,
        succeeded: false,
        read: kv ? kv.value.toString("utf8") : null,
        readModRev: kv ? Number(kv.modRevision) : 0,
      });
    }
  } catch (error) {
    writeFailed(s, o, error);
  }
  return o;
}

/** DeleteRange of one key. */
export async function del(s: Session, key: string): Promise<Op> {
  const o = s.recorder.invoke({ client: s.client, member: s.member, f: "del", key });
  try {
    const res = await s.conn.deleteRange({ key: bytes(key) }, s.timeoutMs);
    s.recorder.ok(o, { rev: Number(res.header?.revision ?? 0n), deleted: Number(res.deleted) });
  } catch (error) {
    writeFailed(s, o, error);
  }
  return o;
}

function writeFailed(s: Session, o: Op, error: unknown): void {
  if (definitelyFailed(error)) s.recorder.fail(o, errorText(error));
  else s.recorder.unknown(o, errorText(error));
}

/** Maintenance.HashKV at `revision`, with a deadline. */
export function hashKV(
  conn: EtcdGrpcClient,
  revision: number,
  timeoutMs: number,
): Promise<etcdserverpb.HashKVResponse> {
  const request = etcdserverpb.HashKVRequest.fromPartial({ revision: BigInt(revision) });
  return new Promise((resolve, reject) => {
    conn.maintenance.hashKv(
      request,
      new Metadata(),
      { deadline: Date.now() + timeoutMs },
      (error, response) => {
        if (error) reject(error);
        else resolve(response);
      },
    );
  });
}
