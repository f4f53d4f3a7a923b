/**
 * The member's HTTP endpoints, served on every --listen-metrics-urls URL:
 *
 * | path                 | answer                                                           |
 * | -------------------- | ---------------------------------------------------------------- |
 * | GET /metrics         | Prometheus text (MemberMetrics, etcd's metric names)             |
 * | GET /health          | `{"health":"true","reason":""}` 200, or "false" + reason 503     |
 * | GET /livez, /readyz  | "ok" 200, or the failed checks 503 (see http-health.ts)          |
 * | GET /version         | `{"etcdserver":"3.5.13","etcdcluster":"3.5.0","chainfire":"0.1.0"}` |
 *
 * etcd also serves these on its client port. Chainfire's client port is gRPC only
 * (grpc-js cannot share a port with HTTP/1.1), so they are on the metrics URLs only;
 * pass --listen-metrics-urls (the local cluster and the test harness always do).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type HealthCheck, MemberHealth, runChecks } from "./http-health.js";
import type { MemberContext } from "./member-context.js";
import { versionJson } from "./version.js";

/** Running HTTP listeners. */
export interface HttpEndpoints {
  /** The bound URLs (with the actual port when 0 was asked for). */
  readonly urls: readonly string[];
  /** Stops listening and drops open connections. Idempotent. */
  close(): Promise<void>;
}

export interface HttpOptions {
  /**
   * Deadline of the read checks of /health and /readyz. Default: the election timeout,
   * clamped to 1-2 s.
   */
  healthTimeoutMs?: number;
}

/** Starts one HTTP server per URL; all or nothing (a failed bind closes the others). */
export async function startHttpServers(
  urls: readonly string[],
  ctx: MemberContext,
  opts: HttpOptions = {},
): Promise<HttpEndpoints> {
  const timeout =
    opts.healthTimeoutMs ?? Math.min(2000, Math.max(1000, ctx.options.electionTimeoutMs));
  const handler = httpHandler(ctx, new MemberHealth(ctx, timeout));
  const servers: Server[] = [];
  const bound: string[] = [];
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    ).then(() => {});
    return closed;
  };
  try {
    for (const url of urls) {
      const u = new URL(url);
      const server = createServer(handler);
      servers.push(server);
      const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen({ host, port: Number(u.port) }, () => {
          server.off("error", reject);
          resolve();
        });
      });
      const addr = server.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : Number(u.port);
      bound.push(`${u.protocol}//${u.hostname}:${port}`);
    }
  } catch (err) {
    await close();
    throw new Error(`cannot listen for metrics on ${urls.join(",")}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return { urls: bound, close };
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** The request handler (exported for tests that need no socket). */
export function httpHandler(ctx: MemberContext, health: MemberHealth): Handler {
  const log = ctx.logger.child({ svc: "http" });
  // Probes poll often: a failure is logged when its text changes, or once a minute.
  let lastWarning = "";
  let lastWarningAt = 0;
  const warnOnce = (fields: Record<string, unknown>, msg: string) => {
    const key = `${msg}:${JSON.stringify(fields)}`;
    const now = Date.now();
    if (key === lastWarning && now - lastWarningAt < 60_000) return;
    lastWarning = key;
    lastWarningAt = now;
    log.warn(fields, msg);
  };
  const checkSets: Record<string, () => Map<string, HealthCheck>> = {
    "/livez": () => health.livez(),
    "/readyz": () => health.readyz(),
  };
  return (req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://localhost");
    } catch {
      // An absolute-form target that is no URL ("GET http://[ HTTP/1.1"): thrown from
      // this handler it would have ended the member.
      return send(res, 400, "text/plain; charset=utf-8", "400 bad request\n");
    }
    const path = url.pathname;
    const route = async (): Promise<void> => {
      if (path === "/metrics") {
        if (!allowGet(req, res)) return;
        refreshGauges(ctx);
        const body = await ctx.metrics.text();
        return send(res, 200, ctx.metrics.contentType, body);
      }
      if (path === "/health") {
        if (!allowGet(req, res)) return;
        const h = await health.health(url.searchParams, abortOnClose(req));
        if (h.health === "true") ctx.metrics.healthSuccess.inc();
        else {
          ctx.metrics.healthFailures.inc();
          warnOnce({ reason: h.reason }, "/health error");
        }
        return send(res, h.health === "true" ? 200 : 503, "application/json", JSON.stringify(h));
      }
      if (path === "/version") {
        if (!allowGet(req, res)) return;
        return send(res, 200, "application/json", JSON.stringify(versionJson()));
      }
      const [, root = "", sub] = path.split("/");
      const set = checkSets[`/${root}`];
      if (set !== undefined && path.split("/").length <= 3) {
        if (!allowGet(req, res)) return;
        let checks = set();
        if (sub !== undefined && sub !== "") {
          const one = checks.get(sub);
          if (one === undefined) return send(res, 404, "text/plain", "404 page not found\n");
          checks = new Map([[sub, one]]);
        }
        const excluded = new Set(url.searchParams.getAll("exclude"));
        const { ok, report } = await runChecks(checks, excluded, abortOnClose(req));
        if (!ok) {
          warnOnce({ path, report }, "health check error");
          return send(res, 503, "text/plain; charset=utf-8", report);
        }
        const verbose = url.searchParams.has("verbose");
        return send(res, 200, "text/plain; charset=utf-8", `${verbose ? report : ""}ok\n`);
      }
      return send(res, 404, "text/plain; charset=utf-8", "404 page not found\n");
    };
    route().catch((err: unknown) => {
      log.error({ err, path }, "bug: HTTP handler failed");
      if (!res.headersSent) send(res, 500, "text/plain", "internal error\n");
      else res.destroy();
    });
  };
}

function allowGet(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method === "GET" || req.method === "HEAD") return true;
  res.setHeader("Allow", "GET");
  send(res, 405, "text/plain; charset=utf-8", "Method Not Allowed\n");
  return false;
}

function send(res: ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, { "Content-Type": type, "X-Content-Type-Options": "nosniff" });
  res.end(body);
}

/** Aborted when the client goes away before the answer (stops a pending read check). */
function abortOnClose(req: IncomingMessage): AbortSignal {
  const ac = new AbortController();
  req.once("close", () => {
    if (!req.complete) ac.abort();
  });
  req.socket.once("close", () => ac.abort());
  return ac.signal;
}

/** Gauges that mirror the member's state, refreshed at each scrape. */
function refreshGauges(ctx: MemberContext): void {
  const m = ctx.metrics;
  const s = ctx.status();
  m.hasLeader.set(s.leader !== 0n ? 1 : 0);
  m.isLeader.set(ctx.isLeader() ? 1 : 0);
  m.isLearner.set(s.isLearner ? 1 : 0);
  m.dbTotalSize.set(Number(s.dbSize));
  m.dbTotalSizeInUse.set(Number(s.dbSizeInUse));
  m.proposalsApplied.set(Number(s.raftAppliedIndex));
  if (s.storage) {
    m.storageFlushes.set(s.storage.flushes);
    m.storageCompactions.set(s.storage.compactions);
    m.storageWriteStall.set(s.storage.writeStall);
  }
}
