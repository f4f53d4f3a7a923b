/**
 * Invalid requests through a raw gRPC client (no client library in between to reject or
 * rewrite them): each must fail with etcd's gRPC status code and exact message, change
 * nothing, and leave every member serving.
 *
 * Every expectation was checked against etcd 3.4.23. Where etcd 3.4 and the notes
 * (shared/notes/etcd-api.md, written from etcd 3.4 and 3.5 sources) differ, it is said
 * beside the test; the notes say the clients win, and the clients follow etcd.
 */
import { etcdserverpb } from "@chainfire/api";
import { status } from "@grpc/grpc-js";
import { beforeAll, describe, expect, it } from "vitest";
import { bytes, type EtcdGrpcClient, isServiceError, op } from "../harness/index.js";
import { useCluster } from "../harness/vitest.js";
import { compatTargets } from "./targets.js";

const { Compare, Compare_CompareResult, Compare_CompareTarget, TxnRequest } = etcdserverpb;

/** Expects `call` to fail with exactly this gRPC status code and message. */
async function rejects(call: Promise<unknown>, code: status, message: string): Promise<void> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${status[code]} "${message}"`).toBeDefined();
  if (!isServiceError(error)) throw error;
  expect({ code: status[error.code], message: error.details }).toEqual({
    code: status[code],
    message,
  });
}

function valueEquals(key: string, value: string) {
  return Compare.fromPartial({
    key: bytes(key),
    target: Compare_CompareTarget.VALUE,
    result: Compare_CompareResult.EQUAL,
    targetUnion: { $case: "value", value: bytes(value) },
  });
}

function txn(request: Partial<etcdserverpb.TxnRequest>): etcdserverpb.TxnRequest {
  return TxnRequest.fromPartial(request);
}

const INVALID = status.INVALID_ARGUMENT;
const OUT_OF_RANGE = status.OUT_OF_RANGE;
const EMPTY_KEY = "etcdserver: key is not provided";
const KEY_NOT_FOUND = "etcdserver: key not found";
const TOO_MANY_OPS = "etcdserver: too many operations in txn request";
const DUPLICATE_KEY = "etcdserver: duplicate key given in txn request";
const COMPACTED = "etcdserver: mvcc: required revision has been compacted";
const FUTURE = "etcdserver: mvcc: required revision is a future revision";

for (const kind of compatTargets()) {
  describe(`bad input over raw gRPC against ${kind}`, () => {
    const cluster = useCluster({ kind, size: 3 });
    // Requests go to a follower when possible: it must validate as the leader does.
    let client: EtcdGrpcClient;
    const revision = async () => (await client.range({ key: bytes("any") })).header!.revision;

    beforeAll(async () => {
      const leader = await cluster().waitForLeader();
      client = cluster().client((leader + 1) % cluster().size);
      await client.put({ key: bytes("exists"), value: bytes("v") });
    });

    it("an empty key: Put, Range, DeleteRange, and inside a txn", async () => {
      const before = await revision();
      const empty = Buffer.alloc(0);
      await rejects(client.put({ key: empty, value: bytes("v") }), INVALID, EMPTY_KEY);
      await rejects(client.range({ key: empty }), INVALID, EMPTY_KEY);
      await rejects(client.deleteRange({ key: empty }), INVALID, EMPTY_KEY);
      await rejects(client.txn(txn({ success: [op.put("", "v")] })), INVALID, EMPTY_KEY);
      await rejects(client.txn(txn({ failure: [op.get("")] })), INVALID, EMPTY_KEY);
      await rejects(client.txn(txn({ success: [op.del("")] })), INVALID, EMPTY_KEY);
      await rejects(client.txn(txn({ compare: [valueEquals("", "v")] })), INVALID, EMPTY_KEY);
      expect(await revision()).toBe(before);
    });

    it("ignore_value / ignore_lease on a missing key, and with a value or lease given", async () => {
      const before = await revision();
      const missing = bytes("missing");
      await rejects(client.put({ key: missing, ignoreValue: true }), INVALID, KEY_NOT_FOUND);
      await rejects(client.put({ key: missing, ignoreLease: true }), INVALID, KEY_NOT_FOUND);
      await rejects(
        client.txn(txn({ success: [op.put("missing", "", { ignoreValue: true })] })),
        INVALID,
        KEY_NOT_FOUND,
      );
      const exists = bytes("exists");
      await rejects(
        client.put({ key: exists, value: bytes("x"), ignoreValue: true }),
        INVALID,
        "etcdserver: value is provided",
      );
      await rejects(
        client.put({ key: exists, lease: 1234n, ignoreLease: true }),
        INVALID,
        "etcdserver: lease is provided",
      );
      expect(await revision()).toBe(before);
      expect((await client.range({ key: bytes("missing") })).kvs).toEqual([]);
      // ignore_value on an existing key keeps its value and writes a new revision.
      const put = await client.put({ key: exists, ignoreValue: true, prevKv: true });
      expect(put.header!.revision).toBe(before + 1n);
      expect(put.prevKv?.value).toEqual(bytes("v"));
      const [kv] = (await client.range({ key: exists })).kvs;
      expect({ value: kv.value.toString(), mod: kv.modRevision }).toEqual({
        value: "v",
        mod: before + 1n,
      });
    });

    it("more than 128 operations in a txn branch or its compares", async () => {
      const before = await revision();
      const puts = (n: number) => Array.from({ length: n }, (_, i) => op.put(`ops/${i}`, "v"));
      await rejects(client.txn(txn({ success: puts(129) })), INVALID, TOO_MANY_OPS);
      await rejects(client.txn(txn({ failure: puts(129) })), INVALID, TOO_MANY_OPS);
      const compares = Array.from({ length: 129 }, (_, i) => valueEquals(`ops/${i}`, "v"));
      await rejects(client.txn(txn({ compare: compares })), INVALID, TOO_MANY_OPS);
      expect(await revision()).toBe(before);
      // 128 is allowed, and is one revision.
      const ok = await client.txn(txn({ success: puts(128) }));
      expect(ok.succeeded).toBe(true);
      expect(ok.responses).toHaveLength(128);
      expect(ok.header!.revision).toBe(before + 1n);
    });

    it("the same key written twice in one txn", async () => {
      const before = await revision();
      await rejects(
        client.txn(txn({ success: [op.put("dup", "1"), op.put("dup", "2")] })),
        INVALID,
        DUPLICATE_KEY,
      );
      await rejects(
        client.txn(txn({ success: [op.put("dup", "1"), op.del("dup")] })),
        INVALID,
        DUPLICATE_KEY,
      );
      // A put inside a deleted range.
      await rejects(
        client.txn(
          txn({ success: [op.put("dup/a", "1"), op.del("dup/", { rangeEnd: bytes("dup0") })] }),
        ),
        INVALID,
        DUPLICATE_KEY,
      );
      // Through a nested txn.
      await rejects(
        client.txn(
          txn({ success: [op.put("dup", "1"), op.txn({ success: [op.put("dup", "2")] })] }),
        ),
        INVALID,
        DUPLICATE_KEY,
      );
      expect(await revision()).toBe(before);
      // Allowed: reading and writing one key; the same key in the two branches.
      const readWrite = await client.txn(txn({ success: [op.get("dup"), op.put("dup", "1")] }));
      expect(readWrite.succeeded).toBe(true);
      const branches = await client.txn(
        txn({
          compare: [valueEquals("dup", "1")],
          success: [op.put("dup", "2")],
          failure: [op.put("dup", "3")],
        }),
      );
      expect(branches.succeeded).toBe(true);
      expect((await client.range({ key: bytes("dup") })).kvs[0].value.toString()).toBe("2");
    });

    it("a future revision", async () => {
      const current = await revision();
      await rejects(
        client.range({ key: bytes("exists"), revision: current + 1n }),
        OUT_OF_RANGE,
        FUTURE,
      );
      await rejects(
        client.range({ key: bytes("exists"), revision: current + 1000n }),
        OUT_OF_RANGE,
        FUTURE,
      );
      await rejects(client.compact({ revision: current + 1000n }), OUT_OF_RANGE, FUTURE);
      // The current revision itself is fine.
      const res = await client.range({ key: bytes("exists"), revision: current });
      expect(res.kvs).toHaveLength(1);
      expect(await revision()).toBe(current);
    });

    it("a compacted revision: Range, Range in a txn, Compact again", async () => {
      const first = await client.put({ key: bytes("cmp"), value: bytes("1") });
      const second = await client.put({ key: bytes("cmp"), value: bytes("2") });
      const old = first.header!.revision;
      const at = second.header!.revision;
      await client.compact({ revision: at });
      await rejects(client.range({ key: bytes("cmp"), revision: old }), OUT_OF_RANGE, COMPACTED);
      await rejects(
        client.txn(txn({ success: [op.get("cmp", { revision: old })] })),
        OUT_OF_RANGE,
        COMPACTED,
      );
      await rejects(client.compact({ revision: old }), OUT_OF_RANGE, COMPACTED);
      // etcd 3.4 answers a second compaction at the same revision with ErrCompacted too.
      await rejects(client.compact({ revision: at }), OUT_OF_RANGE, COMPACTED);
      const still = await client.range({ key: bytes("cmp"), revision: at });
      expect(still.kvs[0].value.toString()).toBe("2");
    });

    it("a request larger than 1.5 MiB", async () => {
      const before = await revision();
      // 1.5 MiB of value alone puts the request over the limit: etcd's own check answers.
      await rejects(
        client.put({ key: bytes("big"), value: Buffer.alloc(1_572_864) }),
        INVALID,
        "etcdserver: request is too large",
      );
      // Past limit + 512 KiB the gRPC server refuses to read the message at all; the text
      // is the gRPC library's (Go: "grpc: received message larger than max (N vs. M)").
      const error = await client.put({ key: bytes("big"), value: Buffer.alloc(3 << 20) }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isServiceError(error) && status[error.code]).toBe("RESOURCE_EXHAUSTED");
      expect(isServiceError(error) && error.details).toMatch(/received message larger than max/i);
      expect(await revision()).toBe(before);
      // Just under the limit is accepted.
      const ok = await client.put({ key: bytes("big"), value: Buffer.alloc(1_572_864 - 1024) });
      expect(ok.header!.revision).toBe(before + 1n);
    });

    // etcd 3.4 does not validate sort options: an unknown sort order is treated as NONE
    // and an unknown sort target crashes the member (nil sorter → SIGSEGV in
    // applierV3backend.Range). etcd 3.5 answers InvalidArgument "etcdserver: invalid sort
    // option" for both (v3rpc checkRangeRequest), which is what Chainfire must do.
    it.skipIf(kind === "etcd")(
      "an invalid sort order or sort target (etcd 3.5 behaviour)",
      async () => {
        const message = "etcdserver: invalid sort option";
        await rejects(
          client.range({
            key: bytes("exists"),
            sortOrder: 7 as etcdserverpb.RangeRequest_SortOrder,
          }),
          INVALID,
          message,
        );
        await rejects(
          client.range({
            key: bytes("exists"),
            sortTarget: 9 as etcdserverpb.RangeRequest_SortTarget,
          }),
          INVALID,
          message,
        );
      },
    );

    // Lease-dependent: enabled for chainfire with the lease issue (the member must know
    // which leases exist to answer this).
    it.skipIf(kind === "chainfire")("a put attached to a lease that does not exist", async () => {
      const before = await revision();
      await rejects(
        client.put({ key: bytes("leased"), value: bytes("v"), lease: 0x1234n }),
        status.NOT_FOUND,
        "etcdserver: requested lease not found",
      );
      expect(await revision()).toBe(before);
    });

    it("afterwards every member still serves reads and writes", async () => {
      const c = cluster();
      for (let i = 0; i < c.size; i++) {
        expect(c.member(i).state).toBe("running");
        expect(await c.member(i).healthy()).toBe(true);
        const put = await c.client(i).put({ key: bytes(`after/${i}`), value: bytes("ok") });
        const got = await c.client(i).range({ key: bytes("after/"), rangeEnd: bytes("after0") });
        expect(got.kvs.map((kv) => kv.key.toString())).toContain(`after/${i}`);
        expect(got.header!.revision).toBeGreaterThanOrEqual(put.header!.revision);
      }
    });
  });
}
