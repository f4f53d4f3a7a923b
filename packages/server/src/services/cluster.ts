/**
 * etcdserverpb.Cluster: membership as the applied configuration knows it. MemberList
 * (optionally linearizable, etcd 3.5's `linearizable` flag) reads the context; MemberAdd,
 * MemberRemove, MemberUpdate and MemberPromote call the context's membership methods,
 * which propose the change through raft. Peer URLs are checked here as etcd does
 * (ErrMemberBadURLs); everything else is the member's answer.
 */
import { ErrMemberBadURLs, EtcdError, etcdserverpb } from "@chainfire/api";
import { parseMemberUrl, UrlProblem } from "../config-urls.js";
import type { MemberContext, MemberInfo } from "../member-context.js";
import { unaryHandler } from "./interceptors.js";

/** The Cluster service of `ctx`. */
export function clusterService(ctx: MemberContext): etcdserverpb.ClusterServer {
  const stop = ctx.stopping;
  const members = () => ctx.members().map(toPbMember);
  return {
    memberList: unaryHandler<etcdserverpb.MemberListRequest, etcdserverpb.MemberListResponse>(
      async (req, signal) => {
        if (req.linearizable) await ctx.readBarrier(signal);
        return etcdserverpb.MemberListResponse.fromPartial({
          header: ctx.header(),
          members: members(),
        });
      },
      stop,
    ),

    memberAdd: unaryHandler<etcdserverpb.MemberAddRequest, etcdserverpb.MemberAddResponse>(
      async (req, signal) => {
        const added = await ctx.addMember(checkPeerUrls(req.peerURLs), req.isLearner, signal);
        return etcdserverpb.MemberAddResponse.fromPartial({
          header: ctx.header(),
          member: toPbMember(added),
          members: members(),
        });
      },
      stop,
    ),

    memberRemove: unaryHandler<etcdserverpb.MemberRemoveRequest, etcdserverpb.MemberRemoveResponse>(
      async (req, signal) => {
        await ctx.removeMember(req.ID, signal);
        return etcdserverpb.MemberRemoveResponse.fromPartial({
          header: ctx.header(),
          members: members(),
        });
      },
      stop,
    ),

    memberUpdate: unaryHandler<etcdserverpb.MemberUpdateRequest, etcdserverpb.MemberUpdateResponse>(
      async (req, signal) => {
        await ctx.updateMember(req.ID, checkPeerUrls(req.peerURLs), signal);
        return etcdserverpb.MemberUpdateResponse.fromPartial({
          header: ctx.header(),
          members: members(),
        });
      },
      stop,
    ),

    memberPromote: unaryHandler<
      etcdserverpb.MemberPromoteRequest,
      etcdserverpb.MemberPromoteResponse
    >(async (req, signal) => {
      await ctx.promoteMember(req.ID, signal);
      return etcdserverpb.MemberPromoteResponse.fromPartial({
        header: ctx.header(),
        members: members(),
      });
    }, stop),
  };
}

/** A MemberInfo as etcdserverpb.Member. */
export function toPbMember(m: MemberInfo): etcdserverpb.Member {
  return etcdserverpb.Member.fromPartial({
    ID: m.id,
    name: m.name,
    peerURLs: m.peerUrls,
    clientURLs: m.clientUrls,
    isLearner: m.isLearner,
  });
}

/** Peer URLs must be a non-empty list of http://host:port (ErrMemberBadURLs otherwise). */
function checkPeerUrls(urls: readonly string[]): string[] {
  if (urls.length === 0) throw new EtcdError(ErrMemberBadURLs);
  const out: string[] = [];
  for (const u of urls) {
    const parsed = parseMemberUrl(u);
    if (parsed instanceof UrlProblem) throw new EtcdError(ErrMemberBadURLs);
    out.push(parsed);
  }
  return out;
}
