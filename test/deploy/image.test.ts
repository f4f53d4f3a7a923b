/**
 * deploy/Dockerfile: what the image must be (multi-stage on node:20-slim, non-root, tini,
 * a health check on the metrics port, the member's ports and data volume), that the
 * build context carries what the Dockerfile copies, and that the entrypoint applies a
 * join decision before starting the member. (dockerfilelint runs in lint.test.ts; the
 * image itself is built and run by test/deploy/containers/, where a runtime exists.)
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, run } from "./tools.js";

interface Instruction {
  op: string;
  args: string;
  stage: number;
}

/** The Dockerfile as instructions (continuations joined, comments dropped). */
function parseDockerfile(text: string): Instruction[] {
  const joined = text.replace(/\\\n\s*/g, " ");
  let stage = -1;
  const out: Instruction[] = [];
  for (const line of joined.split("\n")) {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const [op, ...rest] = trimmed.split(/\s+/);
    if (op.toUpperCase() === "FROM") stage++;
    out.push({ op: op.toUpperCase(), args: rest.join(" "), stage });
  }
  return out;
}

const dockerfile = parseDockerfile(readFileSync(join(REPO, "deploy/Dockerfile"), "utf8"));
const final = Math.max(...dockerfile.map((i) => i.stage));
const inFinal = (op: string) => dockerfile.filter((i) => i.stage === final && i.op === op);

describe("deploy/Dockerfile", () => {
  it("is multi-stage on node:20-slim", () => {
    const froms = dockerfile.filter((i) => i.op === "FROM").map((i) => i.args);
    expect(froms).toEqual(["node:20-slim AS build", "node:20-slim"]);
    expect(inFinal("COPY").some((i) => i.args.startsWith("--from=build"))).toBe(true);
  });

  it("runs as the non-root node user under tini", () => {
    expect(inFinal("USER").map((i) => i.args)).toEqual(["node"]);
    expect(inFinal("RUN").some((i) => /apt-get install .*\btini\b/.test(i.args))).toBe(true);
    const [entrypoint] = inFinal("ENTRYPOINT");
    expect(JSON.parse(entrypoint.args)).toEqual([
      "/usr/bin/tini",
      "--",
      "/usr/local/bin/chainfire",
    ]);
    expect(inFinal("STOPSIGNAL").map((i) => i.args)).toEqual(["SIGTERM"]);
  });

  it("checks health on the metrics port, exposes the member's ports, keeps data on a volume", () => {
    const [health] = inFinal("HEALTHCHECK");
    expect(health.args).toContain("http://127.0.0.1:2381/livez");
    expect(inFinal("EXPOSE").map((i) => i.args)).toEqual(["2379 2380 2381"]);
    expect(inFinal("VOLUME").map((i) => JSON.parse(i.args))).toEqual([["/var/lib/chainfire"]]);
    const env = inFinal("ENV")
      .map((i) => i.args)
      .join(" ");
    expect(env).toContain("CHAINFIRE_LISTEN_METRICS_URLS=http://0.0.0.0:2381");
    expect(env).toContain("CHAINFIRE_DATA_DIR=/var/lib/chainfire");
  });

  it("builds with the lockfile (npm ci unless told otherwise), ships production dependencies only", () => {
    expect(dockerfile.filter((i) => i.op === "ARG").map((i) => i.args)).toEqual(["NPM_INSTALL=ci"]);
    const build = dockerfile.filter((i) => i.stage === 0 && i.op === "RUN").map((i) => i.args);
    expect(build.join(" ")).toMatch(
      /npm "\$NPM_INSTALL" .*npx tsc -b packages\/server packages\/client .*npm prune --omit=dev/,
    );
  });

  it("the build context keeps every file the Dockerfile copies", () => {
    const ignore = readFileSync(join(REPO, "deploy/Dockerfile.dockerignore"), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
    const sources = dockerfile
      .filter((i) => i.op === "COPY" && !i.args.startsWith("--from"))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(sources).toEqual(
      expect.arrayContaining(["package-lock.json", "packages", "nix/modules/chainfire-join.sh"]),
    );
    for (const source of sources) {
      expect(excluded(ignore, source), source).toBe(false);
    }
    expect(excluded(ignore, "node_modules")).toBe(true);
    expect(excluded(ignore, "packages/server/dist")).toBe(true);
    expect(excluded(ignore, "docs/operations.md")).toBe(true);
  });
});

/** .dockerignore semantics for the patterns used here (last match wins, ! re-includes). */
function excluded(patterns: string[], path: string): boolean {
  let out = false;
  for (const raw of patterns) {
    const negate = raw.startsWith("!");
    const pattern = negate ? raw.slice(1) : raw;
    const regex = new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, "\\$&")
        .replace(/\*\*\//g, "\0")
        .replace(/\*/g, "[^/]*")
        .replace(/\0/g, "(?:.*/)?")}(?:/.*)?$`,
    );
    const parts = path.split("/");
    const matches = parts.some((_, i) => regex.test(parts.slice(0, i + 1).join("/")));
    if (matches) out = !negate;
  }
  return out;
}

describe("deploy/docker-entrypoint.sh", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "cf-entrypoint-"));
    mkdirSync(join(dir, "bin"));
    // A stand-in `node` that prints its arguments and the member's settings.
    writeFileSync(
      join(dir, "bin", "node"),
      '#!/bin/sh\necho "args: $*"\nenv | grep ^CHAINFIRE_ | sort\n',
    );
    chmodSync(join(dir, "bin", "node"), 0o755);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const entrypoint = (env: Record<string, string>, args: string[] = []) =>
    run("sh", [join(REPO, "deploy/docker-entrypoint.sh"), ...args], {
      env: { PATH: `${join(dir, "bin")}:/usr/bin:/bin`, ...env },
    });

  it("starts the member with its arguments", () => {
    const result = entrypoint({ CHAINFIRE_NAME: "m1" }, ["snapshot", "restore", "x.db"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      "args: /app/packages/server/dist/cli/main.js snapshot restore x.db",
    );
    expect(result.stdout).toContain("CHAINFIRE_NAME=m1");
  });

  it("the join decision overrides the pod's defaults", () => {
    const file = join(dir, "join.env");
    writeFileSync(
      file,
      "CHAINFIRE_INITIAL_CLUSTER_STATE=existing\nCHAINFIRE_INITIAL_CLUSTER=a=http://a:2380,b=http://b:2380\n",
    );
    const result = entrypoint({
      JOIN_ENV_FILE: file,
      CHAINFIRE_INITIAL_CLUSTER_STATE: "new",
      CHAINFIRE_INITIAL_CLUSTER: "a=http://a:2380",
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("CHAINFIRE_INITIAL_CLUSTER_STATE=existing\n");
    expect(result.stdout).toContain("CHAINFIRE_INITIAL_CLUSTER=a=http://a:2380,b=http://b:2380\n");
  });

  it("an empty decision (data already present) changes nothing", () => {
    const file = join(dir, "empty.env");
    writeFileSync(file, "");
    const result = entrypoint({
      JOIN_ENV_FILE: file,
      CHAINFIRE_INITIAL_CLUSTER_STATE: "new",
    });
    expect(result.stdout).toContain("CHAINFIRE_INITIAL_CLUSTER_STATE=new\n");
  });
});
