/**
 * The README's examples, run as written against a live member: every ```ts block, in
 * order, as one module (imports hoisted; "@chainfire/client" is this package's source).
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster, targetUnavailable } from "./__tests__/cluster.js";

const run = promisify(execFile);
const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "../../..");
const skip = targetUnavailable();

/** The README's ts blocks as one module: imports first, then the code in order. */
export function readmeProgram(readme: string, endpoint: string, entry: string): string {
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  const imports: string[] = [];
  const body: string[] = [];
  for (const block of blocks) {
    for (const line of block.split("\n")) {
      if (/^import .* from ".*";$/.test(line)) imports.push(line);
      else body.push(line);
    }
  }
  return [...imports, ...body]
    .join("\n")
    .replaceAll('"@chainfire/client"', JSON.stringify(entry))
    .replaceAll('"http://127.0.0.1:2379"', JSON.stringify(endpoint));
}

describe.skipIf(skip !== undefined)("README examples", () => {
  let cluster: TestCluster;
  let dir: string;

  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 1 });
    dir = mkdtempSync(join(tmpdir(), "chainfire-readme-"));
  });

  afterAll(async () => {
    await cluster?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("run as written", async () => {
    const readme = readFileSync(join(HERE, "..", "README.md"), "utf8");
    const program = readmeProgram(readme, cluster.endpoints[0], join(HERE, "index.ts"));
    expect(program).toContain("await client.close();");
    const file = join(dir, "readme.mts"); // .mts: an ES module wherever it lives
    writeFileSync(file, program);
    const { stdout } = await run(
      process.execPath,
      ["--conditions=source", "--import", "tsx", file],
      {
        cwd: REPO,
        timeout: 60_000,
      },
    );
    expect(stdout).toContain("blue");
    expect(stdout).toContain("re-read from");
    expect(stdout).toContain("etcdserver: mvcc: required revision has been compacted");
    expect(stdout).toContain("true true");
  });
});
