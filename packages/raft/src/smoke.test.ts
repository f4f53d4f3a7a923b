import { describe, expect, it } from "vitest";
import { Network } from "./__tests__/util.js";
import { StateType } from "./types.js";

describe("smoke", () => {
  it("elects a leader and replicates", () => {
    const nw = Network.of(3);
    nw.campaign(1);
    expect(nw.node(1).state).toBe(StateType.Leader);
    nw.propose(1, "hello");
    nw.propose(2, "world");
    for (const id of [1, 2, 3]) {
      expect(nw.node(id).appliedData()).toEqual(["hello", "world"]);
    }
  });

  it("single node commits", () => {
    const nw = Network.of(1);
    nw.campaign(1);
    nw.propose(1, "a");
    expect(nw.node(1).appliedData()).toEqual(["a"]);
  });
});
