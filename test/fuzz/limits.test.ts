/**
 * Every resource limit of a member, reached on purpose against a real process: the exact
 * gRPC status and message a client sees (etcd's, where etcd has the limit), nothing
 * changed by a refused request, and the member still serving afterwards. The limits are
 * set small with their flags (docs/operations.md "Limits and hostile input").
 */
import { etcdserverpb } from "@chainfire/api";
import { type ServiceError, status } from "@grpc/grpc-js";
import { beforeAll, describe, expect, it } from "vitest";
import { bytes, EtcdGrpcClient, isServiceError, op } from "../harness/index.js";
import { useCluster } from "../harness/vitest.js";
import { deepTxn } from "./hostile.js";
import { grpcFrame, RawGrpcConnection } from "./raw-grpc.js";

const MAX_TXN_OPS = 8;
const MAX_STREAMS = 4;
const MAX_RESPONSE_BYTES = 256 * 1024;
const MAX_PENDING = 16;
const MAX_PENDING_BYTES = 1024 * 1024;
const TOO_MANY_REQUESTS = "etcdserver: too many requests";
const RESPONSE_TOO_LARGE =
  "chainfire: range response is too large (see --max-response-bytes); use limit to paginate";

/** Protobuf base-128 varint. */
function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/** The gRPC error `call` fails with (fails the test if it succeeds). */
async function failure(call: Promise<unknown>): Promise<{ code: string; message: string }> {
  const e = await call.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!isServiceError(e)) throw new Error(`expected a gRPC error, got ${String(e)}`);
  return { code: status[(e as ServiceError).code], message: (e as ServiceError).details };
}

describe("limits of a member", () => {
  const cluster = useCluster({
    kind: "chainfire",
    size: 1,
    extraArgs: [
      `--max-txn-ops=${MAX_TXN_OPS}`,
      `--max-concurrent-streams=${MAX_STREAMS}`,
      `--max-response-bytes=${MAX_RESPONSE_BYTES}`,
      `--max-pending-proposals=${MAX_PENDING}`,
      `--max-pending-proposal-bytes=${MAX_PENDING_BYTES}`,
    ],
  });
  let client: EtcdGrpcClient;
  const revision = async () => (await client.range({ key: bytes("any") })).header!.revision;

  beforeAll(async () => {
    client = cluster().client(0);
    for (let i = 0; i < 10; i++) {
      await client.put({ key: bytes(`big/${i}`), value: Buffer.alloc(40 * 1024, 0x62) });
    }
  });

  it("request size: --max-request-bytes answers etcd's error; past the gRPC limit, RESOURCE_EXHAUSTED", async () => {
    const before = await revision();
    const value = Buffer.alloc(1_600_000, 0x76);
    expect(await failure(client.put({ key: bytes("k"), value }))).toEqual({
      code: "INVALID_ARGUMENT",
      message: "etcdserver: request is too large",
    });
    const huge = Buffer.alloc(2_200_000, 0x76);
    expect((await failure(client.put({ key: bytes("k"), value: huge }))).code).toBe(
      "RESOURCE_EXHAUSTED",
    );
    expect(await revision()).toBe(before);
  });

  it("txn ops: --max-txn-ops", async () => {
    const before = await revision();
    const puts = (n: number) => Array.from({ length: n }, (_, i) => op.put(`t/${i}`, "v"));
    const txn = (n: number) => etcdserverpb.TxnRequest.fromPartial({ success: puts(n) });
    expect(await failure(client.txn(txn(MAX_TXN_OPS + 1)))).toEqual({
      code: "INVALID_ARGUMENT",
      message: "etcdserver: too many operations in txn request",
    });
    expect(await revision()).toBe(before);
    expect((await client.txn(txn(MAX_TXN_OPS))).succeeded).toBe(true);
  });

  it("nested txns: past 48 levels they fail to decode (INTERNAL) and change nothing", async () => {
    // (Under --max-txn-ops=8 a nested txn gets fewer ops per level: 7 levels fit.)
    expect((await client.txn(deepTxn(6))).succeeded).toBe(true);
    const before = await revision();
    expect(await failure(client.txn(deepTxn(49)))).toEqual({
      code: "INTERNAL",
      message: "Error deserializing request",
    });
    // 5000 levels: encoded by hand (an encoder recursing that deep overflows its stack).
    let txn = Buffer.from(etcdserverpb.TxnRequest.encode(deepTxn(0)).finish());
    const wrap = (tag: number, inner: Buffer) =>
      Buffer.concat([Buffer.from([tag]), varint(inner.length), inner]);
    for (let i = 0; i < 5000; i++) txn = wrap(0x12, wrap(0x22, txn)); // success[0].request_txn
    const conn = RawGrpcConnection.open(cluster().endpoints[0]!.replace(/^https?:\/\//, ""));
    try {
      const o = await conn.call("/etcdserverpb.KV/Txn", [grpcFrame(txn)], { timeoutMs: 30_000 });
      expect(o.kind === "status" && { code: status[o.code], message: o.message }).toEqual({
        code: "INTERNAL",
        message: "Error deserializing request",
      });
    } finally {
      conn.close();
    }
    expect(await revision()).toBe(before);
  });

  it("response size: --max-response-bytes bounds ranges and read-only txns; limit pages through", async () => {
    const all = { key: bytes("big/"), rangeEnd: bytes("big0") };
    const tooLarge = { code: "RESOURCE_EXHAUSTED", message: RESPONSE_TOO_LARGE };
    expect(await failure(client.range(all))).toEqual(tooLarge);
    expect(await failure(client.range({ ...all, serializable: true }))).toEqual(tooLarge);
    expect(await failure(client.range({ ...all, sortOrder: 2, sortTarget: 3 }))).toEqual(tooLarge);
    const both = etcdserverpb.TxnRequest.fromPartial({
      success: [
        { request: { $case: "requestRange", value: { ...all, limit: 4n } } },
        { request: { $case: "requestRange", value: { ...all, limit: 4n } } },
      ],
    });
    expect(await failure(client.txn(both))).toEqual(tooLarge);
    const page = await client.range({ ...all, limit: 4n });
    expect({ n: page.kvs.length, more: page.more, count: page.count }).toEqual({
      n: 4,
      more: true,
      count: 10n,
    });
    expect((await client.range({ ...all, countOnly: true })).count).toBe(10n);
    expect((await client.range({ ...all, keysOnly: true })).kvs.length).toBe(10);
  });

  it("pending proposals: --max-pending-proposals and --max-pending-proposal-bytes answer 'too many requests'", async () => {
    // MAX_STREAMS calls per connection at a time: 8 connections exceed MAX_PENDING.
    const clients = Array.from(
      { length: 8 },
      () => new EtcdGrpcClient(cluster().endpoints[0]!, { ownConnection: true, timeoutMs: 30_000 }),
    );
    try {
      for (const [what, n, size] of [
        ["count", 400, 16],
        ["bytes", 12, 300 * 1024],
      ] as const) {
        const before = await revision();
        const results = await Promise.allSettled(
          Array.from({ length: n }, (_, i) =>
            clients[i % clients.length]!.put({
              key: bytes(`p/${what}/${i}`),
              value: Buffer.alloc(size, 0x70),
            }),
          ),
        );
        const ok = results.filter((r) => r.status === "fulfilled").length;
        const refused = results.filter(
          (r) =>
            r.status === "rejected" &&
            isServiceError(r.reason) &&
            r.reason.code === status.RESOURCE_EXHAUSTED &&
            r.reason.details === TOO_MANY_REQUESTS,
        ).length;
        process.stdout.write(`pending ${what}: ${ok} applied, ${refused} too many requests\n`);
        expect(ok + refused, `${what}: every put applied or refused`).toBe(n);
        expect(refused, `${what}: some refused`).toBeGreaterThan(0);
        expect(await revision()).toBe(before + BigInt(ok));
      }
    } finally {
      for (const c of clients) c.close();
    }
  });

  it("concurrent streams: --max-concurrent-streams is announced; more calls wait for a free stream", async () => {
    const address = cluster().endpoints[0]!.replace(/^https?:\/\//, "");
    const conn = RawGrpcConnection.open(address);
    try {
      // The client listener's own SETTINGS come first (defaults), then the gRPC server's.
      await new Promise<void>((resolve) => {
        const check = () => {
          if (conn.session.remoteSettings?.maxConcurrentStreams === MAX_STREAMS) {
            conn.session.off("remoteSettings", check);
            resolve();
          }
        };
        conn.session.on("remoteSettings", check);
        check();
      });
      const watch = etcdserverpb.WatchRequest.encode({
        requestUnion: {
          $case: "createRequest",
          value: etcdserverpb.WatchCreateRequest.fromPartial({ key: bytes("w") }),
        },
      }).finish();
      const open = Array.from({ length: MAX_STREAMS }, () =>
        conn.abandon("/etcdserverpb.Watch/Watch", [grpcFrame(Buffer.from(watch))]),
      );
      const range = Buffer.from(
        etcdserverpb.RangeRequest.encode(
          etcdserverpb.RangeRequest.fromPartial({ key: bytes("w") }),
        ).finish(),
      );
      let done = false;
      const queued = conn
        .call("/etcdserverpb.KV/Range", [grpcFrame(range)], { timeoutMs: 60_000 })
        .finally(() => {
          done = true;
        });
      // Another connection is served meanwhile; the queued call still waits.
      await client.status();
      await client.range({ key: bytes("w") });
      expect(done).toBe(false);
      open[0]?.close();
      const o = await queued;
      expect(o.kind === "status" && o.code).toBe(0);
    } finally {
      conn.close();
    }
  });
});
