/**
 * The apply path: turns committed raft entries into effects in ONE open MVCC write (the
 * Ready's write batch, DESIGN rule 3) and into results for the waiting proposers.
 *
 * Each entry is applied at most once: entries at or below the (staged) applied index are
 * skipped (a restart re-delivers committed entries from the durable applied index; a
 * restored snapshot moves it past entries still in flight). Normal entries carry an
 * InternalRequest (internalpb); conf-change entries change raft's configuration and the
 * membership. An expected failure (a txn on a compacted revision, a revoke of an unknown
 * lease) changes nothing and becomes the waiter's error; anything else is a bug and
 * propagates (the member stops: applying differently from the other members is worse).
 */
import {
  ErrLeaseTTLTooLarge,
  ErrNoSpace,
  ErrNotCapable,
  EtcdError,
  etcdserverpb,
  internalpb,
  peerpb,
} from "@chainfire/api";
import {
  type ConfChange,
  ConfChangeError,
  ConfChangeType,
  type ConfChangeV2,
  type ConfState,
  decodeConfChange,
  decodeConfChangeV2,
  type Entry,
  EntryType,
} from "@chainfire/raft";
import { type LeaseStore, type MetaStore, type MvccWrite, revokeLease } from "@chainfire/storage";
import { type AuthApplyEnv, applyAuthRequest, authorizeAtApply } from "../auth/apply-auth.js";
import { applyLessorRequest, type LeaseApplyHooks } from "../lease/apply-lessor.js";
import { requestCost } from "../quota.js";
import type { WaitOutcome } from "../wait.js";
import type { AlarmStore } from "./alarms.js";
import { toEtcdError } from "./errors.js";
import { deleteRangeResponse, putResponse, txnResponse } from "./responses.js";

const NOSPACE = etcdserverpb.AlarmType.NOSPACE;

/** etcd's MaxLeaseTTL: 9,000,000,000 seconds. */
export const MAX_LEASE_TTL = 9_000_000_000n;

/** What the applier needs from the member. */
export interface ApplyEnv {
  readonly meta: MetaStore;
  readonly leases: LeaseStore;
  readonly alarms: AlarmStore;
  /** A full response header at `revision` (cluster id, member id, raft term). */
  header(revision: bigint): etcdserverpb.ResponseHeader;
  /** raft's applyConfChange (the RawNode's). */
  applyConfChange(cc: ConfChange | ConfChangeV2): ConfState;
  /** The smallest lease TTL granted, in seconds (etcd: 1.5 election timeouts, rounded up). */
  readonly minLeaseTtl: number;
  /** Logs an entry that cannot be applied (the same on every member). */
  warn(obj: object, msg: string): void;
  /** The lessor, told of applied grants and revocations (lease/apply-lessor.ts). */
  readonly leaseHooks?: LeaseApplyHooks;
  /** The auth state and tokens (auth/apply-auth.ts); without it auth requests are refused. */
  readonly auth?: AuthApplyEnv;
}

/** One applied request's outcome for the wait registry. */
export interface AppliedOutcome {
  id: bigint;
  outcome: WaitOutcome<unknown>;
}

/** What applying a run of entries did. */
export interface ApplyOutput {
  outcomes: AppliedOutcome[];
  /** The last entry applied (index/term), or undefined if none was. */
  last: { index: number; term: number } | undefined;
  /** Membership or raft configuration changed. */
  membershipChanged: boolean;
  /** A compaction was applied (physical compaction should run after the write). */
  compacted: boolean;
  /** Number of normal entries carrying a request. */
  requests: number;
}

/** Applies committed entries into `w`; see the module comment. */
export function applyEntries(env: ApplyEnv, w: MvccWrite, entries: readonly Entry[]): ApplyOutput {
  const steps = applyEntriesSteps(env, w, entries);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * {@link applyEntries} in steps: it yields inside a request that may touch many keys (a
 * DeleteRange of a range, alone or in a Txn, every 256 keys), where the caller may give the event
 * loop a turn before resuming (raft-driver.ts). The write stays open meanwhile; effects
 * and results are the same as applyEntries'.
 */
export function* applyEntriesSteps(
  env: ApplyEnv,
  w: MvccWrite,
  entries: readonly Entry[],
): Generator<void, ApplyOutput, void> {
  const out: ApplyOutput = {
    outcomes: [],
    last: undefined,
    membershipChanged: false,
    compacted: false,
    requests: 0,
  };
  // Decode first, so the current versions of every key put in this batch can be read
  // ahead in one native call (an optimization; results are the same).
  const decoded: Array<internalpb.InternalRequest | null | undefined> = new Array(entries.length);
  let keys: Uint8Array[] | undefined;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (e.type !== EntryType.Normal || e.data.length === 0 || !env.meta.shouldApply(e.index)) {
      continue;
    }
    try {
      const req = internalpb.InternalRequest.decode(e.data);
      decoded[i] = req;
      if (req.request?.$case === "put") (keys ??= []).push(req.request.value.key);
    } catch (err) {
      env.warn({ index: e.index, err }, "skipping a log entry that does not decode");
      decoded[i] = null;
    }
  }
  if (keys !== undefined && keys.length > 1) w.prefetch(keys);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (!env.meta.shouldApply(e.index)) continue;
    out.last = { index: e.index, term: e.term };
    if (e.type === EntryType.Normal) {
      const req = decoded[i];
      if (!req) continue; // a new leader's no-op, or undecodable
      out.requests++;
      yield* applyNormal(env, w, req, out, e.term, e.index);
    } else {
      applyConfChangeEntry(env, w, e, out);
    }
  }
  if (out.last) env.meta.setApplied(w.batch, out.last.index, out.last.term);
  return out;
}

function* applyNormal(
  env: ApplyEnv,
  w: MvccWrite,
  req: internalpb.InternalRequest,
  out: ApplyOutput,
  term: number,
  index: number,
): Generator<void, void, void> {
  const id = req.header?.id ?? 0n;
  let outcome: WaitOutcome<unknown>;
  try {
    if (env.auth) authorizeAtApply(env.auth, w, req);
    const r = req.request;
    let value: unknown;
    if (r?.$case === "deleteRange") {
      // As applyRequest's case (a DeleteRange costs no quota: never capped), in steps.
      const res = yield* w.deleteRangeSteps(r.value);
      value = deleteRangeResponse(res, env.header(res.header.revision));
    } else if (r?.$case === "txn" && deletesRanges(r.value)) {
      // As applyRequest's case, in steps (its DeleteRanges yield).
      checkCapped(env, r);
      const res = yield* w.txnSteps(r.value, { maxOps: Number.MAX_SAFE_INTEGER });
      value = txnResponse(res, env.header(res.header.revision));
    } else {
      value = applyRequest(env, w, req, out, term, index);
    }
    outcome = { ok: true, value };
  } catch (err) {
    const etcdErr = toEtcdError(err);
    if (etcdErr === undefined) throw err;
    outcome = { ok: false, error: etcdErr };
  }
  if (id !== 0n) out.outcomes.push({ id, outcome });
}

function applyRequest(
  env: ApplyEnv,
  w: MvccWrite,
  req: internalpb.InternalRequest,
  out: ApplyOutput,
  term: number,
  index: number,
): unknown {
  const r = req.request;
  if (r !== undefined) checkCapped(env, r);
  switch (r?.$case) {
    case "put": {
      const res = w.put(r.value);
      return putResponse(res, env.header(res.header.revision));
    }
    case "deleteRange": {
      const res = w.deleteRange(r.value);
      return deleteRangeResponse(res, env.header(res.header.revision));
    }
    case "txn": {
      // The op count was checked against --max-txn-ops by the proposing member (etcd
      // checks it only there too); a member's own limit must not decide an apply.
      const res = w.txn(r.value, { maxOps: Number.MAX_SAFE_INTEGER });
      return txnResponse(res, env.header(res.header.revision));
    }
    case "compaction": {
      const res = w.compact(r.value.revision);
      out.compacted = true;
      return { header: env.header(res.header.revision) } satisfies etcdserverpb.CompactionResponse;
    }
    case "leaseGrant": {
      // etcd: TTL above MaxLeaseTTL is refused; below the minimum it is raised to it.
      if (r.value.TTL > MAX_LEASE_TTL) throw new EtcdError(ErrLeaseTTLTooLarge);
      const ttl = Math.max(env.minLeaseTtl, Number(r.value.TTL));
      const l = env.leases.grant(w.batch, r.value.ID, ttl);
      env.leaseHooks?.granted(l.id, l.ttl);
      return {
        header: env.header(w.revision),
        ID: l.id,
        TTL: BigInt(l.ttl),
        error: "",
      } satisfies etcdserverpb.LeaseGrantResponse;
    }
    case "leaseRevoke": {
      const res = revokeLease(w, env.leases, r.value.ID);
      env.leaseHooks?.revoked(r.value.ID);
      return { header: env.header(res.revision) } satisfies etcdserverpb.LeaseRevokeResponse;
    }
    case "leaseCheckpoint": {
      for (const cp of r.value.checkpoints) {
        const remaining = cp.remainingTTL < 0n ? 0n : cp.remainingTTL;
        if (remaining > MAX_LEASE_TTL) continue;
        env.leases.checkpoint(w.batch, cp.ID, Number(remaining));
      }
      return { header: env.header(w.revision) } satisfies etcdserverpb.LeaseCheckpointResponse;
    }
    case "lessor":
      // Expiries and checkpoints of the leader's lessor, bound to its term.
      return applyLessorRequest(env, w, r.value, term);
    case "alarm": {
      const alarms = env.alarms.apply(w.batch, r.value);
      return { header: env.header(w.revision), alarms } satisfies etcdserverpb.AlarmResponse;
    }
    case "memberAttrSet": {
      const m = env.meta.member(r.value.memberId);
      if (m !== undefined) {
        env.meta.putMember(w.batch, { ...m, name: r.value.name, clientURLs: r.value.clientUrls });
        out.membershipChanged = true;
      }
      return {};
    }
    case undefined:
      throw new EtcdError(ErrNotCapable);
    case "authAuthenticate": {
      if (!env.auth) throw new EtcdError(ErrNotCapable);
      return applyAuthRequest(env.auth, w, r, index);
    }
    default: {
      // Auth changes (auth/apply-auth.ts); the header carries the MVCC revision, as etcd's.
      if (!env.auth) throw new EtcdError(ErrNotCapable);
      const res = applyAuthRequest(env.auth, w, r, index);
      if (res === undefined) throw new EtcdError(ErrNotCapable);
      return { header: env.header(w.revision), ...res };
    }
  }
}

/** Whether a txn has a DeleteRange of a range (possibly many keys), at any depth. */
function deletesRanges(t: etcdserverpb.TxnRequest): boolean {
  for (const ops of [t.success, t.failure]) {
    for (const op of ops ?? []) {
      const r = op.request;
      if (r?.$case === "requestDeleteRange" && r.value.rangeEnd.length > 0) return true;
      if (r?.$case === "requestTxn" && deletesRanges(r.value)) return true;
    }
  }
  return false;
}

/**
 * etcd's capped applier: while a NOSPACE alarm is active, nothing that grows the store is
 * applied (replicated state, so every member refuses the same entries). quota.ts.
 */
function checkCapped(env: ApplyEnv, r: NonNullable<internalpb.InternalRequest["request"]>): void {
  if (requestCost(r) > 0 && env.alarms.list(NOSPACE).length > 0) throw new EtcdError(ErrNoSpace);
}

/** The member a conf change's context describes (peerpb.MemberInfo), if it decodes. */
export function decodeMemberContext(context: Uint8Array): peerpb.MemberInfo | undefined {
  if (context.length === 0) return undefined;
  try {
    return peerpb.MemberInfo.decode(context);
  } catch {
    return undefined;
  }
}

function applyConfChangeEntry(env: ApplyEnv, w: MvccWrite, e: Entry, out: ApplyOutput): void {
  let cc: ConfChange | ConfChangeV2;
  try {
    cc = e.type === EntryType.ConfChange ? decodeConfChange(e.data) : decodeConfChangeV2(e.data);
  } catch (err) {
    env.warn({ index: e.index, err }, "skipping a conf change entry that does not decode");
    return;
  }
  let cs: ConfState;
  try {
    cs = env.applyConfChange(cc);
  } catch (err) {
    if (!(err instanceof ConfChangeError)) throw err;
    env.warn({ index: e.index, err: err.message }, "conf change refused by raft");
    if ("id" in cc && cc.id !== 0n) {
      out.outcomes.push({ id: cc.id, outcome: { ok: false, error: new EtcdError(ErrNotCapable) } });
    }
    return;
  }
  env.meta.setConfState(w.batch, cs);
  out.membershipChanged = true;
  if (!("id" in cc)) return; // ConfChangeV2: configuration only
  const info = decodeMemberContext(cc.context);
  const meta = env.meta;
  switch (cc.type) {
    case ConfChangeType.AddNode:
    case ConfChangeType.AddLearnerNode: {
      const prev = meta.member(cc.nodeId);
      meta.putMember(w.batch, {
        id: cc.nodeId,
        name: prev?.name ?? info?.name ?? "",
        peerURLs: info?.peerUrls ?? prev?.peerURLs ?? [],
        clientURLs: prev?.clientURLs ?? info?.clientUrls ?? [],
        isLearner: cc.type === ConfChangeType.AddLearnerNode,
      });
      break;
    }
    case ConfChangeType.RemoveNode:
      if (meta.member(cc.nodeId) !== undefined) meta.removeMember(w.batch, cc.nodeId);
      break;
    case ConfChangeType.UpdateNode: {
      const prev = meta.member(cc.nodeId);
      if (prev !== undefined && info !== undefined) {
        meta.putMember(w.batch, { ...prev, peerURLs: info.peerUrls });
      }
      break;
    }
  }
  if (cc.id !== 0n) {
    out.outcomes.push({ id: cc.id, outcome: { ok: true, value: meta.members() } });
  }
}
