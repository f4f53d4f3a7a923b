/**
 * Endpoint URLs as users and etcdctl write them (`http://10.0.0.1:2379`,
 * `https://node01:2379`, `127.0.0.1:2379`, `unix:///run/etcd.sock`) and the gRPC targets
 * they become.
 *
 * @module
 */

/** One parsed endpoint. */
export interface Endpoint {
  /** As given by the user (used in messages and to name the endpoint in options). */
  readonly url: string;
  /** The gRPC target (`host:port` or `unix:...`). */
  readonly target: string;
  /** Whether the URL asked for TLS (`https://`). */
  readonly secure: boolean;
}

/** Parses an endpoint URL; the port defaults to 2379. */
export function parseEndpoint(url: string): Endpoint {
  const trimmed = url.trim();
  if (trimmed === "") throw new TypeError("chainfire: empty endpoint");
  if (trimmed.startsWith("unix:")) return { url: trimmed, target: trimmed, secure: false };
  const match = /^(?:(https?):\/\/)?([^/]+?)\/?$/i.exec(trimmed);
  if (!match) throw new TypeError(`chainfire: invalid endpoint ${JSON.stringify(url)}`);
  const scheme = (match[1] ?? "http").toLowerCase();
  let hostPort = match[2];
  const hasPort = hostPort.startsWith("[") ? /\]:\d+$/.test(hostPort) : /:\d+$/.test(hostPort);
  if (!hasPort) hostPort = `${hostPort}:2379`;
  return { url: trimmed, target: hostPort, secure: scheme === "https" };
}

/** Splits a comma-separated endpoint list (as `--endpoints` takes it). */
export function splitEndpoints(list: string): string[] {
  return list
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}
