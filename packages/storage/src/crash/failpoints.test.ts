/**
 * Failpoints in the storage layer: the spec parser, `print` counting, and the unsynced-loss
 * mode, in a child process (failpoint-child.mjs, on the built package) that a
 * `crashDropUnsynced` failpoint crashes: a synced write survives, an unsynced one is lost
 * with the mode and kept without it (kill -9 alone keeps the page cache).
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import {
  configureFailpoints,
  FAILPOINT_EXIT_CODE,
  FAILPOINTS,
  failpoint,
  failpointHits,
  failpointsActive,
  parseFailpoints,
} from "../failpoints.js";
import { openEngine, tempDir } from "../raft-log/__tests__/support.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgDir = path.resolve(here, "../..");
const repoDir = path.resolve(pkgDir, "../..");
const child = path.join(here, "failpoint-child.mjs");

function ensureBuilt(): void {
  const outputs = ["engine", "engine-loss", "failpoints"].map((o) =>
    path.join(pkgDir, "dist", `${o}.js`),
  );
  const sources = ["engine", "engine-loss", "failpoints", "engine-sync"].map((o) =>
    path.join(pkgDir, "src", `${o}.ts`),
  );
  const oldest = Math.min(...outputs.map((f) => (fs.existsSync(f) ? fs.statSync(f).mtimeMs : 0)));
  const newest = Math.max(...sources.map((f) => fs.statSync(f).mtimeMs));
  if (oldest > 0 && oldest >= newest) return;
  execFileSync("npx", ["tsc", "-b", "packages/storage"], { cwd: repoDir, stdio: "pipe" });
}

function runChild(dir: string, ops: string[], env: Record<string, string>) {
  const base = { ...process.env };
  delete base.CHAINFIRE_TEST_FAILPOINTS;
  delete base.CHAINFIRE_TEST_UNSYNCED_LOSS;
  const r = spawnSync(process.execPath, [child, dir, ...ops], {
    env: { ...base, ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function keysIn(dir: string): Promise<string[]> {
  const e = await openEngine(dir);
  try {
    return [...e.iterateSync("kv")].map(([k]) => k.toString());
  } finally {
    await e.close();
  }
}

describe("failpoint specs", () => {
  afterEach(() => configureFailpoints(""));

  it("parses names and actions, rejects typos", () => {
    const m = parseFailpoints(
      "raftAfterSave=3*panic; compactBeforeCommitBatch=print,raftBeforeSave=off",
    );
    expect(m.get("raftAfterSave")).toEqual({ kind: "panic", at: 3 });
    expect(m.get("compactBeforeCommitBatch")).toEqual({ kind: "print" });
    expect(m.get("raftBeforeSave")).toEqual({ kind: "off" });
    expect(() => parseFailpoints("raftAfterSav=panic")).toThrow(/unknown failpoint "raftAfterSav"/);
    expect(() => parseFailpoints("raftAfterSave=explode")).toThrow(/unknown action/);
    expect(() => parseFailpoints("raftAfterSave=0*panic")).toThrow(/unknown action/);
    expect(() => parseFailpoints("raftAfterSave")).toThrow(/name=action/);
  });

  it("is inert unless armed; print counts hits (and logs the first)", () => {
    configureFailpoints("");
    expect(failpointsActive).toBe(false);
    configureFailpoints("raftBeforeSave=print,raftAfterSave=off");
    expect(failpointsActive).toBe(true);
    failpoint("raftBeforeSave");
    failpoint("raftBeforeSave");
    failpoint("raftAfterSave");
    expect(failpointHits("raftBeforeSave")).toBe(2);
    expect(failpointHits("raftAfterSave")).toBe(0);
    expect(Object.keys(FAILPOINTS)).toContain("crashDropUnsynced");
  });
});

describe("crashDropUnsynced", () => {
  ensureBuilt();

  it.each([
    {
      name: "unsynced-loss mode: writes after the last fsync are lost",
      loss: true,
      ops: ["s:a", "u:b", "u:c", "u:d"],
      at: 3,
      want: ["a"],
    },
    {
      name: "unsynced-loss mode: an fsync covers the unsynced writes before it",
      loss: true,
      ops: ["u:a", "s:b", "u:c", "u:d"],
      at: 3,
      want: ["a", "b"],
    },
    {
      name: "unsynced-loss mode: syncWal on the worker covers the writes before it",
      loss: true,
      ops: ["u:a", "w:b", "u:c", "u:d"],
      at: 3,
      want: ["a", "b"],
    },
    {
      name: "unsynced-loss mode: syncWal inline covers the writes before it",
      loss: true,
      ops: ["u:a", "i:b", "u:c", "u:d"],
      at: 3,
      want: ["a", "b"],
    },
    {
      name: "without the mode a crash is kill -9: the page cache survives",
      loss: false,
      ops: ["s:a", "u:b", "u:c", "u:d"],
      at: 3,
      want: ["a", "b", "c"],
    },
  ])("$name", async ({ loss, ops, at, want }) => {
    const dir = tempDir("cf-failpoint-");
    try {
      const r = runChild(dir, ops, {
        CHAINFIRE_TEST_FAILPOINTS: `crashDropUnsynced=${at}*panic`,
        ...(loss ? { CHAINFIRE_TEST_UNSYNCED_LOSS: "1" } : {}),
      });
      expect(r.status, r.stderr).toBe(FAILPOINT_EXIT_CODE);
      expect(r.stdout).not.toContain("DONE");
      expect(r.stderr).toContain('"failpoint":"crashDropUnsynced"');
      // The crash came at the at-th write, after it was written (so it printed at-1).
      expect(r.stdout.trim().split("\n")).toHaveLength(at - 1);
      expect(await keysIn(dir)).toEqual(want);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a typo in CHAINFIRE_TEST_FAILPOINTS refuses to start", () => {
    const dir = tempDir("cf-failpoint-");
    try {
      const r = runChild(dir, ["s:a"], { CHAINFIRE_TEST_FAILPOINTS: "crashDropUnsyncd=panic" });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain("unknown failpoint");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
