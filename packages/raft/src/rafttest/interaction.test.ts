import { describe, expect, it } from "vitest";
import { rewriteFile } from "./datadriven.js";
import { handle } from "./handlers.js";
import { InteractionEnv } from "./interaction-env.js";

// Data-driven interaction tests (etcd-io/raft's interaction_test.go): every file in
// packages/raft/testdata is a script of commands with the narration each must produce.
// Rewrite the expected narration with `npm run test:rewrite -w @chainfire/raft` and
// review the diff: only commit it if it shows correct Raft behaviour.
//
// Files are read through Vite's import.meta.glob so that the raft package stays free of
// node:* imports; the golden comparison (and the rewrite, under `vitest -u`) is vitest's
// toMatchFileSnapshot.
declare global {
  interface ImportMeta {
    /** Vite's static glob import (see vitest's config); typed here to avoid vite/client. */
    glob(
      pattern: string,
      opts: { query: string; import: string; eager: true },
    ): Record<string, unknown>;
  }
}

const files = import.meta.glob("../../testdata/*.txt", {
  query: "?raw",
  import: "default",
  eager: true,
}) as Record<string, string>;

describe("interaction", () => {
  it("finds its testdata", () => {
    expect(Object.keys(files).length).toBeGreaterThanOrEqual(12);
  });

  for (const path of Object.keys(files).sort()) {
    it(path.slice(path.lastIndexOf("/") + 1), async () => {
      const env = new InteractionEnv();
      const got = rewriteFile(files[path], (tc) => handle(env, tc));
      await expect(got).toMatchFileSnapshot(path);
    });
  }
});
