/**
 * Versions Chainfire reports: its own, and the etcd API level it is compatible with.
 *
 * Clients gate features on the etcd version a server reports (kube-apiserver turns off
 * RequestWatchProgress below 3.5.13; etcd tooling greps `etcd Version:`), so everything
 * client-visible (Maintenance.Status.version, GET /version, `chainfire --version`)
 * reports {@link ETCD_API_VERSION}; Chainfire's own version travels beside it.
 */
import { existsSync, readFileSync } from "node:fs";
import { arch, platform } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Chainfire's version (packages/server/package.json; a test keeps them equal). */
export const CHAINFIRE_VERSION = "0.1.0";

/** The etcd server version whose v3 API Chainfire serves (Status.version, /version). */
export const ETCD_API_VERSION = "3.5.13";

/** The etcd cluster version Chainfire reports in GET /version ("major.minor.0"). */
export const ETCD_CLUSTER_VERSION = "3.5.0";

/**
 * The git commit Chainfire was built from: `$CHAINFIRE_GIT_SHA` (set by packagers), else
 * read from the checkout this file lives in, else "unknown". Abbreviated to 9 characters
 * as etcd does.
 */
export function gitSha(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.CHAINFIRE_GIT_SHA?.trim();
  if (fromEnv) return fromEnv.slice(0, 9);
  try {
    const sha = readCheckoutSha(dirname(fileURLToPath(import.meta.url)));
    return sha === undefined ? "unknown" : sha.slice(0, 9);
  } catch {
    return "unknown";
  }
}

/** The lines of `chainfire --version`, etcd's layout plus a Chainfire line first. */
export function versionText(env: NodeJS.ProcessEnv = process.env): string {
  return [
    `chainfire Version: ${CHAINFIRE_VERSION}`,
    `etcd Version: ${ETCD_API_VERSION}`,
    `Git SHA: ${gitSha(env)}`,
    `Node Version: ${process.version}`,
    `OS/Arch: ${platform()}/${arch()}`,
  ].join("\n");
}

/** The body of GET /version: etcd's two keys plus ours. */
export function versionJson(): { etcdserver: string; etcdcluster: string; chainfire: string } {
  return {
    etcdserver: ETCD_API_VERSION,
    etcdcluster: ETCD_CLUSTER_VERSION,
    chainfire: CHAINFIRE_VERSION,
  };
}

/** Walks up from `start` to a `.git` directory and resolves HEAD without running git. */
function readCheckoutSha(start: string): string | undefined {
  let dir = resolve(start);
  for (let i = 0; i < 8; i++) {
    const gitDir = join(dir, ".git");
    if (existsSync(join(gitDir, "HEAD"))) {
      const head = readFileSync(join(gitDir, "HEAD"), "utf8").trim();
      if (!head.startsWith("ref: ")) return /^[0-9a-f]{40}$/.test(head) ? head : undefined;
      const ref = head.slice(5);
      const loose = join(gitDir, ref);
      if (existsSync(loose)) return readFileSync(loose, "utf8").trim();
      const packed = join(gitDir, "packed-refs");
      if (!existsSync(packed)) return undefined;
      for (const line of readFileSync(packed, "utf8").split("\n")) {
        const [sha, name] = line.split(" ");
        if (name === ref && sha !== undefined) return sha;
      }
      return undefined;
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
  return undefined;
}
