import fs from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Engine, WriteBatch } from "../engine.js";
import { isStorageError } from "../errors.js";
import { openEngine, tempDir } from "../raft-log/__tests__/support.js";
import { LeaseAlreadyExistsError, LeaseStore } from "./lease-store.js";

describe("LeaseStore", () => {
  let dir: string;
  let engine: Engine;

  beforeEach(async () => {
    dir = tempDir();
    engine = await openEngine(dir);
  });

  afterEach(async () => {
    await engine.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function write(leases: LeaseStore, f: (b: WriteBatch) => void) {
    const b = engine.batch();
    f(b);
    await engine.write(b, { sync: true });
    leases.commit(b);
    b.close();
  }

  async function reopen(): Promise<LeaseStore> {
    await engine.close();
    engine = await openEngine(dir);
    return LeaseStore.open(engine);
  }

  it("grants, checkpoints, renews and revokes, and loads the table after a restart", async () => {
    let leases = await LeaseStore.open(engine);
    const big = 0x7fff_ffff_ffff_fff0n;
    await write(leases, (b) => {
      leases.grant(b, 42n, 60);
      leases.grant(b, 7n, 5);
      leases.grant(b, big, 3600);
      expect(leases.checkpoint(b, 42n, 31)).toBe(true);
      expect(leases.checkpoint(b, 1000n, 31)).toBe(false);
    });
    leases = await reopen();
    expect(leases.list()).toEqual([
      { id: 7n, ttl: 5, remainingTtl: 0 },
      { id: 42n, ttl: 60, remainingTtl: 31 },
      { id: big, ttl: 3600, remainingTtl: 0 },
    ]);
    await write(leases, (b) => {
      expect(leases.renew(b, 42n)).toBe(true);
      expect(leases.revoke(b, 7n)).toEqual({ id: 7n, ttl: 5, remainingTtl: 0 });
    });
    leases = await reopen();
    expect(leases.size).toBe(2);
    expect(leases.get(42n)).toEqual({ id: 42n, ttl: 60, remainingTtl: 0 });
    expect(leases.has(7n)).toBe(false);
  });

  it("answers etcd's errors for a duplicate grant and an unknown revoke", async () => {
    const leases = await LeaseStore.open(engine);
    const b = engine.batch();
    leases.grant(b, 1n, 10);
    expect(() => leases.grant(b, 1n, 10)).toThrow(LeaseAlreadyExistsError);
    expect(() => leases.grant(b, 1n, 10)).toThrow("etcdserver: lease already exists");
    let err: unknown;
    try {
      leases.revoke(b, 2n);
    } catch (e) {
      err = e;
    }
    expect(isStorageError(err, "ErrLeaseNotFound")).toBe(true);
    b.close();
  });

  it("abort undoes everything staged in a batch", async () => {
    const leases = await LeaseStore.open(engine);
    await write(leases, (b) => leases.grant(b, 1n, 10));
    const b = engine.batch();
    leases.grant(b, 2n, 20);
    leases.checkpoint(b, 1n, 3);
    leases.revoke(b, 1n);
    expect(leases.list().map((l) => l.id)).toEqual([2n]);
    leases.abort(b);
    b.close();
    expect(leases.list()).toEqual([{ id: 1n, ttl: 10, remainingTtl: 0 }]);
  });
});
