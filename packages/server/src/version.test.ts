import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  CHAINFIRE_VERSION,
  ETCD_API_VERSION,
  gitSha,
  versionJson,
  versionText,
} from "./version.js";

describe("versions", () => {
  it("CHAINFIRE_VERSION is the package's version", () => {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    expect(CHAINFIRE_VERSION).toBe(pkg.version);
  });

  it("reports an etcd API version kube-apiserver accepts (semver >= 3.5.13)", () => {
    const [major, minor, patch] = ETCD_API_VERSION.split(".").map(Number) as [
      number,
      number,
      number,
    ];
    expect(major * 1e6 + minor * 1e3 + patch).toBeGreaterThanOrEqual(3_005_013);
    expect(versionJson()).toEqual({
      etcdserver: "3.5.13",
      etcdcluster: "3.5.0",
      chainfire: CHAINFIRE_VERSION,
    });
  });

  it("takes the git SHA from CHAINFIRE_GIT_SHA, abbreviated like etcd's", () => {
    expect(gitSha({ CHAINFIRE_GIT_SHA: "0123456789abcdef0123" })).toBe("012345678");
    expect(versionText({ CHAINFIRE_GIT_SHA: "abc" })).toMatch(
      /^chainfire Version: .*\netcd Version: 3\.5\.13\nGit SHA: abc\n/,
    );
    expect(gitSha({})).toMatch(/^([0-9a-f]{9}|unknown)$/);
  });
});
