/**
 * The settings the deployments hand a member — the NixOS module's environment (node01 as
 * evaluated from nix/) and deploy/systemd/chainfire.env — start a real member, with no
 * flags at all, on loopback. The member must come up healthy, warn about no variable it
 * does not know, and stop on SIGTERM.
 *
 * Targets follow the compatibility suites: etcd 3.4 by default (CHAINFIRE_X is passed as
 * ETCD_X, which proves the names are etcd's flags), Chainfire with
 * CHAINFIRE_COMPAT_TARGETS=chainfire or both.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { compatTargets } from "../compat/targets.js";
import { allocatePorts, CHAINFIRE_MAIN, type MemberKind, pollUntil } from "../harness/index.js";
import { nixEnv, REPO, requireTool, run } from "./tools.js";

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "cf-member-env-"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** node01's environment as the NixOS module renders it. */
function moduleEnv(): Record<string, string> {
  requireTool("nix-instantiate");
  const result = run(
    "nix-instantiate",
    [
      "--eval",
      "--strict",
      "--json",
      "test/deploy/nix/eval.nix",
      "-A",
      "hosts.node01.chainfire.environment",
    ],
    { env: nixEnv() },
  );
  if (result.code !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout) as Record<string, string>;
}

/** deploy/systemd/chainfire.env as systemd's EnvironmentFile= reads it. */
function systemdEnv(): Record<string, string> {
  const text = readFileSync(join(REPO, "deploy/systemd/chainfire.env"), "utf8");
  return Object.fromEntries(
    text
      .split("\n")
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
}

/**
 * Moves a host's settings onto loopback: its own address and the cluster's other members
 * go away (a one-member cluster of the same name), ports become free ones, the data dir a
 * temp dir.
 */
async function onLoopback(env: Record<string, string>, dataDir: string) {
  const [client, peer, metrics] = await allocatePorts(3);
  const name = env.CHAINFIRE_NAME;
  const url = (port: number) => `http://127.0.0.1:${port}`;
  const out: Record<string, string> = { ...env };
  const replace: Record<string, string> = {
    CHAINFIRE_DATA_DIR: dataDir,
    CHAINFIRE_LISTEN_CLIENT_URLS: url(client),
    CHAINFIRE_ADVERTISE_CLIENT_URLS: url(client),
    CHAINFIRE_LISTEN_PEER_URLS: url(peer),
    CHAINFIRE_INITIAL_ADVERTISE_PEER_URLS: url(peer),
    CHAINFIRE_LISTEN_METRICS_URLS: url(metrics),
    CHAINFIRE_INITIAL_CLUSTER: `${name}=${url(peer)}`,
  };
  for (const [key, value] of Object.entries(replace)) {
    expect(out, `the deployment sets ${key}`).toHaveProperty(key);
    out[key] = value;
  }
  return { env: out, metricsUrl: url(metrics) };
}

for (const kind of compatTargets()) describeTarget(kind);

function describeTarget(kind: MemberKind) {
  describe(`deployment settings start a ${kind} member`, () => {
    let child: ChildProcess | undefined;
    afterEach(() => {
      child?.kill("SIGKILL");
      child = undefined;
    });

    async function startWith(source: Record<string, string>, label: string) {
      const dataDir = join(work, `${kind}-${label}`);
      const { env, metricsUrl } = await onLoopback(source, dataDir);
      const childEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH };
      for (const [key, value] of Object.entries(env)) {
        childEnv[kind === "etcd" ? key.replace(/^CHAINFIRE_/, "ETCD_") : key] = value;
      }
      let output = "";
      child =
        kind === "etcd"
          ? spawn(process.env.ETCD_BIN ?? "etcd", ["--logger=zap", "--log-outputs=stderr"], {
              env: childEnv,
            })
          : spawn(process.execPath, [CHAINFIRE_MAIN], { env: childEnv });
      child.stdout?.on("data", (chunk) => {
        output += chunk;
      });
      child.stderr?.on("data", (chunk) => {
        output += chunk;
      });
      const exited = new Promise<number | null>((resolve) => child?.once("exit", resolve));
      try {
        await pollUntil(
          async () => {
            const res = await fetch(`${metricsUrl}/health`).catch(() => undefined);
            return res?.ok ? true : undefined;
          },
          {
            timeoutMs: 20_000,
            intervalMs: 200,
            what: `${kind} started from ${label} to be healthy`,
          },
        );
      } catch (error) {
        throw new Error(`${(error as Error).message}; output ends:\n${output.slice(-3000)}`);
      }
      expect(output).not.toMatch(/unrecognized environment variable/i);
      child.kill("SIGTERM");
      const code = await Promise.race([
        exited,
        new Promise<string>((resolve) => setTimeout(() => resolve("still running"), 15_000)),
      ]);
      expect(code, "exit after SIGTERM").not.toBe("still running");
      if (kind === "chainfire") expect(code).toBe(0);
    }

    it("the NixOS module's environment (node01)", async () => {
      if (kind === "etcd") requireTool("etcd");
      await startWith(moduleEnv(), "nixos");
    }, 60_000);

    it("deploy/systemd/chainfire.env", async () => {
      if (kind === "etcd") requireTool("etcd");
      await startWith(systemdEnv(), "systemd");
    }, 60_000);
  });
}
