/**
 * Membership calls (`client.cluster`): list, add, remove, update and promote members.
 *
 * @module
 */
import { etcdserverpb } from "@chainfire/api";
import { type Header, toHeader } from "./kv.js";
import type { CallOptions, Transport } from "./transport.js";

/** A cluster member. */
export interface Member {
  /** The member id (etcdctl prints it in hex). */
  id: bigint;
  /** The member's name (empty until a newly added member has started). */
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

/** A member list with the header of the answer. */
export interface MemberListResult {
  header: Header;
  members: Member[];
}

/** The result of adding a member. */
export interface MemberAddResult extends MemberListResult {
  /** The member just added. */
  member: Member;
}

function toMember(m: etcdserverpb.Member): Member {
  return {
    id: m.ID,
    name: m.name,
    peerURLs: m.peerURLs,
    clientURLs: m.clientURLs,
    isLearner: m.isLearner,
  };
}

/** The membership calls of a client. */
export class ClusterApi {
  constructor(private readonly transport: Transport) {}

  /**
   * Lists the members. `linearizable` (etcd v3.5+; ignored by v3.4) asks for a list
   * that reflects every committed membership change.
   */
  async list(options: CallOptions & { linearizable?: boolean } = {}): Promise<MemberListResult> {
    const r = await this.transport.unary<etcdserverpb.MemberListResponse>(
      (s, md, o, cb) =>
        s.cluster.memberList({ linearizable: options.linearizable ?? false }, md, o, cb),
      { idempotent: true, requireLeader: false },
      options,
    );
    return { header: toHeader(r.header), members: r.members.map(toMember) };
  }

  /** Adds a member (or a learner) with the given peer URLs; start it afterwards. */
  async add(
    peerURLs: string[],
    options: CallOptions & { isLearner?: boolean } = {},
  ): Promise<MemberAddResult> {
    const r = await this.transport.unary<etcdserverpb.MemberAddResponse>(
      (s, md, o, cb) =>
        s.cluster.memberAdd({ peerURLs, isLearner: options.isLearner ?? false }, md, o, cb),
      { idempotent: false, requireLeader: true },
      options,
    );
    return {
      header: toHeader(r.header),
      member: toMember(etcdserverpb.Member.fromPartial(r.member ?? {})),
      members: r.members.map(toMember),
    };
  }

  /** Removes a member. */
  async remove(id: bigint, options?: CallOptions): Promise<MemberListResult> {
    const r = await this.transport.unary<etcdserverpb.MemberRemoveResponse>(
      (s, md, o, cb) => s.cluster.memberRemove({ ID: id }, md, o, cb),
      { idempotent: false, requireLeader: true },
      options,
    );
    return { header: toHeader(r.header), members: r.members.map(toMember) };
  }

  /** Changes a member's peer URLs. */
  async update(id: bigint, peerURLs: string[], options?: CallOptions): Promise<MemberListResult> {
    const r = await this.transport.unary<etcdserverpb.MemberUpdateResponse>(
      (s, md, o, cb) => s.cluster.memberUpdate({ ID: id, peerURLs }, md, o, cb),
      { idempotent: false, requireLeader: true },
      options,
    );
    return { header: toHeader(r.header), members: r.members.map(toMember) };
  }

  /** Promotes a learner that has caught up to a voting member. */
  async promote(id: bigint, options?: CallOptions): Promise<MemberListResult> {
    const r = await this.transport.unary<etcdserverpb.MemberPromoteResponse>(
      (s, md, o, cb) => s.cluster.memberPromote({ ID: id }, md, o, cb),
      { idempotent: false, requireLeader: true },
      options,
    );
    return { header: toHeader(r.header), members: r.members.map(toMember) };
  }
}
