import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAuthCluster } from "../__tests__/auth-cluster.js";
import { type TestCluster, targetUnavailable } from "../__tests__/cluster.js";
import type { CliIo } from "./io.js";
import { runCli } from "./run.js";

const skip = targetUnavailable();

/** chainfirectl --user against a member with auth enabled (its own cluster: auth is global). */
describe.skipIf(skip !== undefined)("chainfirectl --user against a member with auth on", () => {
  let cluster: TestCluster;

  async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = "";
    let stderr = "";
    const io: CliIo = {
      stdout: { write: (c) => void (stdout += c.toString()), isTTY: false, columns: 100 },
      stderr: { write: (c) => void (stderr += c.toString()), isTTY: false, columns: 100 },
      stdin: (async function* () {})(),
      env: {},
    };
    const code = await runCli([`--endpoints=${cluster.endpoints[0]}`, ...args], io);
    return { code, stdout, stderr };
  }

  beforeAll(async () => {
    cluster = await startAuthCluster({ role: "app", permission: "readwrite", prefix: "app/" });
  });

  afterAll(async () => {
    await cluster?.close();
  });

  it("runs as the given user: allowed inside its prefix, denied outside, refused without", async () => {
    expect(await cli(["--user", "alice:alicepw", "put", "app/k", "v"])).toEqual({
      code: 0,
      stdout: "OK\n",
      stderr: "",
    });
    expect((await cli(["--user", "alice", "--password", "alicepw", "get", "app/k"])).stdout).toBe(
      "app/k\nv\n",
    );
    const denied = await cli(["--user", "alice:alicepw", "put", "other", "v"]);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain("etcdserver: permission denied");
    const anonymous = await cli(["get", "app/k"]);
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.stderr).toContain("etcdserver: user name is empty");
    const wrong = await cli(["--user", "alice:nope", "get", "app/k"]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain("authentication failed, invalid user ID or password");
  });
});
