import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kv, TestCluster } from "./__tests__/cluster.js";

const b = (s: string) => Buffer.from(s);

describe("Member: a three-member in-process cluster", () => {
  let c: TestCluster;
  beforeAll(async () => {
    c = await TestCluster.start();
  });
  afterAll(async () => {
    await c?.close();
  });

  it("elects a leader", async () => {
    const li = await c.waitLeader();
    expect(c.member(li).isLeader()).toBe(true);
    await Promise.all(c.running().map((i) => c.member(i).ready));
  });

  it("writes on any member, reads on any member", async () => {
    for (const i of [0, 1, 2]) {
      const r = await kv(c.client(i)).put({ key: b(`k${i}`), value: b(`v${i}`) });
      expect(r.header?.memberId).toBe(c.member(i).id);
      expect(r.header?.clusterId).toBe(c.member(i).clusterId);
    }
    for (const i of [0, 1, 2]) {
      for (const j of [0, 1, 2]) {
        const r = await kv(c.client(i)).range({ key: b(`k${j}`) });
        expect(r.kvs.map((x) => x.value.toString())).toEqual([`v${j}`]);
      }
    }
  });
});
