/** The worked example of README.md, kept runnable. */
import { expect, it } from "vitest";
import { mulberry32 } from "./__tests__/util.js";
import { EntryType, MemoryStorage, RawNode, StateType } from "./index.js";

it("runs the README's worked example", () => {
  // A new single-member cluster: the initial configuration lives in storage.
  const storage = new MemoryStorage({ voters: [1n] });
  const node = new RawNode({
    id: 1n,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    random: mulberry32(42), // any seeded () => number in [0, 1)
  });

  const applied: string[] = [];
  function handleReadies() {
    while (node.hasReady()) {
      const rd = node.ready();
      if (rd.snapshot) storage.applySnapshot(rd.snapshot);
      storage.append(rd.entries);
      if (rd.hardState) storage.setHardState(rd.hardState);
      expect(rd.messages).toEqual([]);
      expect(rd.messagesAfterPersist).toEqual([]);
      for (const e of rd.committedEntries) {
        if (e.type === EntryType.Normal && e.data.length > 0) {
          applied.push(new TextDecoder().decode(e.data));
        }
      }
      node.advance(rd);
    }
  }

  node.campaign();
  handleReadies();
  expect(node.basicStatus().softState.raftState).toBe(StateType.Leader);

  node.propose(new TextEncoder().encode("hello"));
  handleReadies();
  expect(applied).toEqual(["hello"]);
});
