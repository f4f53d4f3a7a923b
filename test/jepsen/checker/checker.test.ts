/**
 * The checkers on known-good and known-bad histories. Every bad history here is one a
 * real bug produces (stale read, lost write, revision going backwards, a CAS over a
 * newer write, a value from nowhere) and must be rejected; every good one is a legal
 * etcd behaviour under concurrency and unknown outcomes and must be accepted.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Op } from "../history.js";
import type { KvInput, KvOutput, KvState } from "./kv-model.js";
import { kvModel } from "./kv-model.js";
import { checkLinearizable } from "./linearizable.js";
import { checkRevisions } from "./revisions.js";
import { simulate } from "./simulate.js";
import { checkOperations, type Operation } from "./wgl.js";

/** The definition, by brute force: some real-time-respecting order the model accepts. */
function bruteForce(ops: Operation<KvInput, KvOutput>[]): boolean {
  const search = (left: number[], state: KvState): boolean => {
    if (left.length === 0) return true;
    return left.some((i) => {
      if (left.some((j) => ops[j].ret < ops[i].call)) return false;
      const rest = left.filter((j) => j !== i);
      return kvModel.step(state, ops[i].input, ops[i].output).some((next) => search(rest, next));
    });
  };
  return search(
    ops.map((_, i) => i),
    kvModel.init(),
  );
}

const arbitraryOperation: fc.Arbitrary<Operation<KvInput, KvOutput>> = fc
  .record({
    call: fc.integer({ min: 0, max: 20 }),
    length: fc.integer({ min: 0, max: 8 }),
    unknown: fc.boolean(),
    kind: fc.constantFrom("get", "put", "cas", "cas-failed", "del"),
    value: fc.constantFrom("a", "b", "c"),
    rev: fc.integer({ min: 0, max: 4 }),
  })
  .map(({ call, length, unknown, kind, value, rev }) => {
    const ret = call + length;
    const v = rev === 0 ? null : value;
    switch (kind) {
      case "get":
        return { call, ret, input: { f: "get" }, output: { f: "get", value: v, modRev: rev } };
      case "put":
        return unknown
          ? { call, ret: Infinity, input: { f: "put", value }, output: { f: "unknown" } }
          : { call, ret, input: { f: "put", value }, output: { f: "wrote", rev: rev + 1 } };
      case "cas":
        return unknown
          ? {
              call,
              ret: Infinity,
              input: { f: "cas", expect: rev, value },
              output: { f: "unknown" },
            }
          : {
              call,
              ret,
              input: { f: "cas", expect: rev, value },
              output: { f: "wrote", rev: rev + 1 },
            };
      case "cas-failed":
        return {
          call,
          ret,
          input: { f: "cas", expect: (rev + 1) % 4, value },
          output: { f: "cas-failed", value: v, modRev: rev },
        };
      default:
        return unknown
          ? { call, ret: Infinity, input: { f: "del" }, output: { f: "unknown" } }
          : { call, ret, input: { f: "del" }, output: { f: "del", deleted: rev % 2 } };
    }
  });

/** History builder: ops get ids and client numbers in the order written. */
function history(...ops: Partial<Op>[]): Op[] {
  return ops.map((o, id) => ({
    id,
    client: o.client ?? id,
    member: 0,
    f: "get",
    key: "x",
    invoke: 0,
    status: "ok",
    ...o,
  })) as Op[];
}
const put = (key: string, value: string, at: [number, number?], rev?: number): Partial<Op> => ({
  f: "put",
  key,
  value,
  invoke: at[0],
  complete: at[1],
  status: at[1] === undefined ? "unknown" : "ok",
  rev,
});
const get = (
  key: string,
  at: [number, number],
  read: string | null,
  readModRev: number,
  rev: number,
): Partial<Op> => ({ f: "get", key, invoke: at[0], complete: at[1], read, readModRev, rev });
const cas = (
  key: string,
  expect: number,
  value: string,
  at: [number, number?],
  result?: { rev: number } | { read: string | null; readModRev: number; rev: number },
): Partial<Op> => ({
  f: "cas",
  key,
  expect,
  value,
  invoke: at[0],
  complete: at[1],
  status: at[1] === undefined ? "unknown" : "ok",
  ...(result === undefined
    ? {}
    : "read" in result
      ? { succeeded: false, ...result }
      : { succeeded: true, rev: result.rev }),
});

const verdict = (ops: Op[]) => checkLinearizable(ops, { timeoutMs: 10_000 }).valid;

describe("wgl search", () => {
  it("accepts the empty history and a single operation", () => {
    expect(checkOperations(kvModel, []).verdict).toBe("ok");
    const one = [
      {
        call: 0,
        ret: 1,
        input: { f: "get" as const },
        output: { f: "get" as const, value: null, modRev: 0 },
      },
    ];
    expect(checkOperations(kvModel, one).verdict).toBe("ok");
  });

  it("reorders concurrent operations and backtracks out of dead ends", () => {
    // put a ‖ put b ‖ get→a, then get→b: only put a < get a < put b < get b works,
    // though put b was called first.
    const ops = history(
      put("x", "b", [0, 10], 3),
      put("x", "a", [1, 10], 2),
      get("x", [2, 10], "a", 2, 2),
      get("x", [11, 12], "b", 3, 3),
    );
    expect(verdict(ops)).toBe(true);
  });

  it("agrees with brute force on small random histories", () => {
    let legal = 0;
    fc.assert(
      fc.property(fc.array(arbitraryOperation, { minLength: 1, maxLength: 6 }), (ops) => {
        const expected = bruteForce(ops);
        if (expected) legal++;
        expect(checkOperations(kvModel, ops).verdict).toBe(expected ? "ok" : "illegal");
      }),
      { numRuns: 3000 },
    );
    expect(legal).toBeGreaterThan(100); // both verdicts were exercised
  });

  it("gives up with verdict unknown when the budget is spent", () => {
    // Many unknown writes of values nobody reads plus one impossible read: with the
    // pruning of unobserved writes switched off by a duplicated value, the search space
    // is 2^n orders.
    const ops: Partial<Op>[] = [];
    for (let i = 0; i < 40; i++) ops.push(put("x", i === 1 ? "dup" : `v${i}`, [i]));
    ops.push(put("x", "dup", [0]));
    ops.push(get("x", [100, 101], "never", 7, 90));
    const result = checkLinearizable(history(...ops), { timeoutMs: 200 });
    expect(result.valid).toBe("unknown");
    expect(result.keys[0].explanation).toMatch(/gave up/);
  });
});

describe("linearizability: known-good histories", () => {
  it("sequential put, get, cas, failed cas", () => {
    const ops = history(
      put("x", "a", [0, 1], 2),
      get("x", [2, 3], "a", 2, 2),
      cas("x", 2, "b", [4, 5], { rev: 3 }),
      cas("x", 2, "c", [6, 7], { read: "b", readModRev: 3, rev: 3 }),
      get("x", [8, 9], "b", 3, 3),
    );
    expect(verdict(ops)).toBe(true);
  });

  it("a read concurrent with a write may see either value", () => {
    const before = history(
      put("x", "a", [0, 1], 2),
      put("x", "b", [2, 6], 3),
      get("x", [3, 4], "a", 2, 2),
    );
    const after = history(
      put("x", "a", [0, 1], 2),
      put("x", "b", [2, 6], 3),
      get("x", [3, 4], "b", 3, 3),
    );
    expect(verdict(before)).toBe(true);
    expect(verdict(after)).toBe(true);
  });

  it("a write of unknown outcome may never take effect", () => {
    const ops = history(
      put("x", "a", [0]),
      get("x", [5, 6], null, 0, 1),
      get("x", [50, 51], null, 0, 1),
    );
    expect(verdict(ops)).toBe(true);
  });

  it("a write of unknown outcome may take effect long after its client gave up", () => {
    const ops = history(
      put("x", "a", [0]),
      get("x", [5, 6], null, 0, 1),
      get("x", [50, 51], "a", 9, 9),
      get("x", [60, 61], "a", 9, 9),
    );
    expect(verdict(ops)).toBe(true);
  });

  it("an unknown cas decides a later failed cas", () => {
    const ops = history(
      put("x", "a", [0, 1], 2),
      cas("x", 2, "b", [2]),
      cas("x", 2, "c", [10, 11], { read: "b", readModRev: 5, rev: 5 }),
    );
    expect(verdict(ops)).toBe(true);
  });

  it("keys are independent: revisions interleave across keys", () => {
    const ops = history(
      put("x", "a", [0, 1], 2),
      put("y", "b", [0, 2], 3),
      put("x", "c", [3, 4], 4),
      get("y", [5, 6], "b", 3, 4),
      get("x", [5, 6], "c", 4, 4),
    );
    expect(verdict(ops)).toBe(true);
    expect(checkRevisions(ops)).toEqual([]);
  });

  it("accepts simulated linearizable histories (seeded)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 }), (seed) => {
        const { history: ops } = simulate({
          seed,
          clients: 5,
          opsPerClient: 40,
          keys: 3,
          unknown: 0.1,
        });
        const result = checkLinearizable(ops, { timeoutMs: 10_000 });
        expect(result.valid, JSON.stringify(result.keys.map((k) => k.explanation))).toBe(true);
        expect(checkRevisions(ops)).toEqual([]);
      }),
      { numRuns: 60 },
    );
  });

  it("checks a long, concurrent history in reasonable time", () => {
    const { history: ops } = simulate({
      seed: 7,
      clients: 12,
      opsPerClient: 500,
      keys: 2,
      unknown: 0.05,
    });
    const result = checkLinearizable(ops, { timeoutMs: 20_000 });
    expect(result.valid).toBe(true);
    expect(result.keys.reduce((n, k) => n + k.checked, 0)).toBeGreaterThan(4000);
  });
});

describe("linearizability: known-bad histories", () => {
  it("stale read after an acknowledged write (#20418's shape)", () => {
    const ops = history(
      put("x", "a", [0, 1], 2),
      put("x", "b", [2, 3], 3),
      get("x", [4, 5], "a", 2, 2),
    );
    const result = checkLinearizable(ops);
    expect(result.valid).toBe(false);
    expect(result.keys[0].explanation).toMatch(/not linearizable/);
    expect(checkRevisions(ops).map((v) => v.rule)).toContain("monotonic");
  });

  it("lost acknowledged write (#14370's shape: ack before fsync, then crash)", () => {
    const ops = history(
      put("x", "a", [0, 1], 2),
      put("x", "b", [2, 3], 3),
      get("x", [10, 11], "a", 2, 4),
    );
    expect(verdict(ops)).toBe(false);
    expect(checkRevisions(ops).map((v) => v.rule)).toContain("read");
  });

  it("a value nobody wrote", () => {
    expect(verdict(history(put("x", "a", [0, 1], 2), get("x", [2, 3], "z", 2, 2)))).toBe(false);
  });

  it("the right value at the wrong mod_revision", () => {
    expect(verdict(history(put("x", "a", [0, 1], 2), get("x", [2, 3], "a", 3, 3)))).toBe(false);
  });

  it("a key's revision going backwards", () => {
    expect(verdict(history(put("x", "a", [0, 1], 5), put("x", "b", [2, 3], 4)))).toBe(false);
  });

  it("two readers see two writes in opposite orders", () => {
    const ops = history(
      put("x", "a", [0, 10], 2),
      put("x", "b", [0, 10], 3),
      get("x", [1, 2], "a", 2, 3),
      get("x", [3, 4], "b", 3, 3),
      get("x", [1, 2], "b", 3, 3),
      get("x", [3, 4], "a", 2, 3),
    );
    expect(verdict(ops)).toBe(false);
  });

  it("cas that succeeded though the key had moved on", () => {
    const ops = history(
      put("x", "a", [0, 1], 2),
      put("x", "b", [2, 3], 3),
      cas("x", 2, "c", [4, 5], { rev: 4 }),
    );
    expect(verdict(ops)).toBe(false);
    expect(checkRevisions(ops).map((v) => v.rule)).toContain("cas");
  });

  it("cas that failed though its compare held", () => {
    const ops = history(
      put("x", "a", [0, 1], 2),
      cas("x", 2, "c", [4, 5], { read: "a", readModRev: 2, rev: 2 }),
    );
    expect(verdict(ops)).toBe(false);
  });

  it("an unknown write observed before it was invoked", () => {
    expect(verdict(history(get("x", [0, 1], "a", 2, 2), put("x", "a", [5])))).toBe(false);
  });

  it("a deleted key that comes back", () => {
    const ops = history(
      put("x", "a", [0, 1], 2),
      { f: "del", key: "x", invoke: 2, complete: 3, deleted: 1, rev: 3 },
      get("x", [4, 5], "a", 2, 3),
    );
    expect(verdict(ops)).toBe(false);
  });

  it("rejects simulated histories with observable stale reads or lost writes", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 }), fc.boolean(), (seed, stale) => {
        const sim = simulate({
          seed,
          clients: 4,
          opsPerClient: 40,
          keys: 2,
          unknown: 0.05,
          ...(stale ? { staleReads: 0.2 } : { lostWrites: 0.2 }),
        });
        const observable = stale ? sim.visibleStaleReads : sim.lostWrites;
        fc.pre(observable > 0);
        expect(checkLinearizable(sim.history, { timeoutMs: 10_000 }).valid).toBe(false);
      }),
      { numRuns: 40 },
    );
  });
});

describe("revision invariants", () => {
  it("flags two writes at one revision", () => {
    const ops = history(put("x", "a", [0, 1], 2), put("y", "b", [0, 1], 2));
    expect(checkRevisions(ops).map((v) => v.rule)).toEqual(["unique"]);
  });

  it("flags a revision going backwards across keys and members", () => {
    const ops = history(put("x", "a", [0, 1], 5), get("y", [2, 3], null, 0, 4));
    expect(checkRevisions(ops).map((v) => v.rule)).toEqual(["monotonic"]);
  });

  it("flags a read whose mod_revision belongs to another key's write", () => {
    const ops = history(
      put("x", "a", [0, 1], 2),
      put("y", "a", [2, 3], 3),
      get("x", [4, 5], "a", 3, 3),
    );
    expect(checkRevisions(ops).map((v) => v.rule)).toContain("read");
  });

  it("accepts reads of a deleted key", () => {
    const ops = history(
      put("x", "a", [0, 1], 2),
      { f: "del", key: "x", invoke: 2, complete: 3, deleted: 1, rev: 3 },
      get("x", [4, 5], null, 0, 3),
    );
    expect(checkRevisions(ops)).toEqual([]);
    expect(verdict(ops)).toBe(true);
  });
});

describe("preparation of unknown writes", () => {
  it("keeps unobserved unknown writes when a cas names a revision nobody reported", () => {
    // put b (unknown, never read) took effect at revision 3; a client that guessed
    // revision 3 succeeds with its cas: legal, and only explained by the unknown put.
    const ops = history(
      put("x", "a", [0, 1], 2),
      put("x", "b", [2]),
      cas("x", 3, "c", [10, 11], { rev: 4 }),
      get("x", [12, 13], "c", 4, 4),
    );
    expect(verdict(ops)).toBe(true);
  });
});
