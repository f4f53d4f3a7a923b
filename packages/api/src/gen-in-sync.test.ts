// The committed src/gen/ must be exactly what `buf generate` produces from proto/
// with the options in buf.gen.yaml. Regenerates into a temporary directory and
// compares file lists and bytes.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const repoRoot = path.resolve(packageDir, "../..");
const binDirs = [
  path.join(packageDir, "node_modules/.bin"),
  path.join(repoRoot, "node_modules/.bin"),
];

function listFiles(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => {
      const full = path.join(dir, e.name);
      return e.isDirectory() ? listFiles(full, base) : [path.relative(base, full)];
    })
    .sort();
}

describe("generated code", () => {
  const outDir = mkdtempSync(path.join(tmpdir(), "chainfire-api-gen-"));
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  it("is in sync with proto/ and buf.gen.yaml (otherwise: run npm run generate)", () => {
    execFileSync("buf", ["generate", "--output", outDir], {
      cwd: packageDir,
      env: { ...process.env, PATH: [...binDirs, process.env.PATH].join(path.delimiter) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const fresh = path.join(outDir, "src/gen");
    const committed = path.join(packageDir, "src/gen");

    const freshFiles = listFiles(fresh);
    expect(freshFiles.length).toBeGreaterThan(0);
    expect(
      listFiles(committed),
      "src/gen has other files than buf generates: run npm run generate",
    ).toEqual(freshFiles);
    const stale = freshFiles.filter(
      (f) => !readFileSync(path.join(fresh, f)).equals(readFileSync(path.join(committed, f))),
    );
    expect(stale, "src/gen is out of date with proto/: run npm run generate").toEqual([]);
  });
});
