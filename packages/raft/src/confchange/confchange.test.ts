import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfChangeError } from "../errors.js";
import { ProgressTracker } from "../tracker/progress-tracker.js";
import { type ConfChangeSingle, ConfChangeType, type ConfState } from "../types.js";
import { type ChangeResult, Changer, checkInvariants } from "./confchange.js";
import { restoreConfState } from "./restore.js";

const v = (id: number): ConfChangeSingle => ({ type: ConfChangeType.AddNode, nodeId: BigInt(id) });
const l = (id: number): ConfChangeSingle => ({
  type: ConfChangeType.AddLearnerNode,
  nodeId: BigInt(id),
});
const r = (id: number): ConfChangeSingle => ({
  type: ConfChangeType.RemoveNode,
  nodeId: BigInt(id),
});
const u = (id: number): ConfChangeSingle => ({
  type: ConfChangeType.UpdateNode,
  nodeId: BigInt(id),
});

/** A tracker that applies changes in sequence, like a node applying committed entries. */
class Env {
  trk = new ProgressTracker(10, 0);
  lastIndex = 10;
  private run(f: (c: Changer) => ChangeResult): string {
    const res = f(new Changer(this.trk, this.lastIndex));
    this.trk.setConfig(res.config, res.progress);
    return this.describe();
  }
  simple(...ccs: ConfChangeSingle[]) {
    return this.run((c) => c.simple(ccs));
  }
  enter(autoLeave: boolean, ...ccs: ConfChangeSingle[]) {
    return this.run((c) => c.enterJoint(autoLeave, ccs));
  }
  leave() {
    return this.run((c) => c.leaveJoint());
  }
  describe(): string {
    return this.trk.config.describe();
  }
}

describe("Changer.simple", () => {
  it("adds and removes one voter at a time", () => {
    const e = new Env();
    expect(e.simple(v(1))).toBe("voters=(1)");
    expect(e.simple(v(2))).toBe("voters=(1 2)");
    expect(e.simple(v(3))).toBe("voters=(1 2 3)");
    expect(e.simple(r(2))).toBe("voters=(1 3)");
    expect(e.simple(u(3))).toBe("voters=(1 3)");
    // New nodes probe from the last index and count as active.
    const pr = e.trk.progress.get(3n)!;
    expect([pr.match, pr.next, pr.recentActive, pr.state]).toEqual([0, 10, true, "probe"]);
  });

  it("adds, promotes and demotes learners", () => {
    const e = new Env();
    e.simple(v(1));
    expect(e.simple(l(2))).toBe("voters=(1) learners=(2)");
    expect(e.trk.progress.get(2n)!.isLearner).toBe(true);
    expect(e.simple(v(2))).toBe("voters=(1 2)");
    expect(e.trk.progress.get(2n)!.isLearner).toBe(false);
    expect(e.simple(l(2))).toBe("voters=(1) learners=(2)");
    expect(e.simple(r(2))).toBe("voters=(1)");
    expect(e.trk.progress.has(2n)).toBe(false);
  });

  it("rejects changing two voters, removing all voters and joint configs", () => {
    const e = new Env();
    e.simple(v(1));
    expect(() => e.simple(v(2), v(3))).toThrow(
      "more than one voter changed without entering joint config",
    );
    expect(() => e.simple(r(1))).toThrow("removed all voters");
    // Adding a voter and a learner at once is fine: only one voter changed.
    expect(e.simple(v(2), l(3))).toBe("voters=(1 2) learners=(3)");
    e.enter(false, v(4));
    expect(() => e.simple(v(5))).toThrow(ConfChangeError);
  });

  it("leaves the tracker untouched on error", () => {
    const e = new Env();
    e.simple(v(1));
    const before = e.describe();
    expect(() => new Changer(e.trk, 1).simple([v(2), v(3)])).toThrow();
    expect(e.describe()).toBe(before);
  });
});

describe("Changer joint consensus", () => {
  it("enters and leaves a joint configuration", () => {
    const e = new Env();
    e.simple(v(1));
    e.simple(v(2));
    e.simple(v(3));
    expect(e.enter(false, r(1), v(4), v(5))).toBe("voters=(2 3 4 5)&&(1 2 3)");
    expect(e.trk.progress.has(1n)).toBe(true); // still an outgoing voter
    expect(() => e.enter(false, v(6))).toThrow("config is already joint");
    expect(e.leave()).toBe("voters=(2 3 4 5)");
    expect(e.trk.progress.has(1n)).toBe(false);
    expect(() => e.leave()).toThrow("can't leave a non-joint config");
  });

  it("demotes an outgoing voter through learnersNext", () => {
    const e = new Env();
    e.simple(v(1));
    e.simple(v(2));
    e.simple(v(3));
    expect(e.enter(true, l(3))).toBe("voters=(1 2)&&(1 2 3) learners_next=(3) autoleave");
    expect(e.trk.progress.get(3n)!.isLearner).toBe(false);
    expect(e.leave()).toBe("voters=(1 2) learners=(3)");
    expect(e.trk.progress.get(3n)!.isLearner).toBe(true);
  });

  it("re-adding a staged learner as voter cancels the demotion", () => {
    const e = new Env();
    e.simple(v(1));
    e.simple(v(2));
    expect(e.enter(false, l(2), v(2))).toBe("voters=(1 2)&&(1 2)");
  });

  it("refuses to make a zero-voter config joint and to remove every incoming voter", () => {
    const e = new Env();
    expect(() => e.enter(false, v(1))).toThrow("can't make a zero-voter config joint");
    e.simple(v(1));
    expect(() => e.enter(false, r(1))).toThrow("removed all voters");
  });

  it("checkInvariants catches a learner that is also a voter", () => {
    const e = new Env();
    e.simple(v(1));
    const cfg = e.trk.config.clone();
    cfg.learners.add(1n);
    expect(() => checkInvariants(cfg, e.trk.progress)).toThrow("1 is in Learners and Voters[0]");
  });
});

describe("restoreConfState", () => {
  function roundTrip(cs: ConfState): ConfState {
    const trk = new ProgressTracker(10, 0);
    restoreConfState(trk, 5, cs);
    return trk.confState();
  }

  it.each<ConfState>([
    { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
    { voters: [1n, 2n, 3n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
    {
      voters: [1n, 2n, 3n],
      learners: [5n],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    },
    {
      voters: [1n, 2n, 3n],
      learners: [5n],
      votersOutgoing: [1n, 2n, 4n, 6n],
      learnersNext: [4n],
      autoLeave: true,
    },
    {
      voters: [7n],
      learners: [],
      votersOutgoing: [1n, 2n],
      learnersNext: [1n, 2n],
      autoLeave: false,
    },
  ])("round-trips %o", (cs) => {
    expect(roundTrip(cs)).toEqual(cs);
  });

  it("round-trips any configuration reachable by changes (property)", () => {
    const change = fc.record({
      type: fc.constantFrom(
        ConfChangeType.AddNode,
        ConfChangeType.AddLearnerNode,
        ConfChangeType.RemoveNode,
      ),
      nodeId: fc.integer({ min: 1, max: 6 }).map(BigInt),
    });
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.constantFrom("simple", "joint", "leave"), fc.array(change, { maxLength: 4 })),
          {
            maxLength: 12,
          },
        ),
        (ops) => {
          const e = new Env();
          e.simple(v(1));
          for (const [op, ccs] of ops) {
            try {
              if (op === "simple") e.simple(...ccs);
              else if (op === "joint") e.enter(ccs.length % 2 === 0, ...ccs);
              else e.leave();
            } catch (err) {
              expect(err).toBeInstanceOf(ConfChangeError);
            }
            checkInvariants(e.trk.config, e.trk.progress);
            const cs = e.trk.confState();
            expect(roundTrip(cs)).toEqual(cs);
          }
        },
      ),
      { seed: 7, numRuns: 300 },
    );
  });
});
