import { describe, expect, it } from "vitest";
import { b, ent, msg } from "./__tests__/util.js";
import { encodeConfChange, encodeConfChangeV2 } from "./conf-change.js";
import {
  describeConfState,
  describeEntry,
  describeHardState,
  describeMessage,
  describeReady,
  quoteBytes,
} from "./describe.js";
import { ConfChangeType, EntryType, MessageType, StateType } from "./types.js";

describe("describe", () => {
  it("quotes bytes like Go's %q", () => {
    expect(quoteBytes(b('a"b\\c'))).toBe('"a\\"b\\\\c"');
    expect(quoteBytes(Uint8Array.of(0, 10, 255))).toBe('"\\x00\\n\\xff"');
  });

  it("describes entries, including conf changes", () => {
    expect(describeEntry(ent(1, 3, "foo"))).toBe('1/3 EntryNormal "foo"');
    const v1 = encodeConfChange({
      type: ConfChangeType.AddNode,
      nodeId: 2n,
      id: 0n,
      context: new Uint8Array(0),
    });
    expect(describeEntry({ term: 2, index: 4, type: EntryType.ConfChange, data: v1 })).toBe(
      "2/4 EntryConfChange v2",
    );
    const v2 = encodeConfChangeV2({
      transition: 0,
      changes: [
        { type: ConfChangeType.RemoveNode, nodeId: 3n },
        { type: ConfChangeType.AddLearnerNode, nodeId: 4n },
      ],
      context: new Uint8Array(0),
    });
    expect(describeEntry({ term: 2, index: 5, type: EntryType.ConfChangeV2, data: v2 })).toBe(
      "2/5 EntryConfChangeV2 r3 l4",
    );
    expect(
      describeEntry({ term: 2, index: 6, type: EntryType.ConfChangeV2, data: b("junk") }),
    ).toBe("2/6 EntryConfChangeV2 not a ConfChangeV2");
    expect(describeEntry(ent(1, 1), (d) => `<${d.length}>`)).toBe("1/1 EntryNormal <0>");
  });

  it("describes messages on one line", () => {
    const m = msg({
      type: MessageType.MsgApp,
      from: 1n,
      to: 2n,
      term: 3,
      logTerm: 2,
      index: 5,
      commit: 4,
      entries: [ent(3, 6, "a"), ent(3, 7, "b")],
    });
    expect(describeMessage(m)).toBe(
      '1->2 MsgApp Term:3 Log:2/5 Commit:4 Entries:[3/6 EntryNormal "a", 3/7 EntryNormal "b"]',
    );
    expect(
      describeMessage(
        msg({
          type: MessageType.MsgAppResp,
          from: 2n,
          to: 1n,
          term: 3,
          index: 5,
          reject: true,
          rejectHint: 3,
        }),
      ),
    ).toBe("2->1 MsgAppResp Term:3 Log:0/5 Rejected (Hint: 3)");
    expect(describeMessage(msg({ type: MessageType.MsgHup, from: 1n }))).toBe(
      "1->None MsgHup Term:0 Log:0/0",
    );
  });

  it("describes conf states, hard states and readies", () => {
    expect(
      describeConfState({
        voters: [1n, 2n],
        learners: [3n],
        votersOutgoing: [],
        learnersNext: [],
        autoLeave: false,
      }),
    ).toBe("Voters:[1 2] VotersOutgoing:[] Learners:[3] LearnersNext:[] AutoLeave:false");
    expect(describeHardState({ term: 2, vote: 0n, commit: 5 })).toBe("Term:2 Commit:5");
    expect(
      describeReady({
        softState: { lead: 1n, raftState: StateType.Leader },
        hardState: { term: 1, vote: 1n, commit: 0 },
        readStates: [],
        entries: [ent(1, 1)],
        committedEntries: [],
        messages: [
          msg({ type: MessageType.MsgApp, from: 1n, to: 2n, term: 1, entries: [ent(1, 1)] }),
        ],
        messagesAfterPersist: [],
        mustSync: true,
      }),
    ).toBe(
      [
        "Ready MustSync=true:",
        "Lead:1 State:StateLeader",
        "HardState Term:1 Vote:1 Commit:0",
        "Entries:",
        '1/1 EntryNormal ""',
        "Messages:",
        '1->2 MsgApp Term:1 Log:0/0 Entries:[1/1 EntryNormal ""]',
        "",
      ].join("\n"),
    );
    expect(
      describeReady({
        readStates: [],
        entries: [],
        committedEntries: [],
        messages: [],
        messagesAfterPersist: [],
        mustSync: false,
      }),
    ).toBe("<empty Ready>");
  });
});
