import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil, TestCluster, targetUnavailable } from "./__tests__/cluster.js";
import { Client } from "./client.js";
import { ClientClosedError } from "./errors.js";

const skip = targetUnavailable();

/** Counts of the active handles by kind (sockets, timers, ...). */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

describe.skipIf(skip !== undefined)("close()", () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 1 });
  });

  afterAll(async () => {
    await cluster?.close();
  });

  it("ends watchers, keep-alives, sessions and connections, leaving no handles behind", async () => {
    // Let sockets of the cluster's start-up checks finish closing first.
    await pollUntil(() => (resources().TCPSocketWrap === undefined ? true : undefined), {
      what: "no open TCP sockets",
      timeoutMs: 5000,
    });
    const before = resources();
    const client = new Client({ endpoints: cluster.endpoints });
    await client.put("close/k", "v");
    const w = await client.watch({ prefix: "close/" });
    const lease = await client.lease.grant(5);
    const lock = await client.lock("close/lock");
    const session = await client.session({ ttl: 5 });
    expect(resources().TCPSocketWrap).toBeGreaterThanOrEqual(1);

    await client.close();
    await client.close(); // idempotent
    expect(w.isEnded).toBe(true);
    expect(w.error).toBeInstanceOf(ClientClosedError);
    expect(lease.isDone).toBe(true);
    expect(session.isClosed).toBe(true);
    await expect(client.get("close/k")).rejects.toBeInstanceOf(ClientClosedError);
    await expect(client.watch("close/k")).rejects.toBeInstanceOf(ClientClosedError);
    // Sockets close asynchronously: wait until the handle counts are back where they were.
    await pollUntil(
      () => {
        const now = resources();
        const extra = Object.keys(now).filter((k) => (now[k] ?? 0) > (before[k] ?? 0));
        return extra.length === 0 ? true : undefined;
      },
      {
        what: `handles back to ${JSON.stringify(before)} (now ${JSON.stringify(resources())})`,
        timeoutMs: 5000,
      },
    );
    // The session's lease was revoked by close(); the lock key went with it.
    const check = new Client({ endpoints: cluster.endpoints });
    try {
      expect(await check.count({ prefix: "close/lock/" })).toBe(0n);
    } finally {
      await check.close();
    }
    void lock;
  });
});
