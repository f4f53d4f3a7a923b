/**
 * A seeded random walk over three fake members sharing one lease table and one clock:
 * grants, keep-alives, clock steps, ticks, proposals applied or lost, leader changes
 * where the old leader's proposals commit in its term, get lost, or reach the log later
 * in another term. Safety, checked at every applied expiry: no lease is revoked by
 * expiry before its TTL has passed since its last answered keep-alive (or its grant).
 * Liveness, at the end: once keep-alives stop, a stable leader revokes every lease.
 *
 * Seeds: CHAINFIRE_LEASE_SEED=<n> runs one seed (printed in the test name).
 */
import type { internalpb } from "@chainfire/api";
import { describe, expect, it } from "vitest";
import { seededRandom } from "../raft-driver-config.js";
import { type FakeMember, fakeCluster, settle } from "./__tests__/fake-member.js";

const SEEDS = process.env.CHAINFIRE_LEASE_SEED
  ? [Number(process.env.CHAINFIRE_LEASE_SEED)]
  : [1, 2, 3, 4, 5, 6];
const STEPS = 1500;
const EXTEND_MS = 1000;

describe("Lessor random walk", () => {
  it.each(SEEDS)(
    "seed %i: never expires early across leader changes; expires once idle",
    async (seed) => {
      const rnd = seededRandom(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
      const { table, clock, members } = fakeCluster(3, {
        checkpointIntervalMs: 1_000,
        promoteExtendMs: EXTEND_MS,
        expiredRetryMs: 2_000,
      });
      /** Per lease: TTL (s) and the time of the last renewal the client saw (or the grant). */
      const renewed = new Map<bigint, { ttl: number; at: number }>();
      const violations: string[] = [];
      /** Proposals of deposed leaders that reach the log later, in another term. */
      const late: { req: internalpb.LessorRequest; settle(ok: boolean): void }[] = [];
      const pendingKeepAlives = new Set<AbortController>();
      let term = 1n;
      let leader: FakeMember | undefined;
      let nextId = 1n;

      const check = (revoked: bigint[] | "skipped", what: string) => {
        if (revoked === "skipped") return;
        for (const id of revoked) {
          const r = renewed.get(id);
          if (r && clock.now() < r.at + r.ttl * 1000) {
            violations.push(
              `${what}: lease ${id} revoked ${r.at + r.ttl * 1000 - clock.now()} ms early (seed ${seed})`,
            );
          }
          renewed.delete(id);
        }
      };

      const elect = async () => {
        const old = leader;
        term++;
        if (old !== undefined) {
          // The old leader's proposals: committed in its term (applied before the new
          // leader promotes), lost, or carried into the new term later.
          while (old.proposals.length > 0) {
            const fate = rnd();
            if (fate < 0.4) check(await old.applyNext(), "committed in the old term");
            else if (fate < 0.7) await old.failNext();
            else {
              const q = old.proposals.shift();
              if (q)
                late.push({
                  req: q.req,
                  settle: (ok) => (ok ? q.resolve({}) : q.reject(new Error("x"))),
                });
            }
          }
          for (const ac of pendingKeepAlives) ac.abort();
        }
        const next = pick(members);
        for (const m of members) if (m !== next) m.setLeadership(false, term, next.id);
        next.setLeadership(true, term, next.id);
        await settle();
        leader = next;
      };

      const keepAlive = (id: bigint) => {
        const m = leader;
        if (m === undefined) return;
        const sent = clock.now();
        const ac = new AbortController();
        pendingKeepAlives.add(ac);
        m.lessor.keepAlive(id, ac.signal).then(
          (ttl) => {
            pendingKeepAlives.delete(ac);
            const r = renewed.get(id);
            if (ttl > 0n && r) r.at = Math.max(r.at, sent);
          },
          () => pendingKeepAlives.delete(ac),
        );
      };

      await elect();
      for (let step = 0; step < STEPS; step++) {
        const m = leader as FakeMember;
        const a = rnd();
        if (a < 0.25) clock.advance(Math.floor(rnd() * 700));
        else if (a < 0.4) m.lessor.tick();
        else if (a < 0.5) {
          const id = nextId++;
          const ttl = 1 + Math.floor(rnd() * 4);
          table.grant(id, ttl);
          renewed.set(id, { ttl, at: clock.now() });
        } else if (a < 0.65) {
          const ids = [...table.records.keys()];
          if (ids.length > 0) keepAlive(pick(ids));
        } else if (a < 0.85) {
          if (m.proposals.length > 0) check(await m.applyNext(), "applied");
        } else if (a < 0.88) {
          if (m.proposals.length > 0) await m.failNext();
        } else if (a < 0.9) {
          const l = late.shift();
          if (l) {
            // Reaches the log in the current term: must be skipped.
            const out = table.applyLessor(l.req, term);
            check(out, "a deposed leader's late proposal");
            l.settle(out !== "skipped");
          }
        } else if (a < 0.92) {
          await elect();
        } else if (a < 0.93) {
          // A deposed member's lessor keeps ticking: it must propose nothing.
          for (const o of members) {
            if (o === m) continue;
            const before = o.proposals.length;
            o.lessor.tick();
            expect(o.proposals.length).toBe(before);
          }
        }
        await settle();
      }
      expect(violations).toEqual([]);

      // Liveness: no more keep-alives; a stable leader revokes everything.
      for (const ac of pendingKeepAlives) ac.abort();
      await settle();
      const m = leader as FakeMember;
      for (let i = 0; i < 200 && table.records.size > 0; i++) {
        clock.advance(500);
        m.lessor.tick();
        while (m.proposals.length > 0) check(await m.applyNext(), "idle");
      }
      expect(violations).toEqual([]);
      expect([...table.records.keys()]).toEqual([]);
      for (const o of members) o.lessor.close();
    },
  );
});
