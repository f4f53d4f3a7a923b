/**
 * etcdserverpb.Watch on a member: each bidirectional stream is a ServerWatchStream
 * (watch/watch-stream.ts) fed by the member's one WatchableStore (watch/watchable-store.ts),
 * which follows this member's own apply path — so watches work on any member, followers
 * included. See docs/watch.md for the design.
 *
 * Stream lifetime, as etcd's v3rpc (watch.go, interceptor.go):
 * - metadata `hasleader=true` (clientv3's WithRequireLeader; etcdctl always sets it): the
 *   stream is refused with UNAVAILABLE "etcdserver: no leader" when the member knows no
 *   leader, and ended the same way when the member has had no leader for
 *   `noLeaderCancelMs` (etcd: three election timeouts). etcd ends the whole stream; it
 *   sends no per-watcher canceled responses, and clientv3 relies on that (a canceled
 *   response would close its watch channel without an error).
 * - the client half-closing its side does not end the stream (etcd keeps sending);
 *   cancelling the call does.
 * - member shutdown (`ctx.stopping`): every stream ends with UNAVAILABLE "etcdserver:
 *   server stopped", which clients treat as "try another member".
 */

import { ErrNoLeader, ErrStopped, EtcdError, type etcdserverpb } from "@chainfire/api";
import type { ServerDuplexStream } from "@grpc/grpc-js";
import { checkRange } from "../auth/permissions.js";
import type { Disposable, MemberContext } from "../member-context.js";
import { registerWatchMetrics } from "../watch/metrics.js";
import { type WatchOptions, watchOptions } from "../watch/options.js";
import { ServerWatchStream } from "../watch/watch-stream.js";
import { WatchableStore } from "../watch/watchable-store.js";
import { toGrpcError } from "./errors.js";

const METHOD = "/etcdserverpb.Watch/Watch";

type WatchCall = ServerDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>;

/** The Watch service's handler plus what tests may inspect. */
export interface WatchServiceHandle {
  /** The grpc-js implementation to register. */
  readonly impl: etcdserverpb.WatchServer;
  /** The member's watchers (created with the first stream). */
  readonly store: WatchableStore | undefined;
  /** Open streams. */
  readonly streams: ReadonlySet<ServerWatchStream>;
  /** Ends every stream and stops feeding watchers (also done on `ctx.stopping`). */
  dispose(): void;
}

/** The Watch service of `ctx` (what services/index.ts registers). */
export function watchService(
  ctx: MemberContext,
  overrides: Partial<WatchOptions> = {},
): etcdserverpb.WatchServer {
  return createWatchService(ctx, overrides).impl;
}

/** The Watch service of `ctx` with its internals; `overrides` adjust watch/options.ts. */
export function createWatchService(
  ctx: MemberContext,
  overrides: Partial<WatchOptions> = {},
): WatchServiceHandle {
  const logger = ctx.logger.child({ svc: "watch" });
  const streams = new Set<ServerWatchStream>();
  const requireLeader = new Set<ServerWatchStream>();
  let hub: WatchableStore | undefined;
  let leaderSub: Disposable | undefined;
  let noLeaderTimer: NodeJS.Timeout | undefined;
  let disposed = false;

  const opts = () => watchOptions(ctx.options, overrides);
  const watcherCounts = () => hub?.counts() ?? { synced: 0, unsynced: 0, victims: 0 };
  const metrics = registerWatchMetrics(ctx.metrics.registry, {
    streams: () => streams.size,
    watchers: () => {
      const c = watcherCounts();
      return c.synced + c.unsynced + c.victims;
    },
    slowWatchers: () => {
      const c = watcherCounts();
      return c.unsynced + c.victims;
    },
  });

  const endRequireLeader = () => {
    noLeaderTimer = undefined;
    if (ctx.hasLeader()) return;
    for (const s of [...requireLeader]) s.fail(new EtcdError(ErrNoLeader));
  };

  const start = (): WatchableStore => {
    if (hub) return hub;
    const o = opts();
    hub = new WatchableStore(ctx, o, logger);
    leaderSub = ctx.onLeaderChange((e) => {
      if (e.leader !== 0n) {
        if (noLeaderTimer) clearTimeout(noLeaderTimer);
        noLeaderTimer = undefined;
      } else if (!noLeaderTimer) {
        noLeaderTimer = setTimeout(endRequireLeader, o.noLeaderCancelMs);
        noLeaderTimer.unref();
      }
    });
    return hub;
  };

  const dispose = () => {
    if (disposed) return;
    disposed = true;
    for (const s of [...streams]) s.fail(new EtcdError(ErrStopped));
    if (noLeaderTimer) clearTimeout(noLeaderTimer);
    leaderSub?.dispose();
    hub?.close();
  };
  if (ctx.stopping.aborted) disposed = true;
  else ctx.stopping.addEventListener("abort", dispose, { once: true });

  const failCall = (call: WatchCall, err: unknown) => {
    if (call.cancelled || call.destroyed || call.writableEnded) return;
    call.emit("error", toGrpcError(err, logger, METHOD));
  };

  const watch = (call: WatchCall) => {
    if (disposed) return failCall(call, new EtcdError(ErrStopped));
    const wantsLeader = call.metadata.get("hasleader")[0] === "true";
    if (wantsLeader && !ctx.hasLeader()) return failCall(call, new EtcdError(ErrNoLeader));
    const stream = new ServerWatchStream(
      start(),
      {
        write: (r) => {
          if (call.cancelled || call.destroyed || call.writableEnded) return true;
          return call.write(r);
        },
        pauseInput: () => call.pause(),
        resumeInput: () => call.resume(),
        fail: (err) => failCall(call, err),
        permitted: (key, rangeEnd) => watchPermitted(ctx, call, key, rangeEnd),
      },
      (revision) => ctx.header(revision),
      opts(),
      logger,
      metrics,
    );
    streams.add(stream);
    if (wantsLeader) requireLeader.add(stream);
    const closed = () => {
      stream.close();
      streams.delete(stream);
      requireLeader.delete(stream);
    };
    call.on("data", (req: etcdserverpb.WatchRequest) => stream.handle(req));
    call.on("drain", () => stream.drained());
    call.on("cancelled", closed);
    call.on("error", closed);
    call.on("close", closed);
    call.on("finish", closed);
    // The client half-closing ("end") leaves the stream open, as etcd does.
    call.on("end", () => {});
  };

  return {
    impl: { watch },
    get store() {
      return hub;
    },
    streams,
    dispose,
  };
}

/**
 * etcd's isWatchPermitted: read permission on the watched range for the stream's user (a
 * bad token or no user while auth is on: not permitted). Unlike etcd 3.4, a from-key
 * watch (range end "\0") is checked as the whole range from its key, not as one key.
 */
function watchPermitted(
  ctx: MemberContext,
  call: WatchCall,
  key: Uint8Array,
  rangeEnd: Uint8Array,
): boolean {
  const store = ctx.auth.store;
  if (!store.enabled) return true;
  try {
    checkRange(store, ctx.auth.authInfoNow(call), key, rangeEnd, "read");
    return true;
  } catch {
    return false;
  }
}
