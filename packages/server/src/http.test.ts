import { ErrNoLeader, EtcdError, etcdserverpb } from "@chainfire/api";
import { afterEach, describe, expect, it } from "vitest";
import { type StubContext, stubContext } from "./__tests__/stub-context.js";
import { type HttpEndpoints, startHttpServers } from "./http.js";

let endpoints: HttpEndpoints | undefined;
afterEach(async () => {
  await endpoints?.close();
  endpoints = undefined;
});

async function serve(ctx: StubContext, healthTimeoutMs = 200): Promise<string> {
  endpoints = await startHttpServers(["http://127.0.0.1:0"], ctx, { healthTimeoutMs });
  return endpoints.urls[0]!;
}

async function get(url: string, init?: RequestInit) {
  const res = await fetch(url, init);
  return { status: res.status, type: res.headers.get("content-type"), body: await res.text() };
}

function readyCtx(init?: Parameters<typeof stubContext>[0]): StubContext {
  const ctx = stubContext(init);
  ctx.markReady();
  return ctx;
}

describe("GET /health", () => {
  it("answers etcd's JSON, 200, when there is a leader and a linearizable read succeeds", async () => {
    const ctx = readyCtx();
    const base = await serve(ctx);
    expect(await get(`${base}/health`)).toEqual({
      status: 200,
      type: "application/json",
      body: '{"health":"true","reason":""}',
    });
    expect(ctx.state.calls.map((c) => c.method)).toEqual(["readBarrier"]);
    expect(await ctx.metrics.text()).toMatch(/^etcd_server_health_success 1$/m);
  });

  it("answers 503 RAFT NO LEADER without a leader, unless serializable=true", async () => {
    const ctx = readyCtx({ leader: 0n });
    const base = await serve(ctx);
    expect(await get(`${base}/health`)).toMatchObject({
      status: 503,
      body: '{"health":"false","reason":"RAFT NO LEADER"}',
    });
    expect((await get(`${base}/health?serializable=true`)).status).toBe(200);
    expect(await ctx.metrics.text()).toMatch(/^etcd_server_health_failures 1$/m);
  });

  it("reports a failed or timed-out read barrier as a RANGE ERROR", async () => {
    const ctx = readyCtx({ readBarrier: () => Promise.reject(new EtcdError(ErrNoLeader)) });
    const base = await serve(ctx);
    expect(JSON.parse((await get(`${base}/health`)).body)).toEqual({
      health: "false",
      reason: "RANGE ERROR:etcdserver: no leader",
    });
    ctx.state.readBarrier = () => new Promise(() => {}); // never answers
    const r = await get(`${base}/health`);
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body).reason).toBe("RANGE ERROR:etcdserver: request timed out");
  });

  it("fails on an alarm unless it is excluded", async () => {
    const ctx = readyCtx({
      alarms: [
        etcdserverpb.AlarmMember.fromPartial({
          memberID: 1n,
          alarm: etcdserverpb.AlarmType.NOSPACE,
        }),
      ],
    });
    const base = await serve(ctx);
    expect(JSON.parse((await get(`${base}/health`)).body).reason).toBe("ALARM NOSPACE");
    expect((await get(`${base}/health?exclude=NOSPACE`)).status).toBe(200);
  });

  it("is unhealthy while the member is still starting", async () => {
    const ctx = stubContext();
    const base = await serve(ctx);
    expect(JSON.parse((await get(`${base}/health`)).body)).toEqual({
      health: "false",
      reason: "RANGE ERROR:member is still starting",
    });
  });
});

describe("GET /livez and /readyz", () => {
  it("answer ok, or the checks with their reasons", async () => {
    const ctx = readyCtx();
    const base = await serve(ctx);
    expect(await get(`${base}/livez`)).toEqual({
      status: 200,
      type: "text/plain; charset=utf-8",
      body: "ok\n",
    });
    expect((await get(`${base}/readyz?verbose`)).body).toBe(
      "[+]started ok\n[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\nok\n",
    );
    ctx.state.readBarrier = () => Promise.reject(new EtcdError(ErrNoLeader));
    expect(await get(`${base}/readyz`)).toMatchObject({
      status: 503,
      body:
        "[+]started ok\n[+]data_corruption ok\n[+]serializable_read ok\n" +
        "[-]linearizable_read failed: etcdserver: no leader\n",
    });
    expect((await get(`${base}/readyz?exclude=linearizable_read`)).status).toBe(200);
    expect(await get(`${base}/readyz/serializable_read`)).toMatchObject({
      status: 200,
      body: "ok\n",
    });
    expect((await get(`${base}/readyz/nope`)).status).toBe(404);
    // A member without a leader is alive, not ready.
    expect((await get(`${base}/livez`)).status).toBe(200);
  });

  it("readyz fails before the member has started and once it stops", async () => {
    const ctx = stubContext();
    const base = await serve(ctx);
    expect((await get(`${base}/readyz`)).body).toContain(
      "[-]started failed: member is still starting\n",
    );
    ctx.markReady();
    await ctx.ready;
    expect((await get(`${base}/readyz`)).status).toBe(200);
    ctx.stop();
    expect((await get(`${base}/readyz`)).body).toContain("[-]started failed: member is stopping\n");
  });
});

describe("GET /version, /metrics and the rest", () => {
  it("serves /version like etcd 3.5.13, plus chainfire's own", async () => {
    const base = await serve(readyCtx());
    const r = await get(`${base}/version`);
    expect(JSON.parse(r.body)).toEqual({
      etcdserver: "3.5.13",
      etcdcluster: "3.5.0",
      chainfire: "0.1.0",
    });
  });

  it("serves /metrics in Prometheus text with the member's state", async () => {
    const ctx = readyCtx();
    const base = await serve(ctx);
    const r = await get(`${base}/metrics`);
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.body).toMatch(/^etcd_server_has_leader 1$/m);
    expect(r.body).toMatch(/^etcd_server_is_leader 1$/m);
    expect(r.body).toMatch(/^etcd_mvcc_db_total_size_in_bytes 4096$/m);
    expect(r.body).toMatch(/^etcd_server_proposals_applied_total 11$/m);
    ctx.state.leader = 0n;
    expect((await get(`${base}/metrics`)).body).toMatch(/^etcd_server_has_leader 0$/m);
  });

  it("serves RocksDB's background work when the member reports it", async () => {
    const ctx = readyCtx();
    ctx.state.status.storage = { flushes: 1, compactions: 2, writeStall: 1 };
    const base = await serve(ctx);
    const body = (await get(`${base}/metrics`)).body;
    expect(body).toMatch(/^chainfire_storage_flushes_running 1$/m);
    expect(body).toMatch(/^chainfire_storage_compactions_running 2$/m);
    expect(body).toMatch(/^chainfire_storage_write_stall 1$/m);
  });

  it("answers 404 for unknown paths and 405 for other methods", async () => {
    const base = await serve(readyCtx());
    expect(await get(`${base}/v2/keys`)).toMatchObject({
      status: 404,
      body: "404 page not found\n",
    });
    expect((await get(`${base}/health`, { method: "POST" })).status).toBe(405);
  });

  it("listens on every URL and fails cleanly when a port is taken", async () => {
    const ctx = readyCtx();
    const first = await startHttpServers(["http://127.0.0.1:0", "http://[::1]:0"], ctx).catch(() =>
      startHttpServers(["http://127.0.0.1:0", "http://localhost:0"], ctx),
    );
    try {
      expect(first.urls).toHaveLength(2);
      for (const u of first.urls) expect((await get(`${u}/version`)).status).toBe(200);
      const taken = first.urls[0]!;
      await expect(startHttpServers([taken], ctx)).rejects.toThrow(/cannot listen for metrics/);
    } finally {
      await first.close();
      await first.close(); // idempotent
    }
  });
});
