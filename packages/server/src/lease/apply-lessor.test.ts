/**
 * The apply side of the lessor, through the real applier and storage: a LessorRequest
 * revokes and checkpoints only from an entry of the term it was decided in.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ErrLeaderChanged, type EtcdError, internalpb } from "@chainfire/api";
import { type Entry, EntryType } from "@chainfire/raft";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { testLogger } from "../__tests__/cluster.js";
import { type ApplyEnv, type ApplyOutput, applyEntries } from "../apply/applier.js";
import { closeStorage, type MemberStorage, openStorage } from "../bootstrap.js";

const b = (s: string) => Buffer.from(s);

describe("applying LessorRequests", () => {
  let dir: string;
  let s: MemberStorage;
  let env: ApplyEnv;
  let index = 0;
  const hooks: string[] = [];

  beforeEach(async () => {
    index = 0;
    hooks.length = 0;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "chainfire-apply-lessor-"));
    s = await openStorage(path.join(dir, "db"), testLogger("apply-lessor"));
    env = {
      meta: s.meta,
      leases: s.leases,
      alarms: s.alarms,
      header: (revision) => ({ clusterId: 1n, memberId: 2n, revision, raftTerm: 9n }),
      applyConfChange: () => {
        throw new Error("no conf changes here");
      },
      warn: () => {},
      minLeaseTtl: 2,
      leaseHooks: {
        granted: (id, ttl) => hooks.push(`granted ${id} ${ttl}`),
        revoked: (id) => hooks.push(`revoked ${id}`),
      },
    };
  });
  afterEach(async () => {
    await closeStorage(s);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function entry(term: number, request: internalpb.InternalRequest["request"]): Entry {
    index++;
    return {
      index,
      term,
      type: EntryType.Normal,
      data: internalpb.InternalRequest.encode({
        header: { id: BigInt(index), username: "", authRevision: 0n },
        request,
      }).finish(),
    };
  }

  async function apply(entries: Entry[]): Promise<ApplyOutput> {
    const w = s.store.beginWrite();
    const out = applyEntries(env, w, entries);
    await w.commit({ sync: false });
    s.meta.commit(w.batch);
    s.leases.commit(w.batch);
    return out;
  }

  async function setUp(): Promise<bigint> {
    const out = await apply([
      entry(3, { $case: "leaseGrant", value: { ID: 1n, TTL: 10n } }),
      entry(3, { $case: "leaseGrant", value: { ID: 2n, TTL: 10n } }),
      entry(3, { $case: "put", value: put("k1", 1n) }),
      entry(3, { $case: "put", value: put("k2", 1n) }),
      entry(3, { $case: "put", value: put("k3", 2n) }),
    ]);
    expect(out.outcomes.every((o) => o.outcome.ok)).toBe(true);
    return s.store.revision;
  }

  const put = (key: string, lease: bigint) => ({
    key: b(key),
    value: b("v"),
    lease,
    prevKv: false,
    ignoreValue: false,
    ignoreLease: false,
  });

  const lessor = (term: bigint, expired: bigint[], checkpoints: [bigint, bigint][] = []) =>
    ({
      $case: "lessor",
      value: {
        term,
        expired,
        checkpoints: checkpoints.map(([ID, remainingTTL]) => ({ ID, remainingTTL })),
      },
    }) as const;

  it("from an entry of its own term: revokes with the keys (a revision per lease with keys) and checkpoints", async () => {
    const rev = await setUp();
    expect(hooks).toEqual(["granted 1 10", "granted 2 10"]);
    const out = await apply([entry(4, lessor(4n, [1n, 99n], [[2n, 7n]]))]);
    const o = out.outcomes[0].outcome;
    expect(o.ok && o.value).toEqual({
      header: { clusterId: 1n, memberId: 2n, revision: rev + 1n, raftTerm: 9n },
      revoked: [1n],
    });
    expect(s.store.revision).toBe(rev + 1n);
    expect(s.store.get(b("k1"))).toBeUndefined();
    expect(s.store.get(b("k2"))).toBeUndefined();
    expect(s.store.get(b("k3"))?.lease).toBe(2n);
    expect(s.leases.has(1n)).toBe(false);
    expect(s.leases.get(2n)).toEqual({ id: 2n, ttl: 10, remainingTtl: 7 });
    expect(hooks.slice(2)).toEqual(["revoked 1"]);
    // A checkpoint of 0 clears the record (full TTL for the next leader).
    await apply([entry(4, lessor(4n, [], [[2n, 0n]]))]);
    expect(s.leases.get(2n)?.remainingTtl).toBe(0);
  });

  it("from an entry of another term (a deposed leader's decision): skipped everywhere, nothing changes", async () => {
    const rev = await setUp();
    const out = await apply([
      entry(5, lessor(4n, [1n, 2n], [[2n, 3n]])),
      entry(5, { $case: "leaseRevoke", value: { ID: 2n } }),
    ]);
    const o = out.outcomes[0].outcome;
    expect(o.ok).toBe(false);
    expect(!o.ok && (o.error as EtcdError).is(ErrLeaderChanged)).toBe(true);
    expect(s.leases.get(1n)).toEqual({ id: 1n, ttl: 10, remainingTtl: 0 });
    expect(s.store.get(b("k1"))?.lease).toBe(1n);
    // The client's own revoke in the same batch still applies (one revision).
    expect(s.store.revision).toBe(rev + 1n);
    expect(s.store.get(b("k3"))).toBeUndefined();
    expect(hooks.slice(2)).toEqual(["revoked 2"]);
  });
});
