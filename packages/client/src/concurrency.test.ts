import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster, targetUnavailable } from "./__tests__/cluster.js";
import { Client } from "./client.js";
import type { Isolation } from "./concurrency/stm.js";
import {
  AbortError,
  NoElectionLeaderError,
  NotElectionLeaderError,
  SessionExpiredError,
  STMConflictError,
} from "./errors.js";
import { op } from "./txn.js";

const skip = targetUnavailable();

describe.skipIf(skip !== undefined)("concurrency recipes against a live member", () => {
  let cluster: TestCluster;
  let clients: Client[];
  let client: Client;

  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 1 });
    clients = Array.from({ length: 8 }, () => new Client({ endpoints: cluster.endpoints }));
    client = clients[0];
  });

  afterAll(async () => {
    await Promise.all((clients ?? []).map((c) => c.close()));
    await cluster?.close();
  });

  it("mutex: mutual exclusion under contention from many clients, increasing fencing tokens", async () => {
    let inside = 0;
    let maxInside = 0;
    const tokens: bigint[] = [];
    const rounds = 5;
    await Promise.all(
      clients.map(async (c) => {
        for (let i = 0; i < rounds; i++) {
          await c.withLock("cc/mutex", async (lock) => {
            inside++;
            maxInside = Math.max(maxInside, inside);
            tokens.push(lock.fencingToken);
            // A read-modify-write that would lose updates without the lock.
            const n = Number((await c.getString("cc/counter")) ?? "0");
            await c.put("cc/counter", String(n + 1));
            inside--;
          });
        }
      }),
    );
    expect(maxInside).toBe(1);
    expect(await client.getString("cc/counter")).toBe(String(clients.length * rounds));
    const sorted = [...tokens].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(tokens).toEqual(sorted); // each holder's token is larger than the previous one's
    expect(new Set(tokens).size).toBe(tokens.length);
    expect(await client.count({ prefix: "cc/mutex/" })).toBe(0n);
  });

  it("mutex: a waiter gives up on abort or timeout and removes its key", async () => {
    const held = await clients[1].lock("cc/abort");
    const controller = new AbortController();
    const waiting = clients[2].lock("cc/abort", { signal: controller.signal });
    // Wait until the waiter's key is in the queue, then abort it.
    const { pollUntil } = await import("./__tests__/cluster.js");
    await pollUntil(async () =>
      (await client.count({ prefix: "cc/abort/" })) === 2n ? true : undefined,
    );
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(AbortError);
    await expect(clients[3].lock("cc/abort", { timeoutMs: 200 })).rejects.toBeInstanceOf(
      AbortError,
    );
    expect(await client.count({ prefix: "cc/abort/" })).toBe(1n);
    await held.release();
    const next = await clients[2].lock("cc/abort");
    expect(next.fencingToken).toBeGreaterThan(held.fencingToken);
    await next.release();
  });

  it("mutex: tryLock, owner compares and session loss", async () => {
    const session = await clients[4].session({ ttl: 5 });
    const m = clients[4].mutex("cc/try", { session });
    const lock = await m.tryLock();
    expect(lock).toBeDefined();
    expect(
      await clients[5].mutex("cc/try", { session: await clients[5].session() }).tryLock(),
    ).toBeUndefined();
    // A write guarded by ownership succeeds while the lock is held...
    const guarded = () =>
      clients[4].txn().if(lock!.ownerCompare()).then(op.put("cc/guarded", "x")).commit();
    expect((await guarded()).succeeded).toBe(true);
    // ...and a waiter whose session is lost meanwhile is told so.
    const waiterSession = await clients[6].session({ ttl: 5 });
    const waiting = clients[6].lock("cc/try", { session: waiterSession });
    const { pollUntil } = await import("./__tests__/cluster.js");
    await pollUntil(async () =>
      (await client.count({ prefix: "cc/try/" })) === 2n ? true : undefined,
    );
    await client.lease.revoke(waiterSession.leaseId);
    await expect(waiting).rejects.toBeInstanceOf(SessionExpiredError);
    await lock!.release();
    expect((await guarded()).succeeded).toBe(false);
    await session.close();
  });

  it("election: campaign, observe, proclaim, hand-over on resign", async () => {
    const a = clients[1].election("cc/elect");
    const b = clients[2].election("cc/elect");
    await expect(a.leader()).rejects.toBeInstanceOf(NoElectionLeaderError);
    const observed: string[] = [];
    const controller = new AbortController();
    const observing = (async () => {
      for await (const kv of clients[3]
        .election("cc/elect")
        .observe({ signal: controller.signal })) {
        observed.push(kv.string());
        if (observed.at(-1) === "b2") break;
      }
    })();
    await a.campaign("a");
    expect(a.isLeader).toBe(true);
    expect((await b.leader()).string()).toBe("a");
    let bLeads = false;
    const bCampaign = b.campaign("b").then(() => {
      bLeads = true;
    });
    await a.proclaim("a2");
    expect((await b.leader()).string()).toBe("a2");
    expect(bLeads).toBe(false);
    await expect(b.proclaim("nope")).rejects.toBeInstanceOf(NotElectionLeaderError);
    await a.resign();
    await bCampaign;
    expect(bLeads).toBe(true);
    expect((await a.leader()).string()).toBe("b");
    await expect(a.proclaim("again")).rejects.toBeInstanceOf(NotElectionLeaderError);
    await b.proclaim("b2");
    await observing;
    // Every value in order; the first observation may already be "a" or "a2".
    expect(observed.slice(-3)).toEqual(["a2", "b", "b2"]);
    await b.resign();
    await expect(a.leader()).rejects.toBeInstanceOf(NoElectionLeaderError);
    controller.abort();
  });

  it("election: an aborted campaign withdraws the candidacy", async () => {
    const a = clients[1].election("cc/elect2");
    await a.campaign("a");
    const controller = new AbortController();
    const b = clients[2].election("cc/elect2");
    const campaign = b.campaign("b", { signal: controller.signal });
    const { pollUntil } = await import("./__tests__/cluster.js");
    await pollUntil(async () =>
      (await client.count({ prefix: "cc/elect2/" })) === 2n ? true : undefined,
    );
    controller.abort();
    await expect(campaign).rejects.toBeInstanceOf(AbortError);
    expect(await client.count({ prefix: "cc/elect2/" })).toBe(1n);
    await a.resign();
  });

  it.each<Isolation>(["serializable-snapshot", "serializable", "repeatable-read"])(
    "STM (%s): concurrent read-modify-write transactions lose no update",
    async (isolation) => {
      const key = `cc/stm/${isolation}`;
      await Promise.all(
        clients.slice(0, 5).map(async (c) => {
          for (let i = 0; i < 4; i++) {
            await c.stm(
              async (stm) => {
                const n = Number((await stm.getString(key)) ?? "0");
                stm.put(key, String(n + 1));
                expect(await stm.getString(key)).toBe(String(n + 1)); // read your writes
              },
              { isolation, maxAttempts: 100 },
            );
          }
        }),
      );
      expect(await client.getString(key)).toBe("20");
    },
  );

  it("STM: gives up with STMConflictError after maxAttempts conflicts", async () => {
    let runs = 0;
    const err = await client
      .stm(
        async (stm) => {
          runs++;
          const n = Number((await stm.getString("cc/conflict")) ?? "0");
          await clients[1].put("cc/conflict", String(n + 100)); // a writer gets in between
          stm.put("cc/conflict", String(n + 1));
        },
        { maxAttempts: 3 },
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(STMConflictError);
    expect((err as STMConflictError).attempts).toBe(3);
    expect(runs).toBe(3);
    // read-committed does not check: the last writer wins.
    await client.stm(
      async (stm) => {
        await stm.get("cc/conflict");
        await clients[1].put("cc/conflict", "other");
        stm.put("cc/conflict", "mine");
      },
      { isolation: "read-committed" },
    );
    expect(await client.getString("cc/conflict")).toBe("mine");
  });

  it("STM: moves a balance between keys atomically, and can be aborted", async () => {
    await client.putJson("cc/acct/a", 100);
    await client.putJson("cc/acct/b", 0);
    await Promise.all(
      clients.slice(0, 4).map((c) =>
        c.stm(async (stm) => {
          const a = (await stm.getJson<number>("cc/acct/a")) ?? 0;
          const b = (await stm.getJson<number>("cc/acct/b")) ?? 0;
          stm.putJson("cc/acct/a", a - 10);
          stm.putJson("cc/acct/b", b + 10);
          expect(stm.rev("cc/acct/a")).toBeGreaterThan(0n);
        }),
      ),
    );
    expect(await client.getJson("cc/acct/a")).toBe(60);
    expect(await client.getJson("cc/acct/b")).toBe(40);
    await expect(
      client.stm(() => undefined, { signal: AbortSignal.abort() }),
    ).rejects.toBeInstanceOf(AbortError);
    const deleted = await client.stm(async (stm) => {
      stm.delete("cc/acct/b");
      return await stm.get("cc/acct/b");
    });
    expect(deleted).toBeUndefined();
    expect(await client.get("cc/acct/b")).toBeUndefined();
  });
});
