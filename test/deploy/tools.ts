/**
 * Helpers for the deployment checks: run a command (no shell), and insist that the tools
 * CI installs are present — a missing tool fails the check with what to run, it never
 * skips it silently.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** What one command printed and how it ended. */
export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `file args...` to completion (default cwd: the repository root). */
export function run(
  file: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): RunResult {
  const result = spawnSync(file, args, {
    cwd: options.cwd ?? REPO,
    env: options.env ?? process.env,
    input: options.input,
    encoding: "utf8",
    timeout: options.timeoutMs ?? 30_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Where CI gets each external tool (.ci/run installs them). */
const SOURCES: Record<string, string> = {
  "nix-instantiate": "the Debian package nix-bin",
  yamllint: "the Debian package yamllint",
  shellcheck: "the Debian package shellcheck",
  etcd: "the Debian package etcd-server",
  etcdctl: "the Debian package etcd-client",
  blkid: "the Debian package util-linux",
  "mkfs.ext4": "the Debian package e2fsprogs",
  promtool: "the Debian package prometheus",
  "systemd-analyze": "the Debian package systemd",
};

/** Throws "run .ci/run to install X" unless `tool` is on PATH. */
export function requireTool(tool: string): void {
  const found = spawnSync("sh", ["-c", `command -v "$0"`, tool], { encoding: "utf8" });
  if (found.status !== 0) {
    const source = SOURCES[tool] ?? tool;
    throw new Error(`${tool} is missing: run .ci/run to install it (${source})`);
  }
}

/** Environment for nix-instantiate: no build users needed for evaluation. */
export function nixEnv(): NodeJS.ProcessEnv {
  return { ...process.env, NIX_CONFIG: "build-users-group =" };
}

/** Every file under `dir` (relative to the repo root) whose name passes `keep`. */
export function filesUnder(dir: string, keep: (name: string) => boolean): string[] {
  const out: string[] = [];
  const walk = (abs: string) => {
    for (const name of readdirSync(abs).sort()) {
      const path = join(abs, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (keep(name)) out.push(relative(REPO, path));
    }
  };
  walk(join(REPO, dir));
  return out;
}

/** The member's etcd-named flags (the contract of packages/server). */
export const CONTRACT_FLAGS = new Set([
  "name",
  "data-dir",
  "listen-client-urls",
  "advertise-client-urls",
  "listen-peer-urls",
  "initial-advertise-peer-urls",
  "initial-cluster",
  "initial-cluster-state",
  "initial-cluster-token",
  "listen-metrics-urls",
  "heartbeat-interval",
  "election-timeout",
  "snapshot-count",
  "quota-backend-bytes",
  "max-request-bytes",
  "cert-file",
  "key-file",
  "trusted-ca-file",
  "client-cert-auth",
  "peer-cert-file",
  "peer-key-file",
  "peer-trusted-ca-file",
  "peer-client-cert-auth",
  "auto-tls",
  "peer-auto-tls",
  "peer-cert-allowed-cn",
]);
