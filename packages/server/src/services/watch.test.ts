/**
 * The Watch service over real gRPC (grpc-js client and server), on a real MvccStore with a
 * stub member context: the wire behaviours, hasleader, shutdown, fragmentation and a slow
 * consumer that stops reading its stream (real HTTP/2 flow control).
 */
import { etcdserverpb } from "@chainfire/api";
import {
  type ClientDuplexStream,
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type StubContext, stubContext } from "../__tests__/stub-context.js";
import { b, cancelReq, createReq, putOp, TempStore, until } from "../watch/__tests__/fixture.js";
import type { WatchOptions } from "../watch/options.js";
import { instrumentService } from "./interceptors.js";
import { createWatchService, type WatchServiceHandle } from "./watch.js";

type Stream = ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>;

let db: TempStore;
let ctx: StubContext;
let server: Server;
let svc: WatchServiceHandle;
let client: etcdserverpb.WatchClient;

async function start(overrides: Partial<WatchOptions> = {}) {
  const base = stubContext();
  const store = db.store;
  ctx = Object.assign(base, {
    get store() {
      return store;
    },
    header: (revision?: bigint) =>
      etcdserverpb.ResponseHeader.fromPartial({
        clusterId: 0xc1n,
        memberId: 0x1n,
        revision: revision ?? store.revision,
        raftTerm: 3n,
      }),
  });
  server = new Server();
  svc = createWatchService(ctx, overrides);
  const impl = instrumentService(etcdserverpb.WatchService, svc.impl as never, {
    logger: ctx.logger,
    metrics: ctx.metrics,
  });
  server.addService(etcdserverpb.WatchService, impl as never);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  client = new etcdserverpb.WatchClient(`127.0.0.1:${port}`, credentials.createInsecure());
}

beforeEach(async () => {
  db = await TempStore.open();
});

afterEach(async () => {
  client?.close();
  svc?.dispose();
  server?.forceShutdown();
  await db.close();
});

/** Opens a stream and records what it receives. */
function open(md?: Metadata) {
  const s: Stream = md ? client.watch(md) : client.watch();
  const got: etcdserverpb.WatchResponse[] = [];
  const ended: { error?: ServiceError } = {};
  s.on("data", (r: etcdserverpb.WatchResponse) => got.push(r));
  s.on("error", (e: ServiceError) => {
    ended.error = e;
  });
  return { s, got, ended };
}

const events = (got: etcdserverpb.WatchResponse[]) => got.flatMap((r) => r.events);
const hasLeader = () => {
  const md = new Metadata();
  md.set("hasleader", "true");
  return md;
};

describe("Watch service", () => {
  it("creates, streams events and cancels over gRPC", async () => {
    await start();
    const w = open();
    w.s.write(createReq({ key: b("k/"), rangeEnd: b("k0"), prevKv: true }));
    await until(() => w.got.length === 1, "created");
    await db.put("k/a", "1");
    await db.txn([putOp("k/a", "2"), putOp("k/b", "1")]);
    await until(() => events(w.got).length === 3, "three events");
    w.s.write(cancelReq(0n));
    await until(() => w.got.some((r) => r.canceled), "canceled");
    expect(w.got.map((r) => [r.watchId, r.created, r.canceled, r.events.length])).toEqual([
      [0n, true, false, 0],
      [0n, false, false, 1],
      [0n, false, false, 2],
      [0n, false, true, 0],
    ]);
    expect(w.got[2]!.events[0]!.prevKv?.value.toString()).toBe("1");
    expect(w.got[2]!.header).toMatchObject({ clusterId: 0xc1n, memberId: 1n, revision: 3n });
    // etcd's watch metrics.
    const text = await ctx.metrics.registry.metrics();
    expect(text).toContain("etcd_debugging_mvcc_watch_stream_total 1");
    expect(text).toContain("etcd_debugging_mvcc_watcher_total 0");
    expect(text).toContain("etcd_debugging_mvcc_slow_watcher_total 0");
    expect(text).toContain("etcd_debugging_mvcc_events_total 3");
    w.s.cancel();
  });

  it("a client that half-closes keeps receiving, as with etcd", async () => {
    await start();
    const w = open();
    w.s.write(createReq({ key: b("h") }));
    await until(() => w.got.length === 1, "created");
    w.s.end();
    await db.put("h", "1");
    await until(() => events(w.got).length === 1, "the event after half-close");
    w.s.cancel();
  });

  it("hasleader: refused without a leader", async () => {
    await start();
    ctx.setLeader(0n);
    const w = open(hasLeader());
    await until(() => w.ended.error !== undefined, "the stream to fail");
    expect(w.ended.error).toMatchObject({
      code: status.UNAVAILABLE,
      details: "etcdserver: no leader",
    });
  });

  it("hasleader: streams end with 'no leader' once the leader is gone long enough", async () => {
    await start({ noLeaderCancelMs: 50 });
    const required = open(hasLeader());
    const plain = open();
    for (const w of [required, plain]) w.s.write(createReq({ key: b("l") }));
    await until(() => required.got.length === 1 && plain.got.length === 1, "created");
    // A short loss (leader back within the grace period) cancels nothing.
    ctx.setLeader(0n);
    ctx.setLeader(2n);
    ctx.setLeader(0n);
    await until(() => required.ended.error !== undefined, "the hasleader stream to end");
    expect(required.ended.error).toMatchObject({
      code: status.UNAVAILABLE,
      details: "etcdserver: no leader",
    });
    // No per-watcher canceled response (etcd ends the stream; clientv3 depends on it).
    expect(required.got.filter((r) => r.canceled)).toEqual([]);
    // The stream without hasleader goes on.
    await db.put("l", "1");
    await until(() => events(plain.got).length === 1, "the plain stream's event");
    expect(plain.ended.error).toBeUndefined();
    plain.s.cancel();
  });

  it("member shutdown ends every stream with 'server stopped' and refuses new ones", async () => {
    await start();
    const w = open();
    w.s.write(createReq({ key: b("s") }));
    await until(() => w.got.length === 1, "created");
    ctx.stop();
    await until(() => w.ended.error !== undefined, "the stream to end");
    expect(w.ended.error).toMatchObject({
      code: status.UNAVAILABLE,
      details: "etcdserver: server stopped",
    });
    expect(svc.store?.counts()).toEqual({ synced: 0, unsynced: 0, victims: 0 });
    const late = open();
    await until(() => late.ended.error !== undefined, "the late stream to be refused");
    expect(late.ended.error?.details).toBe("etcdserver: server stopped");
  });

  it("fragments responses above the fragment size for watchers that ask", async () => {
    await start({ fragmentBytes: 4096 });
    const w = open();
    w.s.write(createReq({ key: b("f/"), rangeEnd: b("f0"), fragment: true }));
    w.s.write(createReq({ key: b("f/"), rangeEnd: b("f0") }));
    await until(() => w.got.length === 2, "created");
    const value = "v".repeat(1000);
    await db.txn(Array.from({ length: 10 }, (_, i) => putOp(`f/${i}`, value)));
    await until(() => events(w.got).length === 20, "both watchers' events");
    const frag = w.got.filter((r) => r.watchId === 0n && !r.created);
    expect(frag.map((r) => r.fragment)).toEqual([true, true, false]);
    expect(frag.map((r) => r.events.length)).toEqual([4, 4, 2]);
    expect(w.got.filter((r) => r.watchId === 1n && !r.created).length).toBe(1);
    w.s.cancel();
  });

  it("a client that stops reading: bounded server buffer, no loss, others unaffected", async () => {
    const budget = 256 * 1024;
    await start({ streamBufferBytes: budget });
    const slow = open();
    slow.s.write(createReq({ key: b("s/"), rangeEnd: b("s0") }));
    await until(() => slow.got.length === 1, "created");
    const slowStream = [...svc.streams][0]!;
    const fast = open();
    fast.s.write(createReq({ key: b("s/"), rangeEnd: b("s0") }));
    await until(() => fast.got.length === 1, "created");
    slow.s.pause(); // stop reading: HTTP/2 flow control pushes back on the server
    const value = "x".repeat(2500);
    const total = 2000;
    let maxQueued = 0;
    for (let n = 0; n < total / 10; n++) {
      await db.txn(Array.from({ length: 10 }, (_, i) => putOp(`s/${(n * 10 + i) % 211}`, value)));
      maxQueued = Math.max(maxQueued, slowStream.queuedBytes);
    }
    await until(() => events(fast.got).length === total, "the fast stream's events", 20_000);
    // The slow client really read nothing meanwhile; its stream's queue filled up, so its
    // watcher became a victim (it may be synced again by now: the HTTP/2 and socket
    // buffers downstream take some megabytes before the server sees the client stop).
    expect(events(slow.got)).toEqual([]);
    expect(svc.store?.stats.victims).toBeGreaterThan(0);
    expect(maxQueued).toBeGreaterThan(budget / 2);
    expect(maxQueued).toBeLessThanOrEqual(budget + 64 * 1024);
    slow.s.resume();
    await until(() => events(slow.got).length >= total, "the slow stream catching up", 20_000);
    const revs = (got: etcdserverpb.WatchResponse[]) =>
      events(got).map((e) => `${e.kv!.key}@${e.kv!.modRevision}`);
    expect(revs(slow.got)).toEqual(revs(fast.got));
    expect(svc.store?.counts()).toEqual({ synced: 2, unsynced: 0, victims: 0 });
    slow.s.cancel();
    fast.s.cancel();
  });
});
