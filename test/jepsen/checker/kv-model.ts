/**
 * The sequential specification of one etcd key, with revisions: what a linearizable
 * etcd must answer for Range, Put, DeleteRange and a compare-and-set Txn
 * (`Txn(MOD(key) == expect) Then Put(key, value) Else Range(key)`) on that key.
 *
 * The state is the key's value and mod_revision. Revisions are global to the cluster, so
 * one key only sees some of them: a write must move the key's mod_revision forward (any
 * amount), a read must see exactly the current value and mod_revision.
 *
 * A write whose outcome is unknown leaves the mod_revision unknown: the state then keeps
 * a lower bound (`exact: false`), and the first read that sees the value pins it.
 */
import type { Model } from "./wgl.js";

/** The state of one key. `value === null` means absent (mod_revision 0). */
export interface KvState {
  value: string | null;
  /** mod_revision when `exact`; otherwise a strict lower bound of it. */
  rev: number;
  exact: boolean;
}

/** What a client asked. */
export type KvInput =
  | { f: "get" }
  | { f: "put"; value: string }
  | { f: "cas"; expect: number; value: string }
  | { f: "del" };

/** What it was told; `unknown` for a write whose outcome is unknown. */
export type KvOutput =
  | { f: "unknown" }
  | { f: "get"; value: string | null; modRev: number }
  /** Put, or a successful cas: the revision of the write (the key's new mod_revision). */
  | { f: "wrote"; rev: number }
  /** A cas whose compare failed, with what its Else branch read. */
  | { f: "cas-failed"; value: string | null; modRev: number }
  | { f: "del"; deleted: number };

const ABSENT: KvState = { value: null, rev: 0, exact: true };

/** Whether reading (value, modRev) is possible in `state`; the pinned state if so. */
function observe(state: KvState, value: string | null, modRev: number): KvState | undefined {
  if (state.value !== value) return undefined;
  if (value === null) return modRev === 0 ? ABSENT : undefined;
  if (state.exact) return state.rev === modRev ? state : undefined;
  return modRev > state.rev ? { value, rev: modRev, exact: true } : undefined;
}

/** Whether mod_revision may equal `expect` in `state`; the pinned state if so. */
function modEquals(state: KvState, expect: number): KvState | undefined {
  if (state.value === null) return expect === 0 ? state : undefined;
  if (state.exact) return state.rev === expect ? state : undefined;
  return expect > state.rev ? { value: state.value, rev: expect, exact: true } : undefined;
}

/** Whether mod_revision may differ from `expect` in `state`. */
function modDiffers(state: KvState, expect: number): boolean {
  if (state.value === null) return expect !== 0;
  if (state.exact) return state.rev !== expect;
  return true;
}

/** Whether a write at `rev` may follow `state` (revisions only move forward). */
function mayWriteAt(state: KvState, rev: number): boolean {
  return rev > state.rev;
}

export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => ABSENT,
  key: (s) => `${s.exact ? "=" : ">"}${s.rev}:${s.value === null ? "\u0000" : s.value}`,
  step(state, input, output) {
    switch (input.f) {
      case "get": {
        if (output.f !== "get") return [];
        const next = observe(state, output.value, output.modRev);
        return next ? [next] : [];
      }
      case "put": {
        if (output.f === "unknown") return [{ value: input.value, rev: state.rev, exact: false }];
        if (output.f !== "wrote" || !mayWriteAt(state, output.rev)) return [];
        return [{ value: input.value, rev: output.rev, exact: true }];
      }
      case "cas": {
        if (output.f === "wrote") {
          const pinned = modEquals(state, input.expect);
          if (!pinned || !mayWriteAt(pinned, output.rev)) return [];
          return [{ value: input.value, rev: output.rev, exact: true }];
        }
        if (output.f === "cas-failed") {
          if (!modDiffers(state, input.expect) || output.modRev === input.expect) return [];
          const next = observe(state, output.value, output.modRev);
          return next ? [next] : [];
        }
        if (output.f !== "unknown") return [];
        const results: KvState[] = [];
        const pinned = modEquals(state, input.expect);
        if (pinned) results.push({ value: input.value, rev: pinned.rev, exact: false });
        if (modDiffers(state, input.expect)) results.push(state);
        return results;
      }
      case "del": {
        if (output.f === "unknown") return state.value === null ? [state] : [state, ABSENT];
        if (output.f !== "del") return [];
        if (output.deleted === 0) return state.value === null ? [state] : [];
        return output.deleted === 1 && state.value !== null ? [ABSENT] : [];
      }
    }
  },
};
