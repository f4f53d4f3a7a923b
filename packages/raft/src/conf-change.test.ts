import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  confChangeAsV2,
  confChangeEnterJoint,
  confChangeLeaveJoint,
  decodeConfChange,
  decodeConfChangeV2,
  encodeConfChange,
  encodeConfChangeV2,
} from "./conf-change.js";
import { ConfChangeDecodeError } from "./errors.js";
import {
  type ConfChange,
  ConfChangeTransition,
  ConfChangeType,
  type ConfChangeV2,
} from "./types.js";

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const bytes = fc.uint8Array({ maxLength: 40 });
const ccType = fc.constantFrom(
  ConfChangeType.AddNode,
  ConfChangeType.RemoveNode,
  ConfChangeType.UpdateNode,
  ConfChangeType.AddLearnerNode,
);

describe("conf change codec", () => {
  it("round-trips ConfChange (property)", () => {
    fc.assert(
      fc.property(ccType, u64, u64, bytes, (type, nodeId, id, context) => {
        const cc: ConfChange = { type, nodeId, id, context };
        expect(decodeConfChange(encodeConfChange(cc))).toEqual(cc);
      }),
      { seed: 1 },
    );
  });

  it("round-trips ConfChangeV2 (property)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(
          ConfChangeTransition.Auto,
          ConfChangeTransition.JointImplicit,
          ConfChangeTransition.JointExplicit,
        ),
        fc.array(fc.record({ type: ccType, nodeId: u64 }), { maxLength: 6 }),
        bytes,
        (transition, changes, context) => {
          const cc: ConfChangeV2 = { transition, changes, context };
          expect(decodeConfChangeV2(encodeConfChangeV2(cc))).toEqual(cc);
        },
      ),
      { seed: 2 },
    );
  });

  it("rejects malformed input with ConfChangeDecodeError", () => {
    const v1 = encodeConfChange({
      type: ConfChangeType.AddNode,
      nodeId: 2n,
      id: 9n,
      context: Uint8Array.of(1, 2),
    });
    const v2 = encodeConfChangeV2({
      transition: 0,
      changes: [{ type: 0, nodeId: 3n }],
      context: Uint8Array.of(),
    });
    for (const bad of [
      new Uint8Array(0),
      v1.subarray(0, v1.length - 1),
      Uint8Array.of(...v1, 0),
      v2,
      Uint8Array.of(0xc1, 9, ...v1.subarray(2)),
    ]) {
      expect(() => decodeConfChange(bad)).toThrow(ConfChangeDecodeError);
    }
    for (const bad of [
      v1,
      v2.subarray(0, 8),
      Uint8Array.of(0xc2, 7, ...v2.subarray(2)),
      Uint8Array.of(...v2, 1),
    ]) {
      expect(() => decodeConfChangeV2(bad)).toThrow(ConfChangeDecodeError);
    }
    expect(() =>
      encodeConfChange({ type: 0, nodeId: -1n, id: 0n, context: new Uint8Array(0) }),
    ).toThrow(RangeError);
  });

  it("decodes from a subarray at an offset", () => {
    const enc = encodeConfChange({
      type: ConfChangeType.RemoveNode,
      nodeId: 5n,
      id: 1n,
      context: new Uint8Array(0),
    });
    const buf = new Uint8Array(enc.length + 3);
    buf.set(enc, 3);
    expect(decodeConfChange(buf.subarray(3)).nodeId).toBe(5n);
  });
});

describe("conf change interpretation", () => {
  const single = { type: ConfChangeType.AddNode, nodeId: 4n };
  it.each([
    {
      cc: { transition: ConfChangeTransition.Auto, changes: [single] },
      joint: false,
      autoLeave: false,
      leave: false,
    },
    {
      cc: { transition: ConfChangeTransition.Auto, changes: [single, single] },
      joint: true,
      autoLeave: true,
      leave: false,
    },
    {
      cc: { transition: ConfChangeTransition.JointImplicit, changes: [single] },
      joint: true,
      autoLeave: true,
      leave: false,
    },
    {
      cc: { transition: ConfChangeTransition.JointExplicit, changes: [single] },
      joint: true,
      autoLeave: false,
      leave: false,
    },
    {
      cc: { transition: ConfChangeTransition.Auto, changes: [] },
      joint: false,
      autoLeave: false,
      leave: true,
    },
  ])("%#", ({ cc, joint, autoLeave, leave }) => {
    const v2: ConfChangeV2 = { ...cc, context: new Uint8Array(0) };
    expect(confChangeEnterJoint(v2)).toEqual({ joint, autoLeave });
    expect(confChangeLeaveJoint(v2)).toBe(leave);
  });

  it("turns a v1 change into a simple V2 change", () => {
    const ctx = Uint8Array.of(1);
    expect(
      confChangeAsV2({ type: ConfChangeType.RemoveNode, nodeId: 3n, id: 7n, context: ctx }),
    ).toEqual({
      transition: ConfChangeTransition.Auto,
      changes: [{ type: ConfChangeType.RemoveNode, nodeId: 3n }],
      context: ctx,
    });
  });
});
