/**
 * `npm start`'s launcher (the compiled dist/cli/local-cluster.js) on free ports in a temp
 * dir: it prints the endpoints once the three members are healthy, etcdctl can write and
 * read through it, and SIGINT stops every member cleanly.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  etcdctl,
  exitWithin,
  freePortTriples,
  haveEtcdctl,
  killAll,
  LOCAL_CLUSTER_JS,
  pidsMentioning,
  requireBuilt,
  run,
} from "./__tests__/process.js";

let tmp: string;
beforeAll(() => {
  requireBuilt();
  tmp = mkdtempSync(join(tmpdir(), "chainfire-local-"));
});
afterAll(async () => {
  await killAll();
  for (const pid of pidsMentioning(tmp)) process.kill(pid, "SIGKILL");
  rmSync(tmp, { recursive: true, force: true });
});

it("starts three members, serves etcdctl, and stops them all on SIGINT", async () => {
  const ports = await freePortTriples(3);
  const launcher = run(LOCAL_CLUSTER_JS, ["--client-ports", ports.join(",")], { cwd: tmp });
  const line = await launcher.waitForLine(/ETCDCTL_ENDPOINTS=/, 60_000);
  const endpoints = line.split("ETCDCTL_ENDPOINTS=")[1]!.trim();
  expect(endpoints).toBe(ports.map((p) => `http://127.0.0.1:${p}`).join(","));
  expect(launcher.lines).toContain("Starting a new 3-member Chainfire cluster (data in data/)");
  expect(readdirSync(join(tmp, "data")).sort()).toEqual(["n1", "n2", "n3"]);
  const members = pidsMentioning(join(tmp, "data"));
  expect(members).toHaveLength(3);

  if (haveEtcdctl()) {
    expect((await etcdctl(endpoints, ["put", "hello", "world"])).trim()).toBe("OK");
    const second = `http://127.0.0.1:${ports[1]}`;
    expect(await etcdctl(second, ["get", "hello", "--print-value-only"])).toBe("world\n");
  }

  launcher.child.kill("SIGINT");
  expect(await exitWithin(launcher, 30_000)).toEqual({ code: 0, signal: null });
  expect(launcher.lines).toContain("All members stopped.");
  expect(pidsMentioning(join(tmp, "data"))).toEqual([]);
});
