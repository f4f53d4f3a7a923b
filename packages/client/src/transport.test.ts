/**
 * The retry rules, deadlines, auth-token refresh and snapshot checks, against an
 * in-process fake member whose answers each test scripts (no etcd needed).
 */
import { createHash } from "node:crypto";
import {
  ErrAuthOldRevision,
  ErrInvalidAuthToken,
  ErrNoLeader,
  ErrTimeout,
  EtcdError,
  etcdserverpb,
} from "@chainfire/api";
import { type Metadata, Server, ServerCredentials, type ServiceError, status } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Client } from "./client.js";
import {
  DeadlineExceededError,
  InvalidAuthTokenError,
  NoLeaderError,
  RequestTimeoutError,
  SnapshotIntegrityError,
  UnavailableError,
} from "./errors.js";

type Handler<Req, Res> = (req: Req, md: Metadata) => Promise<Res> | Res;

/** What the fake member answers; tests replace entries. */
const script: {
  range?: Handler<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>;
  put?: Handler<etcdserverpb.PutRequest, etcdserverpb.PutResponse>;
  authenticate?: Handler<etcdserverpb.AuthenticateRequest, etcdserverpb.AuthenticateResponse>;
  snapshot?: () => Buffer[];
} = {};
const calls = { range: 0, put: 0, authenticate: 0 };
const seen: Metadata[] = [];

function fail(code: status, details: string): ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: undefined as never });
}

function unary<Req, Res>(name: keyof typeof calls, get: () => Handler<Req, Res> | undefined) {
  return (
    call: { request: Req; metadata: Metadata },
    cb: (e: ServiceError | EtcdError | null, r?: Res) => void,
  ) => {
    calls[name]++;
    seen.push(call.metadata);
    const h = get();
    if (!h) return cb(fail(status.UNIMPLEMENTED, "not scripted"));
    Promise.resolve()
      .then(() => h(call.request, call.metadata))
      .then(
        (r) => cb(null, r),
        (e: ServiceError | EtcdError) => cb(e),
      );
  };
}

describe("transport rules against a scripted fake member", () => {
  let server: Server;
  let endpoint: string;
  let deadPort: number;

  beforeAll(async () => {
    server = new Server();
    server.addService(etcdserverpb.KVService, {
      range: unary("range", () => script.range),
      put: unary("put", () => script.put),
      deleteRange: () => {},
      txn: () => {},
      compact: () => {},
    });
    server.addService(etcdserverpb.WatchService, {
      // A member that accepts watch streams but never confirms a watch.
      watch: (call: { on(e: string, f: () => void): void; end(): void }) => {
        call.on("end", () => call.end());
      },
    } as never);
    server.addService(etcdserverpb.AuthService, {
      authenticate: unary("authenticate", () => script.authenticate),
    } as never);
    server.addService(etcdserverpb.MaintenanceService, {
      snapshot: (call: { write(r: etcdserverpb.SnapshotResponse): void; end(): void }) => {
        const chunks = script.snapshot?.() ?? [];
        let remaining = chunks.reduce((n, c) => n + c.length, 0);
        for (const blob of chunks) {
          remaining -= blob.length;
          call.write(
            etcdserverpb.SnapshotResponse.fromPartial({ blob, remainingBytes: BigInt(remaining) }),
          );
        }
        call.end();
      },
    } as never);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    endpoint = `127.0.0.1:${port}`;
    // A port nothing listens on: bind one, then close it.
    const probe = new Server();
    deadPort = await new Promise<number>((resolve, reject) =>
      probe.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    probe.forceShutdown();
  });

  afterAll(() => {
    server?.forceShutdown();
  });

  afterEach(() => {
    for (const k of Object.keys(script)) delete script[k as keyof typeof script];
    calls.range = calls.put = calls.authenticate = 0;
    seen.length = 0;
  });

  const okRange = () => etcdserverpb.RangeResponse.fromPartial({ header: { revision: 7n } });
  const okPut = () => etcdserverpb.PutResponse.fromPartial({ header: { revision: 8n } });
  const fast = { backoff: { initialMs: 1, maxMs: 5 } };

  it("retries an idempotent read after UNAVAILABLE", async () => {
    const client = new Client({ endpoints: [endpoint], ...fast });
    let n = 0;
    script.range = () => {
      if (n++ === 0) throw fail(status.UNAVAILABLE, "transient");
      return okRange();
    };
    expect((await client.getAll()).revision).toBe(7n);
    expect(calls.range).toBe(2);
    await client.close();
  });

  it("never sends a write twice after an ambiguous failure (etcd #14890, #18424)", async () => {
    const client = new Client({ endpoints: [endpoint], ...fast });
    script.put = () => {
      throw fail(status.UNAVAILABLE, "connection reset after the request was read");
    };
    await expect(client.put("k", "v")).rejects.toBeInstanceOf(UnavailableError);
    expect(calls.put).toBe(1);
    script.put = () => {
      throw new EtcdError(ErrTimeout);
    };
    await expect(client.put("k", "v")).rejects.toBeInstanceOf(RequestTimeoutError);
    expect(calls.put).toBe(2);
    await client.close();
  });

  it("resends a write that the member refused up front with 'no leader' (hasleader is sent)", async () => {
    const client = new Client({ endpoints: [endpoint], ...fast });
    let n = 0;
    script.put = (_req, md) => {
      expect(md.get("hasleader")).toEqual(["true"]);
      if (n++ < 2) throw new EtcdError(ErrNoLeader);
      return okPut();
    };
    expect((await client.put("k", "v")).revision).toBe(8n);
    expect(calls.put).toBe(3);
    // Serializable reads do not require a leader.
    script.range = (_req, md) => {
      expect(md.get("hasleader")).toEqual([]);
      return okRange();
    };
    await client.get("k", { serializable: true });
    // Without a leader ever: the error after the deadline is typed.
    script.put = () => {
      throw new EtcdError(ErrNoLeader);
    };
    await expect(client.put("k", "v", { timeoutMs: 100 })).rejects.toBeInstanceOf(NoLeaderError);
    await client.close();
  });

  it("sends a write to another endpoint when the first cannot be connected (never sent)", async () => {
    const client = new Client({
      endpoints: [`127.0.0.1:${deadPort}`, endpoint],
      endpointSelection: "ordered",
      ...fast,
    });
    let received = 0;
    script.put = (req) => {
      // (Count only this test's key: a late retry of an earlier test may still arrive.)
      if (req.key.toString() === "failover") received++;
      return okPut();
    };
    expect((await client.put("failover", "v")).revision).toBe(8n);
    expect(received).toBe(1);
    await client.close();
  });

  it("enforces the call deadline", async () => {
    const client = new Client({ endpoints: [endpoint], ...fast });
    script.range = () => new Promise(() => {}); // never answers
    const started = Date.now();
    await expect(client.get("k", { timeoutMs: 200 })).rejects.toBeInstanceOf(DeadlineExceededError);
    expect(Date.now() - started).toBeLessThan(5000);
    const controller = new AbortController();
    const pending = client.get("k", { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    await client.close();
  });

  it("authenticates, sends the token, and re-authenticates once on 'invalid auth token'", async () => {
    const client = new Client({
      endpoints: [endpoint],
      auth: { username: "u", password: "p" },
      ...fast,
    });
    let token = 0;
    script.authenticate = (req) => {
      expect([req.name, req.password]).toEqual(["u", "p"]);
      return etcdserverpb.AuthenticateResponse.fromPartial({ token: `t${++token}` });
    };
    let rejectT1 = true;
    script.put = (_req, md) => {
      if (md.get("token")[0] === "t1" && rejectT1) throw new EtcdError(ErrInvalidAuthToken);
      return okPut();
    };
    await client.put("k", "v"); // t1 refused, t2 accepted: the write is resent (it was refused up front)
    expect(calls.authenticate).toBe(2);
    expect(calls.put).toBe(2);
    expect(seen.at(-1)?.get("token")).toEqual(["t2"]);
    rejectT1 = false;
    script.put = () => {
      throw new EtcdError(ErrInvalidAuthToken);
    };
    // A token refused again after a fresh one: the error surfaces.
    await expect(client.put("k", "v")).rejects.toBeInstanceOf(InvalidAuthTokenError);
    await client.close();
  });

  it("re-authenticates once on 'revision of auth store is old' (a JWT issued before an auth change)", async () => {
    const client = new Client({
      endpoints: [endpoint],
      auth: { username: "u", password: "p" },
      ...fast,
    });
    let token = 0;
    script.authenticate = () =>
      etcdserverpb.AuthenticateResponse.fromPartial({ token: `t${++token}` });
    script.put = (_req, md) => {
      if (md.get("token")[0] === "t1") throw new EtcdError(ErrAuthOldRevision);
      return okPut();
    };
    await client.put("k", "v");
    expect(calls.authenticate).toBe(2);
    expect(seen.at(-1)?.get("token")).toEqual(["t2"]);
    await client.close();
  });

  it("does not hang on a member that never confirms a watch", async () => {
    const client = new Client({ endpoints: [endpoint], callTimeoutMs: 300, ...fast });
    await expect(client.watch("k")).rejects.toBeInstanceOf(DeadlineExceededError);
    await expect(client.watch("k", { timeoutMs: 100 })).rejects.toBeInstanceOf(
      DeadlineExceededError,
    );
    await client.close();
  });

  it("checks the SHA-256 trailer of a snapshot", async () => {
    const client = new Client({ endpoints: [endpoint], ...fast });
    const body = Buffer.alloc(1024, 7);
    const sha = createHash("sha256").update(body).digest();
    script.snapshot = () => [body.subarray(0, 600), Buffer.concat([body.subarray(600), sha])];
    const chunks: Buffer[] = [];
    for await (const c of client.maintenance.snapshot()) chunks.push(c);
    expect(Buffer.concat(chunks)).toEqual(Buffer.concat([body, sha]));
    const bad = Buffer.from(sha);
    bad[0] ^= 1;
    script.snapshot = () => [body, bad];
    await expect(drain(client.maintenance.snapshot())).rejects.toBeInstanceOf(
      SnapshotIntegrityError,
    );
    script.snapshot = () => [Buffer.alloc(10)];
    await expect(drain(client.maintenance.snapshot())).rejects.toThrow("sha256 checksum not found");
    await client.close();
  });
});

async function drain(it: AsyncIterable<Buffer>): Promise<void> {
  for await (const _ of it) {
    // discard
  }
}
