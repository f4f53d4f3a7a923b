// The generated grpc-js service definitions serve real clients: a KV service
// built from KVService answers the etcd3 npm client and our generated KVClient,
// including an etcd error status.
import { credentials, Server, ServerCredentials, type ServiceError } from "@grpc/grpc-js";
import { Etcd3, GRPCOutOfRangeError } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrCompacted, EtcdError, etcdErrorFromStatus } from "./errors.js";
import { etcdserverpb, mvccpb } from "./index.js";

const header = (revision: bigint) =>
  etcdserverpb.ResponseHeader.fromPartial({ clusterId: 1n, memberId: 2n, revision, raftTerm: 3n });

/** A one-key in-memory KV: enough to show the shape of a service implementation. */
function kvServer(): etcdserverpb.KVServer {
  let kv: mvccpb.KeyValue | undefined;
  let rev = 1n;
  return {
    range(call, callback) {
      const req = call.request;
      if (req.revision !== 0n && req.revision < 5n) {
        callback(new EtcdError(ErrCompacted));
        return;
      }
      const kvs = kv?.key.equals(req.key) ? [kv] : [];
      callback(
        null,
        etcdserverpb.RangeResponse.fromPartial({ header: header(rev), kvs, count: kvs.length }),
      );
    },
    put(call, callback) {
      rev += 1n;
      const { key, value, lease } = call.request;
      const prev = kv?.key.equals(key) ? kv : undefined;
      kv = mvccpb.KeyValue.fromPartial({
        key,
        value,
        lease,
        createRevision: prev?.createRevision ?? rev,
        modRevision: rev,
        version: (prev?.version ?? 0n) + 1n,
      });
      callback(null, { header: header(rev), prevKv: call.request.prevKv ? prev : undefined });
    },
    deleteRange(_call, callback) {
      callback(null, etcdserverpb.DeleteRangeResponse.fromPartial({ header: header(rev) }));
    },
    txn(call, callback) {
      // Shows the oneof shape: each compare's value is { $case, value }.
      const ok = call.request.compare.every(
        (c) =>
          c.target === etcdserverpb.Compare_CompareTarget.MOD &&
          c.targetUnion?.$case === "modRevision" &&
          c.targetUnion.value === (kv?.modRevision ?? 0n),
      );
      callback(null, etcdserverpb.TxnResponse.fromPartial({ header: header(rev), succeeded: ok }));
    },
    compact(_call, callback) {
      callback(null, etcdserverpb.CompactionResponse.fromPartial({ header: header(rev) }));
    },
  };
}

describe("generated grpc-js service definitions", () => {
  const server = new Server();
  let address = "";

  beforeAll(async () => {
    server.addService(etcdserverpb.KVService, kvServer());
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    address = `127.0.0.1:${port}`;
  });
  afterAll(() => server.forceShutdown());

  it("serve the etcd3 npm client", async () => {
    const client = new Etcd3({ hosts: `http://${address}` });
    try {
      await client.put("greeting").value("hello");
      expect(await client.get("greeting").string()).toBe("hello");
      await expect(client.get("greeting").revision(2).string()).rejects.toBeInstanceOf(
        GRPCOutOfRangeError,
      );
      await expect(client.get("greeting").revision(2).string()).rejects.toThrow(
        ErrCompacted.message,
      );
    } finally {
      client.close();
    }
  });

  it("serve our generated client, with bigints and oneofs", async () => {
    const client = new etcdserverpb.KVClient(address, credentials.createInsecure());
    // grpc-js clients take callbacks; a small adapter turns each call into a promise.
    const call = <Req, Res>(
      fn: (req: Req, cb: (err: ServiceError | null, res: Res) => void) => unknown,
      req: Req,
    ) =>
      new Promise<Res>((resolve, reject) =>
        fn.call(client, req, (err: ServiceError | null, res: Res) =>
          err ? reject(err) : resolve(res),
        ),
      );
    try {
      const put = await call<etcdserverpb.PutRequest, etcdserverpb.PutResponse>(
        client.put,
        etcdserverpb.PutRequest.fromPartial({ key: Buffer.from("k"), value: Buffer.from("v") }),
      );
      const range = await call<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>(
        client.range,
        etcdserverpb.RangeRequest.fromPartial({
          key: Buffer.from("k"),
          sortOrder: etcdserverpb.RangeRequest_SortOrder.DESCEND,
          sortTarget: etcdserverpb.RangeRequest_SortTarget.MOD,
        }),
      );
      expect(range.kvs[0].modRevision).toBe(put.header?.revision);
      expect(range.header?.clusterId).toBe(1n);

      const txn = await call<etcdserverpb.TxnRequest, etcdserverpb.TxnResponse>(
        client.txn,
        etcdserverpb.TxnRequest.fromPartial({
          compare: [
            {
              key: Buffer.from("k"),
              result: etcdserverpb.Compare_CompareResult.EQUAL,
              target: etcdserverpb.Compare_CompareTarget.MOD,
              targetUnion: { $case: "modRevision", value: range.kvs[0].modRevision },
            },
          ],
          success: [{ request: { $case: "requestRange", value: { key: Buffer.from("k") } } }],
        }),
      );
      expect(txn.succeeded).toBe(true);

      const err = await call(
        client.range,
        etcdserverpb.RangeRequest.fromPartial({ revision: 1 }),
      ).catch((e: ServiceError) => e);
      expect(etcdErrorFromStatus(err as ServiceError)?.is(ErrCompacted)).toBe(true);
    } finally {
      client.close();
    }
  });
});
