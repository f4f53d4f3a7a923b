import { describe, expect, it } from "vitest";
import { mulberry32 } from "./__tests__/util.js";
import { type Config, ReadOnlyOption, resolveConfig } from "./config.js";
import { ConfigError } from "./errors.js";
import { MemoryStorage } from "./memory-storage.js";
import { RawNode } from "./raw-node.js";

const base = (): Config => ({
  id: 1n,
  electionTick: 10,
  heartbeatTick: 1,
  storage: new MemoryStorage({ voters: [1n] }),
  random: mulberry32(1),
});

describe("Config", () => {
  it("fills in etcd's defaults", () => {
    const c = resolveConfig(base());
    expect(c.maxSizePerMsg).toBe(1024 * 1024);
    expect(c.maxInflightMsgs).toBe(256);
    expect(c.maxInflightBytes).toBe(0);
    expect(c.readOnlyOption).toBe(ReadOnlyOption.Safe);
    expect([c.checkQuorum, c.preVote, c.disableProposalForwarding, c.applied]).toEqual([
      false,
      false,
      false,
      0,
    ]);
    expect(c.maxUncommittedEntriesSize).toBe(Number.MAX_SAFE_INTEGER);
  });

  it.each<[string, Partial<Config>, RegExp]>([
    ["none id", { id: 0n }, /cannot use none as id/],
    ["heartbeat 0", { heartbeatTick: 0 }, /heartbeat tick must be greater than 0/],
    [
      "election <= heartbeat",
      { electionTick: 1, heartbeatTick: 1 },
      /election tick must be greater than heartbeat tick/,
    ],
    ["no random", { random: undefined as unknown as () => number }, /random must be a function/],
    ["inflight 0", { maxInflightMsgs: 0 }, /max inflight messages must be greater than 0/],
    ["negative limit", { maxSizePerMsg: -1 }, /maxSizePerMsg must be a non-negative integer/],
    [
      "inflight bytes < msg size",
      { maxInflightBytes: 10, maxSizePerMsg: 100 },
      /max inflight bytes/,
    ],
    [
      "lease without check quorum",
      { readOnlyOption: ReadOnlyOption.LeaseBased },
      /CheckQuorum must be enabled/,
    ],
  ])("rejects %s", (_name, over, re) => {
    expect(() => resolveConfig({ ...base(), ...over })).toThrow(ConfigError);
    expect(() => new RawNode({ ...base(), ...over })).toThrow(re);
  });

  it("accepts lease reads with check quorum", () => {
    expect(() =>
      resolveConfig({ ...base(), readOnlyOption: ReadOnlyOption.LeaseBased, checkQuorum: true }),
    ).not.toThrow();
  });
});
