/**
 * Membership changes (etcd's Cluster.MemberAdd/Remove/Update/Promote), checked against the
 * applied membership with etcd's errors and proposed as raft conf changes whose context is
 * the member (peerpb.MemberInfo); they resolve once applied on this member (apply/applier.ts
 * updates raft's configuration and the membership in the same batch).
 *
 * Promotion (etcd 3.4's rule): only the leader knows how far a learner has replicated, so
 * the leader decides. A learner is ready when its raft match index is at least 90% of the
 * leader's own ({@link LEARNER_READY_FRACTION}); otherwise "etcdserver: can only promote a
 * learner member which is in sync with leader". Any other member forwards the request to
 * the leader over the peer protocol (Peer.ForwardStream, method {@link FORWARD_PROMOTE})
 * and retries across leader changes until the request timeout, as etcd's promoteMemberHTTP
 * does. `--auto-promote` (beyond etcd) uses the same path with a stricter rule
 * ({@link FORWARD_AUTO_PROMOTE}): see auto-promote.ts.
 */
import {
  ErrCanceled,
  ErrMemberBadURLs,
  ErrMemberLearnerNotReady,
  ErrMemberNotFound,
  ErrMemberNotLearner,
  ErrNotLeader,
  ErrPeerURLExist,
  ErrStopped,
  ErrTimeout,
  ErrTooManyLearners,
  EtcdError,
  etcdserverpb,
  peerpb,
} from "@chainfire/api";
import { type ConfChange, ConfChangeType, type ProgressStateType } from "@chainfire/raft";
import type { MetaStore } from "@chainfire/storage";
import { type ChannelCredentials, status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { computeMemberId, formatId } from "./ids.js";
import { LeaderForwarder } from "./lease/leader-forwarder.js";
import type { MemberInfo } from "./member-context.js";
import { delay } from "./member-events.js";

/** Forwarded method names (peer.proto ForwardRequest.method). */
export const FORWARD_PROMOTE = "MemberPromote";
export const FORWARD_AUTO_PROMOTE = "MemberAutoPromote";

/** etcd 3.4's maxLearners: one learner at a time ("too many learner members in cluster"). */
export const MAX_LEARNERS = 1;

/** etcd's readyPercent: a learner is in sync when match >= 0.9 x the leader's match. */
export const LEARNER_READY_FRACTION = 0.9;

/** The leader's view of one member's replication (raft's Progress). */
export interface ReplicationProgress {
  match: number;
  state: ProgressStateType;
}

/** What membership changes need from the member. */
export interface MembershipHost {
  readonly id: bigint;
  readonly clusterId: bigint;
  readonly logger: Logger;
  meta(): MetaStore;
  /** --initial-cluster-token (seeds new member ids, as etcd). */
  readonly token: string;
  readonly requestTimeoutMs: number;
  /** Aborted when the member stops. */
  readonly stopping: AbortSignal;
  proposeConfChange(cc: Omit<ConfChange, "id">, signal?: AbortSignal): Promise<unknown>;
  /** The known leader (0n: none). */
  leader(): bigint;
  /** On the leader: every member's replication progress (raft status); else undefined. */
  progress(): Map<bigint, ReplicationProgress> | undefined;
  /** Waits until this member has applied everything committed before the call. */
  readBarrier(signal?: AbortSignal): Promise<void>;
  /** Credentials to dial a peer URL (TLS when peers use https). */
  dialCredentials(url: string): ChannelCredentials;
}

/** Whether every URL is http(s) with a port (etcd: "given member URLs are invalid"). */
function validUrls(urls: readonly string[]): boolean {
  if (urls.length === 0) return false;
  return urls.every((u) => {
    try {
      const url = new URL(u);
      return (url.protocol === "http:" || url.protocol === "https:") && url.port !== "";
    } catch {
      return false;
    }
  });
}

function encodeMember(m: MemberInfo): Uint8Array {
  return peerpb.MemberInfo.encode({
    id: m.id,
    name: m.name,
    peerUrls: m.peerUrls,
    clientUrls: m.clientUrls,
    isLearner: m.isLearner,
  }).finish();
}

/** Errors from the leader that end a forwarded promotion (anything else is retried). */
function isFinal(err: unknown): boolean {
  if (!(err instanceof EtcdError)) return false;
  if (err.code === status.UNAVAILABLE) return false;
  return err.message !== ErrNotLeader.message;
}

export class Membership {
  readonly #host: MembershipHost;
  readonly #forwarder: LeaderForwarder;

  constructor(host: MembershipHost) {
    this.#host = host;
    this.#forwarder = new LeaderForwarder({
      id: host.id,
      clusterId: host.clusterId,
      members: () =>
        host
          .meta()
          .members()
          .map((m) => ({ id: m.id, peerUrls: m.peerURLs })),
      dialCredentials: (url) => host.dialCredentials(url),
      logger: host.logger,
    });
  }

  /** Fails forwarded promotions in flight and closes the link to the leader. */
  close(): void {
    this.#forwarder.close();
  }

  #checkUrlsFree(peerUrls: readonly string[], except?: bigint): void {
    for (const m of this.#host.meta().members()) {
      if (m.id !== except && m.peerURLs.some((u) => peerUrls.includes(u))) {
        throw new EtcdError(ErrPeerURLExist);
      }
    }
  }

  async add(peerUrls: string[], isLearner: boolean, signal?: AbortSignal): Promise<MemberInfo> {
    if (!validUrls(peerUrls)) throw new EtcdError(ErrMemberBadURLs);
    this.#checkUrlsFree(peerUrls);
    if (isLearner) {
      const learners = this.#host
        .meta()
        .members()
        .filter((m) => m.isLearner).length;
      if (learners + 1 > MAX_LEARNERS) throw new EtcdError(ErrTooManyLearners);
    }
    // etcd: a member added at runtime has an id from its URLs, the token and the time.
    const id = computeMemberId(peerUrls, `${this.#host.token}${Math.floor(Date.now() / 1000)}`);
    const m: MemberInfo = { id, name: "", peerUrls, clientUrls: [], isLearner };
    await this.#host.proposeConfChange(
      {
        type: isLearner ? ConfChangeType.AddLearnerNode : ConfChangeType.AddNode,
        nodeId: id,
        context: encodeMember(m),
      },
      signal,
    );
    return m;
  }

  async remove(id: bigint, signal?: AbortSignal): Promise<void> {
    if (this.#host.meta().member(id) === undefined) throw new EtcdError(ErrMemberNotFound);
    await this.#host.proposeConfChange(
      { type: ConfChangeType.RemoveNode, nodeId: id, context: new Uint8Array(0) },
      signal,
    );
  }

  async update(id: bigint, peerUrls: string[], signal?: AbortSignal): Promise<void> {
    const m = this.#host.meta().member(id);
    if (m === undefined) throw new EtcdError(ErrMemberNotFound);
    if (!validUrls(peerUrls)) throw new EtcdError(ErrMemberBadURLs);
    this.#checkUrlsFree(peerUrls, id);
    const context = encodeMember({
      id,
      name: m.name,
      peerUrls,
      clientUrls: m.clientURLs,
      isLearner: m.isLearner,
    });
    await this.#host.proposeConfChange(
      { type: ConfChangeType.UpdateNode, nodeId: id, context },
      signal,
    );
  }

  /**
   * Cluster.MemberPromote: on the leader, checks the learner is in sync and proposes the
   * promotion; elsewhere forwards to the leader. `strict` is --auto-promote's rule.
   */
  async promote(id: bigint, signal?: AbortSignal, strict = false): Promise<void> {
    // No local checks first: this member's applied membership may lag the leader's (as
    // etcd, only the leader's answer counts).
    const h = this.#host;
    const deadline = performance.now() + h.requestTimeoutMs;
    const method = strict ? FORWARD_AUTO_PROMOTE : FORWARD_PROMOTE;
    const request = etcdserverpb.MemberPromoteRequest.encode({ ID: id }).finish();
    let lastErr: unknown = new EtcdError(ErrTimeout);
    for (;;) {
      if (signal?.aborted) throw new EtcdError(ErrCanceled);
      if (h.stopping.aborted) throw new EtcdError(ErrStopped);
      const left = deadline - performance.now();
      if (left <= 0) throw lastErr;
      const leader = h.leader();
      try {
        if (leader === h.id) {
          await this.#promoteOnLeader(id, strict, signal);
          return;
        }
        if (leader !== 0n) {
          const s = signal ? AbortSignal.any([signal, h.stopping]) : h.stopping;
          await this.#forwarder.forward(leader, method, request, left, s);
          // The leader applied it; let this member catch up so its answer shows it.
          await h.readBarrier(signal).catch(() => {});
          return;
        }
      } catch (err) {
        if (isFinal(err)) throw err;
        lastErr = err;
      }
      await delay(Math.min(100, Math.max(1, left)), h.stopping);
    }
  }

  /** The leader's side of a forwarded promotion (transport/forward.ts). */
  async handleForward(method: string, request: Uint8Array, signal: AbortSignal) {
    const { ID } = etcdserverpb.MemberPromoteRequest.decode(request);
    if (this.#host.leader() !== this.#host.id) throw new EtcdError(ErrNotLeader);
    await this.#promoteOnLeader(ID, method === FORWARD_AUTO_PROMOTE, signal);
    return etcdserverpb.MemberPromoteResponse.encode({ header: undefined, members: [] }).finish();
  }

  async #promoteOnLeader(id: bigint, strict: boolean, signal?: AbortSignal): Promise<void> {
    const h = this.#host;
    const m = h.meta().member(id);
    if (m === undefined) throw new EtcdError(ErrMemberNotFound);
    if (!m.isLearner) throw new EtcdError(ErrMemberNotLearner);
    const progress = h.progress();
    if (progress === undefined) throw new EtcdError(ErrNotLeader);
    const ready = learnerReady(progress, h.id, id, strict);
    if (!ready.ok) {
      h.logger.info(
        { learner: formatId(id), match: ready.match, leaderMatch: ready.leaderMatch, strict },
        "refusing to promote a learner that is not in sync with the leader",
      );
      throw new EtcdError(ErrMemberLearnerNotReady);
    }
    const context = encodeMember({
      id,
      name: m.name,
      peerUrls: m.peerURLs,
      clientUrls: m.clientURLs,
      isLearner: false,
    });
    await h.proposeConfChange({ type: ConfChangeType.AddNode, nodeId: id, context }, signal);
    h.logger.info({ member: formatId(id), name: m.name }, "promoted a learner to voting member");
  }
}

/**
 * The readiness rule, on the leader's progress map. etcd 3.4: the learner's match is at
 * least {@link LEARNER_READY_FRACTION} of the leader's (a learner raft does not track is
 * let through; the conf change then decides). `strict` (--auto-promote) also wants the
 * learner replicating normally (not probing, not receiving a snapshot) and tracked.
 */
export function learnerReady(
  progress: ReadonlyMap<bigint, ReplicationProgress>,
  leaderId: bigint,
  learnerId: bigint,
  strict: boolean,
): { ok: boolean; match: number; leaderMatch: number } {
  const leaderMatch = progress.get(leaderId)?.match ?? 0;
  const pr = progress.get(learnerId);
  if (pr === undefined) return { ok: !strict, match: 0, leaderMatch };
  const inSync = pr.match >= leaderMatch * LEARNER_READY_FRACTION;
  return {
    ok: inSync && (!strict || pr.state === "replicate"),
    match: pr.match,
    leaderMatch,
  };
}
