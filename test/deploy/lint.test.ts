/**
 * Linters over the deployment files, each run the way CI runs it: yamllint (deploy/),
 * shellcheck (every shell script of nix/ and deploy/), dockerfilelint (the image),
 * systemd-analyze verify (the unit for hosts without Nix), promtool (scrape config,
 * alert rules and their unit tests). Each check also proves once that it can fail.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { filesUnder, REPO, requireTool, run } from "./tools.js";

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "cf-lint-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("yamllint", () => {
  beforeAll(() => requireTool("yamllint"));
  const yamllint = (...paths: string[]) =>
    run("yamllint", ["-s", "-f", "parsable", "-c", "deploy/yamllint.yaml", ...paths]);

  it("deploy/**/*.yaml is clean (strict: warnings fail too)", () => {
    expect(filesUnder("deploy", (n) => n.endsWith(".yaml")).length).toBeGreaterThanOrEqual(8);
    const result = yamllint("deploy");
    expect(result.stdout).toBe("");
    expect(result.code).toBe(0);
  });

  it("fails on a broken file", () => {
    const file = join(scratch, "bad.yaml");
    writeFileSync(file, "---\nkey: value\nkey: again\nlist:\n- a\n-   b\n");
    const result = yamllint(file);
    expect(result.code).not.toBe(0);
    expect(result.stdout).toContain("(key-duplicates)");
  });
});

describe("shellcheck", () => {
  beforeAll(() => requireTool("shellcheck"));
  const scripts = [
    ...filesUnder("nix", (n) => n.endsWith(".sh")),
    ...filesUnder("deploy", (n) => n.endsWith(".sh")),
  ];

  it("finds the scripts", () => {
    expect(scripts).toEqual(
      expect.arrayContaining([
        "nix/modules/chainfire-join.sh",
        "nix/modules/format-if-blank.sh",
        "nix/launch/run-node.sh",
        "deploy/docker-entrypoint.sh",
        "deploy/podman/build-image.sh",
      ]),
    );
  });

  it.each(scripts)("%s", (script) => {
    const result = run("shellcheck", ["-x", script]);
    expect(result.stdout).toBe("");
    expect(result.code).toBe(0);
  });

  it("fails on an unquoted expansion", () => {
    const file = join(scratch, "bad.sh");
    writeFileSync(file, "#!/bin/sh\nrm -rf $1/data\n");
    expect(run("shellcheck", [file]).code).not.toBe(0);
  });
});

describe("dockerfilelint", () => {
  const bin = join(REPO, "node_modules/.bin/dockerfilelint");

  it("deploy/Dockerfile has no issues", () => {
    const result = run(bin, ["-o", "json", "deploy/Dockerfile"]);
    const report = JSON.parse(result.stdout) as { totalIssues: number; files: unknown[] };
    expect(report.files, result.stdout).toHaveLength(1);
    expect(report.totalIssues, result.stdout).toBe(0);
    expect(result.code).toBe(0);
  });

  it("fails on a bad Dockerfile", () => {
    const file = join(scratch, "Dockerfile");
    writeFileSync(file, "FROM node\nRUN apt-get install curl\nEXPOSE 99999\n");
    const result = run(bin, ["-o", "json", file]);
    expect(result.code).not.toBe(0);
    expect(JSON.parse(result.stdout).totalIssues).toBeGreaterThan(0);
  });
});

describe("systemd unit for hosts without Nix", () => {
  beforeAll(() => requireTool("systemd-analyze"));

  it("systemd-analyze verify accepts it without a warning", () => {
    const result = run("systemd-analyze", ["verify", "deploy/systemd/chainfire.service"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
  });

  it("systemd-analyze verify reports an unknown key", () => {
    const file = join(scratch, "chainfire.service");
    copyFileSync(join(REPO, "deploy/systemd/chainfire.service"), file);
    writeFileSync(
      file,
      readFileSync(file, "utf8").replace("LimitNOFILE=65536", "LimitNOFILES=65536"),
    );
    expect(run("systemd-analyze", ["verify", file]).stderr).toContain("LimitNOFILES");
  });

  it("runs the member the way the NixOS module does", () => {
    const unit = readFileSync(join(REPO, "deploy/systemd/chainfire.service"), "utf8");
    for (const line of [
      "User=chainfire",
      "StateDirectory=chainfire",
      "Restart=on-failure",
      "LimitNOFILE=65536",
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "EnvironmentFile=/etc/chainfire/chainfire.env",
    ]) {
      expect(unit.split("\n")).toContain(line);
    }
    expect(unit).not.toMatch(/^MemoryDenyWriteExecute=yes/m);
    const env = readFileSync(join(REPO, "deploy/systemd/chainfire.env"), "utf8");
    const keys = env
      .split("\n")
      .filter((l) => /^[A-Z]/.test(l))
      .map((l) => l.split("=")[0]);
    expect(keys.every((k) => k.startsWith("CHAINFIRE_"))).toBe(true);
    expect(keys).toContain("CHAINFIRE_INITIAL_CLUSTER");
  });
});

describe("promtool", () => {
  beforeAll(() => requireTool("promtool"));

  it("the scrape config and the alert rules check", () => {
    const config = run("promtool", ["check", "config", "deploy/prometheus/prometheus.yaml"]);
    expect(config.stderr + config.stdout).toContain("SUCCESS");
    expect(config.code).toBe(0);
    const rules = run("promtool", ["check", "rules", "deploy/prometheus/alerts.yaml"]);
    expect(rules.stdout).toMatch(/SUCCESS: \d+ rules found/);
    expect(rules.code).toBe(0);
  });

  it("the alerts fire as their unit tests expect", () => {
    const result = run("promtool", ["test", "rules", "deploy/prometheus/alerts.test.yaml"]);
    expect(result.stdout + result.stderr).toContain("SUCCESS");
    expect(result.code).toBe(0);
  });

  it("fails on a broken rule", () => {
    const file = join(scratch, "rules.yaml");
    writeFileSync(
      file,
      "groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: rate(up[5m]\n",
    );
    expect(run("promtool", ["check", "rules", file]).code).not.toBe(0);
  });
});

describe("docs/operations.md", () => {
  const guide = readFileSync(join(REPO, "docs/operations.md"), "utf8");

  /** Repository paths the guide names in backticks, braces expanded, node0N as node01. */
  function namedPaths(text: string): string[] {
    const out = new Set<string>();
    for (const [, raw] of text.matchAll(/`((?:nix|deploy|test\/deploy|docs)\/[^`\s]*)`/g)) {
      const path = raw.replace(/node0N/g, "node01").replace(/[:#].*$/, "");
      const brace = /\{([^}]*)\}/.exec(path);
      const expanded = brace
        ? brace[1].split(",").map((alt) => path.replace(brace[0], alt))
        : [path];
      for (const p of expanded) out.add(p.replace(/\/$/, ""));
    }
    return [...out];
  }

  it("every file it names exists", () => {
    const paths = namedPaths(guide);
    expect(paths.length).toBeGreaterThan(20);
    const missing = paths.filter((p) => run("test", ["-e", p]).code !== 0);
    expect(missing).toEqual([]);
  });

  it("the path check is live", () => {
    expect(namedPaths("see `deploy/{a,b}.yaml` and `nix/hosts/node0N/x.nix`")).toEqual([
      "deploy/a.yaml",
      "deploy/b.yaml",
      "nix/hosts/node01/x.nix",
    ]);
  });

  it("marks how far each procedure was tried", () => {
    for (const tag of ["[tried]", "[checked]", "[contract]", "[hardware]"]) {
      expect(guide).toContain(`**${tag}**`);
    }
  });
});
