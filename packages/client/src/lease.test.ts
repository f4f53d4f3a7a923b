import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster, targetUnavailable } from "./__tests__/cluster.js";
import { Client } from "./client.js";
import { LeaseLostError, LeaseNotFoundError, NotFoundError } from "./errors.js";
import { once } from "./events.js";

const skip = targetUnavailable();

describe.skipIf(skip !== undefined)("leases against a live member", () => {
  let cluster: TestCluster;
  let client: Client;
  let other: Client;

  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 1 });
    client = new Client({ endpoints: cluster.endpoints });
    other = new Client({ endpoints: cluster.endpoints });
  });

  afterAll(async () => {
    await client?.close();
    await other?.close();
    await cluster?.close();
  });

  it("grants, lists, reports time to live with keys, and revokes (deleting keys)", async () => {
    const lease = await client.lease.grant(60, { keepAlive: false });
    expect(lease.id).not.toBe(0n);
    expect(lease.grantedTTL).toBe(60n);
    await client.put("l/a", "1", { lease: lease.id });
    await client.put("l/b", "2", { lease: lease.id });
    expect(await client.lease.list()).toContain(lease.id);
    const ttl = await lease.timeToLive({ keys: true });
    expect(ttl.grantedTTL).toBe(60n);
    expect(ttl.ttl).toBeGreaterThan(0n);
    expect(ttl.ttl).toBeLessThanOrEqual(60n);
    expect(ttl.keys.map((k) => k.toString()).sort()).toEqual(["l/a", "l/b"]);
    await lease.revoke();
    expect(await client.count({ prefix: "l/" })).toBe(0n);
    expect((await client.lease.timeToLive(lease.id)).ttl).toBe(-1n);
    expect(await client.lease.list()).not.toContain(lease.id);
  });

  it("grants with a chosen id and refuses unknown leases with typed errors", async () => {
    const id = 0x7e57n;
    const lease = await client.lease.grant(30, { id, keepAlive: false });
    expect(lease.id).toBe(id);
    await expect(client.lease.grant(30, { id, keepAlive: false })).rejects.toThrow(
      "etcdserver: lease already exists",
    );
    await lease.revoke();
    const revokeAgain = client.lease.revoke(id);
    await expect(revokeAgain).rejects.toBeInstanceOf(LeaseNotFoundError);
    await expect(revokeAgain).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.lease.keepAliveOnce(id)).rejects.toBeInstanceOf(LeaseNotFoundError);
  });

  it("keeps a lease alive by itself and fires keep-alive events", async () => {
    const lease = await client.lease.grant(1);
    await client.put("l/kept", "x", { lease: lease.id });
    let count = 0;
    const three = new Promise<void>((resolve) => {
      lease.onKeepAlive((e) => {
        expect(e.ttl).toBeGreaterThan(0n);
        if (++count === 3) resolve();
      });
    });
    await three;
    expect(lease.isLost).toBe(false);
    expect(await client.getString("l/kept")).toBe("x");
    const once1 = await lease.keepAliveOnce();
    expect(once1.ttl).toBeGreaterThan(0n);
    await lease.revoke();
    expect(lease.isDone).toBe(true);
  });

  it("reports a lost lease (revoked elsewhere) as a typed event and promise", async () => {
    const lease = await client.lease.grant(1);
    const lostEvent = once(lease.onLost);
    await other.lease.revoke(lease.id);
    const err = await lostEvent;
    expect(err).toBeInstanceOf(LeaseLostError);
    expect(err.reason).toBe("expired");
    expect(err.leaseId).toBe(lease.id);
    expect(await lease.lost).toBe(err);
    expect(lease.isLost).toBe(true);
  });

  it("a released lease expires on its own", async () => {
    const lease = await client.lease.grant(1);
    await client.put("l/released", "x", { lease: lease.id });
    lease.release();
    const w = await client.watch("l/released", { noPut: true });
    for await (const e of w) {
      expect(e.type).toBe("delete");
      break;
    }
    expect((await client.lease.timeToLive(lease.id)).ttl).toBe(-1n);
  });

  it("reports keepalive-timeout when no member answers before the TTL runs out", async () => {
    const lease = await client.lease.grant(1);
    const lost = lease.lost;
    await cluster.kill(0);
    try {
      const err = await lost;
      expect(err.reason).toBe("keepalive-timeout");
      expect(Date.now()).toBeGreaterThanOrEqual(lease.expiresAt);
    } finally {
      await cluster.restart(0);
    }
  });
});
