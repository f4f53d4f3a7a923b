/**
 * Membership changes (etcd's Cluster.MemberAdd/Remove/Update/Promote), checked against the
 * applied membership with etcd's errors and proposed as raft conf changes whose context is
 * the member (peerpb.MemberInfo); they resolve once applied on this member (apply/applier.ts
 * updates raft's configuration and the membership in the same batch).
 */
import {
  ErrMemberBadURLs,
  ErrMemberNotFound,
  ErrMemberNotLearner,
  ErrPeerURLExist,
  EtcdError,
  peerpb,
} from "@chainfire/api";
import { type ConfChange, ConfChangeType } from "@chainfire/raft";
import type { MetaStore } from "@chainfire/storage";
import { computeMemberId } from "./ids.js";
import type { MemberInfo } from "./member-context.js";

/** What membership changes need from the member. */
export interface MembershipHost {
  meta(): MetaStore;
  /** --initial-cluster-token (seeds new member ids, as etcd). */
  readonly token: string;
  proposeConfChange(cc: Omit<ConfChange, "id">, signal?: AbortSignal): Promise<unknown>;
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

export class Membership {
  readonly #host: MembershipHost;

  constructor(host: MembershipHost) {
    this.#host = host;
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

  async promote(id: bigint, signal?: AbortSignal): Promise<void> {
    const m = this.#host.meta().member(id);
    if (m === undefined) throw new EtcdError(ErrMemberNotFound);
    if (!m.isLearner) throw new EtcdError(ErrMemberNotLearner);
    const context = encodeMember({
      id,
      name: m.name,
      peerUrls: m.peerURLs,
      clientUrls: m.clientURLs,
      isLearner: false,
    });
    await this.#host.proposeConfChange(
      { type: ConfChangeType.AddNode, nodeId: id, context },
      signal,
    );
  }
}
