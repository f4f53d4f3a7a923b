/**
 * Parsing and checking the URL-valued flags (--listen-client-urls, --initial-cluster, ...).
 * Pure functions: text in, normalized values or a problem description out.
 */

/** A URL flag value that did not parse; `problem` reads well after the flag name. */
export class UrlProblem {
  constructor(readonly problem: string) {}
}

/**
 * Parses one member URL: `http://host:port` or `https://host:port` with an explicit port
 * and no path, query, credentials or fragment. Returns the normalized form
 * (`scheme://host:port`). unix:// and unixs:// are refused (unix sockets are not
 * implemented); an https URL needs TLS settings, which config-tls.ts checks.
 */
export function parseMemberUrl(text: string): string | UrlProblem {
  const s = text.trim();
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return new UrlProblem(`"${s}" is not a URL (expected http://host:port or https://host:port)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return new UrlProblem(
      `"${s}": unsupported scheme "${url.protocol}" (expected http:// or https://)`,
    );
  }
  if (url.hostname === "") return new UrlProblem(`"${s}" has no host`);
  if (url.port === "") return new UrlProblem(`"${s}" has no port (expected http://host:port)`);
  if (url.username !== "" || url.password !== "") {
    return new UrlProblem(`"${s}" must not carry credentials`);
  }
  if ((url.pathname !== "" && url.pathname !== "/") || url.search !== "" || url.hash !== "") {
    return new UrlProblem(`"${s}" must not have a path, query or fragment`);
  }
  return `${url.protocol}//${url.host}`;
}

/** Whether a (normalized) member URL asks for TLS. */
export function isTlsUrl(url: string): boolean {
  return url.startsWith("https:");
}

/** A comma-separated URL list: every URL normalized, or the first problem. */
export function parseUrlList(text: string): string[] | UrlProblem {
  const parts = text
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
  if (parts.length === 0) return new UrlProblem("is empty");
  const out: string[] = [];
  for (const p of parts) {
    const u = parseMemberUrl(p);
    if (u instanceof UrlProblem) return u;
    if (!out.includes(u)) out.push(u);
  }
  return out;
}

/**
 * Parses `--initial-cluster`: `name=url[,name=url...]`; a name may repeat to give a member
 * several peer URLs. A URL may belong to one member only.
 */
export function parseInitialCluster(text: string): Map<string, string[]> | UrlProblem {
  const cluster = new Map<string, string[]>();
  const owner = new Map<string, string>();
  const parts = text
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
  if (parts.length === 0) return new UrlProblem("is empty");
  for (const part of parts) {
    const eq = part.indexOf("=");
    if (eq <= 0) {
      return new UrlProblem(`entry "${part}" is not name=http://host:port`);
    }
    const name = part.slice(0, eq).trim();
    const url = parseMemberUrl(part.slice(eq + 1));
    if (url instanceof UrlProblem) return new UrlProblem(`member ${name}: ${url.problem}`);
    const prev = owner.get(url);
    if (prev !== undefined) {
      return new UrlProblem(
        prev === name
          ? `member ${name} lists ${url} twice`
          : `${url} is given to both ${prev} and ${name}`,
      );
    }
    owner.set(url, name);
    const urls = cluster.get(name) ?? [];
    urls.push(url);
    cluster.set(name, urls);
  }
  return cluster;
}

/** `--initial-cluster` text for a map (inverse of {@link parseInitialCluster}). */
export function formatInitialCluster(cluster: ReadonlyMap<string, readonly string[]>): string {
  const parts: string[] = [];
  for (const [name, urls] of cluster) for (const u of urls) parts.push(`${name}=${u}`);
  return parts.join(",");
}

/** Whether a URL's host is a wildcard address (0.0.0.0, [::]) that nobody can dial. */
export function isUnspecifiedHost(url: string): boolean {
  const host = new URL(url).hostname;
  return host === "0.0.0.0" || host === "[::]" || host === "::";
}

/** Whether two URL lists hold the same URLs, in any order. */
export function sameUrlSet(a: readonly string[], b: readonly string[]): boolean {
  const sa = [...new Set(a)].sort();
  const sb = [...new Set(b)].sort();
  return sa.length === sb.length && sa.every((u, i) => u === sb[i]);
}
