/** The kept-lease check: a key may vanish only a full TTL after the last answered keep-alive was sent. */
import { expect, it } from "vitest";
import { checkKeptLease, type LeaseLog } from "../workloads/leases.js";

function log(reads: LeaseLog["reads"], keepAlives: LeaseLog["keepAlives"]): LeaseLog {
  return { ttlSec: 4, kept: { id: "1", key: "k" }, keepAlives, reads, unkept: [], errors: [] };
}

it("accepts a key that vanishes a TTL after the last answered keep-alive", () => {
  const keepAlives = [{ sent: 0, answered: 10, ttl: 4 }, { sent: 1000 }, { sent: 2000 }];
  const reads = [
    { invoke: 500, complete: 510, exists: true },
    { invoke: 5000, complete: 5010, exists: false },
  ];
  expect(checkKeptLease(log(reads, keepAlives))).toEqual([]);
});

it("flags a key gone before its TTL ran out (an early revoke, etcd #15247's symptom)", () => {
  const keepAlives = [
    { sent: 0, answered: 10, ttl: 4 },
    { sent: 1000, answered: 1010, ttl: 4 },
  ];
  const reads = [{ invoke: 2500, complete: 2510, exists: false }];
  expect(checkKeptLease(log(reads, keepAlives)).join()).toMatch(/gone at 2.51 s, 1510 ms after/);
});

it("does not count keep-alives answered with TTL 0 (lease already gone)", () => {
  const keepAlives = [
    { sent: 0, answered: 10, ttl: 4 },
    { sent: 4500, answered: 4510, ttl: 0 },
  ];
  const reads = [{ invoke: 4600, complete: 4610, exists: false }];
  expect(checkKeptLease(log(reads, keepAlives))).toEqual([]);
});
