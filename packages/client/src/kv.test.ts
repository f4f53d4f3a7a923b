import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster, targetUnavailable } from "./__tests__/cluster.js";
import { Client } from "./client.js";
import {
  CompactedError,
  DuplicateKeyError,
  EmptyKeyError,
  FutureRevisionError,
  KeyNotFoundError,
  LeaseNotFoundError,
  RequestTooLargeError,
  TooManyOpsError,
} from "./errors.js";
import { ErrCompacted, EtcdError, isEtcdError } from "@chainfire/api";
import { compare, nestedTxn, op } from "./txn.js";

const skip = targetUnavailable();

describe.skipIf(skip !== undefined)("KV against a live member", () => {
  let cluster: TestCluster;
  let client: Client;

  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 1 });
    client = new Client({ endpoints: cluster.endpoints });
  });

  afterAll(async () => {
    await client?.close();
    await cluster?.close();
  });

  it("puts and gets strings, buffers and JSON", async () => {
    const put = await client.put("kv/a", "alpha");
    expect(put.revision).toBeGreaterThan(0n);
    expect(put.prevKv).toBeUndefined();
    const kv = await client.get("kv/a");
    expect(kv?.string()).toBe("alpha");
    expect(kv?.keyString()).toBe("kv/a");
    expect(kv?.modRevision).toBe(put.revision);
    expect(kv?.createRevision).toBe(put.revision);
    expect(kv?.version).toBe(1n);
    expect(await client.getString("kv/a")).toBe("alpha");
    await client.put(Buffer.from([0x6b, 0x76, 0x2f, 0xff]), Buffer.from([0, 1, 2]));
    expect((await client.get(Buffer.from([0x6b, 0x76, 0x2f, 0xff])))?.buffer()).toEqual(Buffer.from([0, 1, 2]));
    await client.putJson("kv/json", { n: 1, s: "x" });
    expect(await client.getJson("kv/json")).toEqual({ n: 1, s: "x" });
    expect(await client.get("kv/missing")).toBeUndefined();
    expect(await client.getString("kv/missing")).toBeUndefined();
  });
});

void CompactedError;
void DuplicateKeyError;
void EmptyKeyError;
void FutureRevisionError;
void KeyNotFoundError;
void LeaseNotFoundError;
void RequestTooLargeError;
void TooManyOpsError;
void ErrCompacted;
void EtcdError;
void isEtcdError;
void compare;
void nestedTxn;
void op;
