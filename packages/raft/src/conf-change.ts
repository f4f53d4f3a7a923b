/**
 * Conf changes as raft carries them in `Entry.data`: a compact binary codec (raft has no
 * protobuf dependency) and the helpers that interpret a change (as V2, joint or not).
 *
 * Wire format (all integers big-endian):
 * - ConfChange (v1):   0xC1 | type u8 | nodeId u64 | id u64 | ctxLen u32 | ctx
 * - ConfChangeV2:      0xC2 | transition u8 | count u32 | count × (type u8 | nodeId u64)
 *                      | ctxLen u32 | ctx
 *
 * Decoding validates every field and the exact length, and throws
 * {@link ConfChangeDecodeError} on anything else.
 */
import { ConfChangeDecodeError } from "./errors.js";
import {
  type ConfChange,
  type ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  type ConfChangeV2,
} from "./types.js";
import { EMPTY_BYTES } from "./util.js";

const TAG_V1 = 0xc1;
const TAG_V2 = 0xc2;
const MAX_U64 = (1n << 64n) - 1n;

function checkU64(name: string, v: bigint): void {
  if (v < 0n || v > MAX_U64) throw new RangeError(`${name} ${v} is not a 64-bit unsigned value`);
}

/** Encodes a v1 ConfChange. */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  checkU64("nodeId", cc.nodeId);
  checkU64("id", cc.id);
  const out = new Uint8Array(1 + 1 + 8 + 8 + 4 + cc.context.byteLength);
  const dv = new DataView(out.buffer);
  out[0] = TAG_V1;
  out[1] = cc.type;
  dv.setBigUint64(2, cc.nodeId);
  dv.setBigUint64(10, cc.id);
  dv.setUint32(18, cc.context.byteLength);
  out.set(cc.context, 22);
  return out;
}

/** Decodes a v1 ConfChange encoded by {@link encodeConfChange}. */
export function decodeConfChange(b: Uint8Array): ConfChange {
  if (b.byteLength < 22 || b[0] !== TAG_V1) throw new ConfChangeDecodeError("not a ConfChange");
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const type = checkType(b[1]);
  const nodeId = dv.getBigUint64(2);
  const id = dv.getBigUint64(10);
  const n = dv.getUint32(18);
  if (b.byteLength !== 22 + n) throw new ConfChangeDecodeError("ConfChange: bad length");
  return { type, nodeId, id, context: b.slice(22, 22 + n) };
}

/** Encodes a ConfChangeV2. */
export function encodeConfChangeV2(cc: ConfChangeV2): Uint8Array {
  for (const c of cc.changes) checkU64("nodeId", c.nodeId);
  const n = cc.changes.length;
  const out = new Uint8Array(1 + 1 + 4 + 9 * n + 4 + cc.context.byteLength);
  const dv = new DataView(out.buffer);
  out[0] = TAG_V2;
  out[1] = cc.transition;
  dv.setUint32(2, n);
  let p = 6;
  for (const c of cc.changes) {
    out[p] = c.type;
    dv.setBigUint64(p + 1, c.nodeId);
    p += 9;
  }
  dv.setUint32(p, cc.context.byteLength);
  out.set(cc.context, p + 4);
  return out;
}

/** Decodes a ConfChangeV2 encoded by {@link encodeConfChangeV2}. */
export function decodeConfChangeV2(b: Uint8Array): ConfChangeV2 {
  if (b.byteLength < 10 || b[0] !== TAG_V2) throw new ConfChangeDecodeError("not a ConfChangeV2");
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const transition = b[1];
  if (transition > ConfChangeTransition.JointExplicit) {
    throw new ConfChangeDecodeError(`ConfChangeV2: unknown transition ${transition}`);
  }
  const n = dv.getUint32(2);
  if (b.byteLength < 10 + 9 * n) throw new ConfChangeDecodeError("ConfChangeV2: truncated");
  const changes: ConfChangeSingle[] = [];
  let p = 6;
  for (let i = 0; i < n; i++) {
    changes.push({ type: checkType(b[p]), nodeId: dv.getBigUint64(p + 1) });
    p += 9;
  }
  const ctxLen = dv.getUint32(p);
  if (b.byteLength !== p + 4 + ctxLen) throw new ConfChangeDecodeError("ConfChangeV2: bad length");
  return { transition, changes, context: b.slice(p + 4, p + 4 + ctxLen) };
}

function checkType(t: number): ConfChangeType {
  if (t > ConfChangeType.AddLearnerNode) {
    throw new ConfChangeDecodeError(`unknown conf change type ${t}`);
  }
  return t;
}

/** Whether a change is the V2 form. */
export function isConfChangeV2(cc: ConfChange | ConfChangeV2): cc is ConfChangeV2 {
  return (cc as ConfChangeV2).changes !== undefined;
}

/** The V2 form of any conf change (a v1 change is a single-change, simple V2). */
export function confChangeAsV2(cc: ConfChange | ConfChangeV2): ConfChangeV2 {
  if (isConfChangeV2(cc)) return cc;
  return {
    transition: ConfChangeTransition.Auto,
    changes: [{ type: cc.type, nodeId: cc.nodeId }],
    context: cc.context,
  };
}

/**
 * Whether the change must go through joint consensus, and if so whether the joint
 * configuration is left automatically. Joint: any explicit joint transition, or more than
 * one change with the Auto transition.
 */
export function confChangeEnterJoint(cc: ConfChangeV2): { joint: boolean; autoLeave: boolean } {
  if (cc.transition !== ConfChangeTransition.Auto || cc.changes.length > 1) {
    return { joint: true, autoLeave: cc.transition !== ConfChangeTransition.JointExplicit };
  }
  return { joint: false, autoLeave: false };
}

/** Whether the change is the (empty, Auto) request to leave a joint configuration. */
export function confChangeLeaveJoint(cc: ConfChangeV2): boolean {
  return cc.transition === ConfChangeTransition.Auto && cc.changes.length === 0;
}

/** The empty ConfChangeV2 that leaves a joint configuration. */
export function leaveJointConfChange(): ConfChangeV2 {
  return { transition: ConfChangeTransition.Auto, changes: [], context: EMPTY_BYTES };
}
