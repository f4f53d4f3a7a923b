import { etcdserverpb, type mvccpb } from "@chainfire/api";
import { intervalContains, keyInterval } from "@chainfire/storage";
import { describe, expect, it } from "vitest";
import { Rng, testSeed } from "./__tests__/fixture.js";
import { fragmentResponse, responseSize } from "./response-size.js";
import { Watcher } from "./watcher.js";
import { WatcherGroup } from "./watcher-group.js";

function randomBigint(rng: Rng): bigint {
  switch (rng.int(5)) {
    case 0:
      return 0n;
    case 1:
      return BigInt(rng.int(200));
    case 2:
      return BigInt(rng.int(2 ** 31)) * BigInt(rng.int(2 ** 31));
    case 3:
      return (1n << 63n) - 1n;
    default:
      return -BigInt(1 + rng.int(1000));
  }
}

function randomKv(rng: Rng): mvccpb.KeyValue {
  return {
    key: Buffer.alloc(rng.int(3) === 0 ? 0 : rng.int(300), 7),
    createRevision: randomBigint(rng),
    modRevision: randomBigint(rng),
    version: randomBigint(rng),
    value: Buffer.alloc(rng.int(4) === 0 ? rng.int(40_000) : rng.int(50), 9),
    lease: randomBigint(rng),
  };
}

function randomResponse(rng: Rng): etcdserverpb.WatchResponse {
  const events: mvccpb.Event[] = [];
  const n = rng.int(12);
  for (let i = 0; i < n; i++) {
    events.push({
      type: rng.int(2),
      kv: randomKv(rng),
      prevKv: rng.chance(0.5) ? randomKv(rng) : undefined,
    });
  }
  return {
    header: rng.chance(0.9)
      ? {
          clusterId: randomBigint(rng) & ((1n << 64n) - 1n),
          memberId: BigInt(rng.int(1000)),
          revision: randomBigint(rng),
          raftTerm: BigInt(rng.int(10)),
        }
      : undefined,
    watchId: randomBigint(rng),
    created: rng.chance(0.2),
    canceled: rng.chance(0.2),
    compactRevision: randomBigint(rng),
    cancelReason: rng.chance(0.2) ? "étcdserver: ".repeat(rng.int(40)) : "",
    fragment: rng.chance(0.2),
    events,
  };
}

const encodedSize = (r: etcdserverpb.WatchResponse) =>
  etcdserverpb.WatchResponse.encode(r).finish().length;

describe("response sizes", () => {
  it("equal the encoder's, for random responses", () => {
    const rng = new Rng(testSeed("response sizes"));
    for (let i = 0; i < 500; i++) {
      const r = randomResponse(rng);
      expect(responseSize(r)).toBe(encodedSize(r));
    }
  });

  it("fragments like etcd's sendFragments: in order, each below the limit unless alone", () => {
    const rng = new Rng(testSeed("fragments"));
    for (let i = 0; i < 300; i++) {
      const r = { ...randomResponse(rng), fragment: false };
      const max = 100 + rng.int(60_000);
      const parts = fragmentResponse(r, max);
      expect(parts.flatMap((p) => p.events)).toEqual(r.events);
      if (encodedSize(r) < max || r.events.length < 2) {
        expect(parts).toEqual([r]);
        continue;
      }
      expect(parts.length).toBeGreaterThan(1);
      parts.forEach((p, k) => {
        expect(p.fragment).toBe(k < parts.length - 1);
        expect(p.events.length).toBeGreaterThan(0);
        if (p.events.length > 1) expect(encodedSize(p)).toBeLessThan(max);
        // Greedy: adding the next event would have reached the limit.
        const next = parts[k + 1]?.events[0];
        if (next) {
          const grown = { ...p, fragment: true, events: [...p.events, next] };
          expect(encodedSize(grown)).toBeGreaterThanOrEqual(max);
        }
      });
    }
  });
});

describe("WatcherGroup", () => {
  it("finds exactly the watchers whose range holds a key (against a naive scan)", () => {
    const rng = new Rng(testSeed("watcher group"));
    const alphabet = ["", "a", "a/", "a/b", "b", "b0", "\0", "\xff", "c", "a0", "zz"];
    const owner = { streamId: 1 };
    const group = new WatcherGroup();
    const all: Watcher[] = [];
    for (let i = 0; i < 200; i++) {
      const key = Buffer.from(rng.pick(alphabet.filter(Boolean)), "latin1");
      const kind = rng.int(3);
      const rangeEnd =
        kind === 0
          ? undefined
          : kind === 1
            ? Buffer.from([0])
            : Buffer.from(rng.pick(alphabet.filter(Boolean)), "latin1");
      const w = new Watcher(owner, {
        id: BigInt(i),
        key,
        rangeEnd,
        startRev: 1n,
        noPut: false,
        noDelete: false,
        prevKv: false,
        fragment: false,
        progressNotify: false,
      });
      all.push(w);
      group.add(w);
    }
    for (const w of all) if (rng.chance(0.3)) group.delete(w);
    const members = all.filter((w) => group.has(w));
    expect(group.size).toBe(members.length);
    for (const k of alphabet) {
      const key = Buffer.from(k, "latin1");
      const found = new Set<Watcher>();
      group.forEachWatching(key, (w) => found.add(w));
      const naive = members.filter((w) => intervalContains(keyInterval(w.key, w.rangeEnd), key));
      expect([...found].map((w) => w.id).sort()).toEqual(naive.map((w) => w.id).sort());
    }
  });
});
