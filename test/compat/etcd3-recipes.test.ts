/**
 * The `etcd3` npm package's concurrency recipes, unchanged, against a live three-member
 * cluster: Lock (lease + create-revision txn), Election (campaign / observe / proclaim /
 * resign: lease, txn, range by create revision, watch) and STM transactions (optimistic
 * txns on mod revisions, retried on conflict). Each client talks to a different member.
 */
import { Etcd3, EtcdLockFailedError } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../harness/index.js";
import { useCluster } from "../harness/vitest.js";
import { compatTargets } from "./targets.js";

for (const kind of compatTargets()) {
  describe(`etcd3 npm recipes against ${kind}`, () => {
    const cluster = useCluster({ kind, size: 3 });
    const clients: Etcd3[] = [];
    /** A client of member `i` only. */
    const on = (i: number) => clients[i % clients.length];

    beforeAll(() => {
      for (const ep of cluster().endpoints) clients.push(new Etcd3({ hosts: [ep] }));
    });
    afterAll(() => {
      for (const c of clients) c.close();
    });

    it("lock: exclusive while held, free after release; lock.do serializes increments", async () => {
      const held = await on(0).lock("recipes/lock/a").ttl(5).acquire();
      await expect(on(1).lock("recipes/lock/a").acquire()).rejects.toBeInstanceOf(
        EtcdLockFailedError,
      );
      await held.release();
      const second = await on(1).lock("recipes/lock/a").acquire();
      await second.release();
      expect(await on(2).getAll().prefix("recipes/lock/a").count()).toBe(0);

      // Three workers (one per member) each add 1 five times under the lock; a failed
      // acquisition is retried. Lost updates would leave the counter below 15.
      await on(0).put("recipes/counter").value(0);
      let contended = 0;
      await Promise.all(
        [0, 1, 2].map(async (w) => {
          for (let n = 0; n < 5; ) {
            try {
              await on(w)
                .lock("recipes/lock/counter")
                .ttl(5)
                .do(async () => {
                  const v = Number(await on(w).get("recipes/counter").string());
                  await on(w)
                    .put("recipes/counter")
                    .value(v + 1);
                });
              n++;
            } catch (err) {
              if (!(err instanceof EtcdLockFailedError)) throw err;
              contended++;
              await new Promise((r) => setTimeout(r, 5 + w * 3)); // back off, then retry
            }
          }
        }),
      );
      expect(await on(1).get("recipes/counter").number()).toBe(15);
      console.info(`lock: ${contended} contended acquisitions retried`);
    });

    let attempt = 0;
    it("election: campaign, observe, proclaim, resign hands over to the next candidate", async () => {
      // A fresh election per attempt: a retry must not queue behind the campaigns of a
      // failed first attempt (their leases are still kept alive by these clients).
      const name = `recipes-el-${++attempt}`;
      const first = on(0).election(name, 5);
      const second = on(1).election(name, 5);
      const a = first.campaign("alpha");
      await a.wait();
      const b = second.campaign("beta");
      // Listen from the start: "elected" may fire before a later b.wait() would subscribe.
      const bElected = b.wait();
      let elected = false;
      bElected.then(
        () => {
          elected = true;
        },
        () => {},
      );
      const observer = await on(2).election(name, 5).observe();
      const seen: string[] = [];
      observer.on("change", (v: string | undefined) => seen.push(String(v)));
      try {
        expect(observer.leader()).toBe("alpha");
        expect(await on(2).election(name).leader()).toBe("alpha");
        await a.proclaim("alpha-2");
        await pollUntil(() => (observer.leader() === "alpha-2" ? true : undefined), {
          timeoutMs: 10_000,
          what: "the observer seeing the proclaimed value",
        });
        expect(elected).toBe(false);
        await a.resign();
        await bElected;
        await pollUntil(() => (observer.leader() === "beta" ? true : undefined), {
          timeoutMs: 10_000,
          what: "the observer seeing the new leader",
        });
        expect(seen).toContain("alpha-2");
        expect(seen.at(-1)).toBe("beta");
      } finally {
        await Promise.allSettled([a.resign(), b.resign(), observer.cancel()]);
      }
    });

    it("STM: concurrent transfers keep the total (conflicting transactions retry)", async () => {
      // Both accounts in one txn: etcd3's SerializableSnapshot commit compares every written
      // key's mod revision with the earliest one read (its reading of Go's STM), so keys
      // written by separate puts would conflict forever, against etcd too.
      const setup = await on(0)
        .if("recipes/acct/a", "Create", "==", 0)
        .then(on(0).put("recipes/acct/a").value(100), on(0).put("recipes/acct/b").value(0))
        .commit();
      expect(setup.succeeded).toBe(true);
      // Ten transfers of 10 from a to b, from every member at once, each read-modify-write.
      await Promise.all(
        Array.from({ length: 10 }, (_, t) =>
          on(t)
            .stm({ retries: 50 })
            .transact(async (tx) => {
              const a = Number(await tx.get("recipes/acct/a").string());
              const b = Number(await tx.get("recipes/acct/b").string());
              await tx.put("recipes/acct/a").value(a - 10);
              await tx.put("recipes/acct/b").value(b + 10);
            }),
        ),
      );
      expect(await on(2).get("recipes/acct/a").number()).toBe(0);
      expect(await on(2).get("recipes/acct/b").number()).toBe(100);
    });
  });
}
