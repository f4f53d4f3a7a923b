/**
 * Chainfire members as real processes under kill -9 (DESIGN rules 1–4 end to end): an
 * acknowledged write survives the loss of the leader mid-load and the loss of every member
 * at once. Needs the built CLI (`npx tsc -b`); skipped with the reason otherwise.
 */
import { afterEach, describe, expect, it } from "vitest";
import { bytes, CHAINFIRE_MAIN, Cluster, kindAvailable, pollUntil } from "../harness/index.js";

const available = kindAvailable("chainfire");
if (!available)
  console.warn(`member-crash: skipped, ${CHAINFIRE_MAIN} is missing (run npx tsc -b)`);

/** Concurrent writers over every running member; records the acknowledged keys. */
function writeLoad(c: Cluster, prefix: string, alive: () => number[]) {
  const acked: string[] = [];
  let stop = false;
  let seq = 0;
  const loops = Array.from({ length: 6 }, async (_, w) => {
    while (!stop) {
      const up = alive();
      const i = up[(seq + w) % up.length];
      const key = `${prefix}/${w}/${seq++}`;
      try {
        await c.client(i).put({ key: bytes(key), value: bytes(key) }, 3_000);
        acked.push(key);
      } catch {
        await new Promise((r) => setTimeout(r, 20)); // not acknowledged: may or may not exist
      }
    }
  });
  return {
    acked,
    async stop() {
      stop = true;
      await Promise.all(loops);
    },
  };
}

async function missingOn(c: Cluster, i: number, keys: string[]): Promise<string[]> {
  const missing: string[] = [];
  for (let j = 0; j < keys.length; j += 100) {
    const part = keys.slice(j, j + 100);
    const res = await Promise.all(part.map((k) => c.client(i).range({ key: bytes(k) }, 5_000)));
    part.forEach((k, x) => {
      if (res[x].kvs.length !== 1 || res[x].kvs[0].value.toString() !== k) missing.push(k);
    });
  }
  return missing;
}

describe.skipIf(!available)("chainfire members under kill -9", () => {
  let c: Cluster | undefined;
  afterEach(async ({ task }) => {
    if (task.result?.state === "fail" && c) process.stderr.write(c.logTails(60));
    await c?.close();
    c = undefined;
  });

  it("loses no acknowledged write when the leader is killed during writes", async () => {
    c = await Cluster.start({ kind: "chainfire", size: 3, heartbeatMs: 50, electionMs: 500 });
    const cl = c;
    const dead = new Set<number>();
    const alive = () => [0, 1, 2].filter((i) => !dead.has(i));
    const leader = await cl.waitForLeader();
    const load = writeLoad(cl, "k", alive);
    await pollUntil(() => (load.acked.length >= 100 ? true : undefined), {
      timeoutMs: 20_000,
      what: "100 acknowledged writes",
    });
    dead.add(leader);
    await cl.kill(leader, "SIGKILL");
    const before = load.acked.length;
    await cl.waitForLeader();
    await pollUntil(() => (load.acked.length >= before + 100 ? true : undefined), {
      timeoutMs: 20_000,
      what: "100 more acknowledged writes after the kill",
    });
    await load.stop();
    for (const i of alive()) expect(await missingOn(cl, i, load.acked)).toEqual([]);
    // The killed leader comes back and has everything too.
    await cl.restart(leader);
    dead.delete(leader);
    await cl.waitForLeader();
    expect(await missingOn(cl, leader, load.acked)).toEqual([]);
  }, 120_000);

  it("keeps every acknowledged write when all members are killed at once", async () => {
    c = await Cluster.start({ kind: "chainfire", size: 3, heartbeatMs: 50, electionMs: 500 });
    const cl = c;
    await cl.waitForLeader();
    const load = writeLoad(cl, "all", () => [0, 1, 2]);
    await pollUntil(() => (load.acked.length >= 150 ? true : undefined), {
      timeoutMs: 20_000,
      what: "150 acknowledged writes",
    });
    // Kill all three while writes are in flight.
    await Promise.all([0, 1, 2].map((i) => cl.kill(i, "SIGKILL")));
    await load.stop();
    await Promise.all([0, 1, 2].map((i) => cl.restart(i, { waitReady: false })));
    await Promise.all([0, 1, 2].map((i) => cl.waitHealthy(i)));
    await cl.waitForLeader();
    for (const i of [0, 1, 2]) expect(await missingOn(cl, i, load.acked)).toEqual([]);
    const revs = await Promise.all(
      [0, 1, 2].map(async (i) => (await cl.client(i).range({ key: bytes("x") })).header?.revision),
    );
    expect(new Set(revs).size).toBe(1);
  }, 120_000);
});
