/**
 * Watches from the edges of history, under a leader kill: from a future revision (it
 * waits, then delivers exactly the events from that revision on, gap-free across the
 * kill and its resumption), and from a compacted revision (cancelled with the compact
 * revision, as etcd does). Watches from 0 and from 1 run in every Jepsen run.
 */
import { afterEach, describe, expect, it } from "vitest";
import { compatTargets } from "../compat/targets.js";
import { Cluster } from "../harness/index.js";
import { pollUntil } from "../harness/wait.js";
import { checkWatch } from "./checker/watch.js";
import { Connections } from "./connections.js";
import { put, type Session } from "./kv-ops.js";
import { Recorder } from "./recorder.js";
import { collectHistory, lastRevision, startWatchers } from "./workloads/watch.js";

const PREFIX = "/edges/";

describe.each(compatTargets())("watch edges on %s", (kind) => {
  let cluster: Cluster | undefined;
  let connections: Connections | undefined;
  afterEach(async ({ task }) => {
    if (task.result?.state === "fail" && cluster) process.stderr.write(cluster.logTails(40));
    connections?.close();
    await cluster?.close();
    cluster = undefined;
    connections = undefined;
  });

  it("from a future revision: exactly the events from it on, across a leader kill", async () => {
    cluster = await Cluster.start({ kind, size: 3, heartbeatMs: 50, electionMs: 500 });
    const c = cluster;
    const conns = (connections = new Connections((i) => c.member(i).clientUrl));
    const recorder = new Recorder();
    const writer = async (n: number, tag: string) => {
      let last = 0;
      for (let i = 0; i < n; i++) {
        const leader = await c.waitForLeader(20_000);
        const s: Session = {
          client: 0,
          member: leader,
          conn: conns.get(leader),
          recorder,
          timeoutMs: 3000,
        };
        const op = await put(s, `${PREFIX}${i % 3}`, `${tag}.${i}`);
        if (op.status === "ok") last = op.rev!;
      }
      return last;
    };
    const head = await writer(10, "before");
    const future = head + 15;
    const stop = new AbortController();
    const watch = startWatchers({
      recorder,
      connections: conns,
      members: 3,
      prefix: PREFIX,
      starts: [future, future],
      signal: stop.signal,
    });
    await writer(10, "middle"); // still below the watched revision
    expect(watch.logs.every((w) => w.events.length === 0)).toBe(true);
    await c.kill(await c.waitForLeader(), "SIGKILL");
    const final = await writer(20, "after");
    await pollUntil(() => (watch.logs.every((w) => lastRevision(w) >= final) ? true : undefined), {
      timeoutMs: 30_000,
      what: "the watchers to reach the last write",
    });
    stop.abort();
    await watch.done;
    for (let i = 0; i < 3; i++) {
      if (c.member(i).state === "exited") await c.restart(i);
    }
    const history = await collectHistory(conns, await c.waitForLeader(), PREFIX, final, 20_000);
    expect(
      checkWatch({
        histories: [history],
        watchers: watch.logs,
        ops: recorder.ops,
        prefix: PREFIX,
        finalRev: final,
      }),
    ).toEqual([]);
    for (const w of watch.logs)
      expect(w.events[0].rev).toBe(history.find((e) => e.rev >= future)!.rev);
  }, 120_000);

  it("from a compacted revision: cancelled with the compact revision", async () => {
    cluster = await Cluster.start({ kind, size: 3, heartbeatMs: 50, electionMs: 500 });
    const c = cluster;
    const conns = (connections = new Connections((i) => c.member(i).clientUrl));
    const recorder = new Recorder();
    const leader = await c.waitForLeader();
    const s: Session = {
      client: 0,
      member: leader,
      conn: conns.get(leader),
      recorder,
      timeoutMs: 3000,
    };
    let rev = 0;
    for (let i = 0; i < 10; i++) rev = (await put(s, `${PREFIX}k`, `v${i}`)).rev!;
    await conns.get(leader).compact({ revision: BigInt(rev - 2), physical: true });
    const stop = new AbortController();
    const watch = startWatchers({
      recorder,
      connections: conns,
      members: 3,
      prefix: PREFIX,
      starts: [rev - 4],
      signal: stop.signal,
    });
    await pollUntil(() => (watch.logs[0].problems.length > 0 ? true : undefined), {
      timeoutMs: 10_000,
      what: "the watch to be cancelled",
    });
    stop.abort();
    await watch.done;
    expect(watch.logs[0].problems[0]).toMatch(new RegExp(`compact_revision=${rev - 2}\\b`));
    expect(watch.logs[0].events).toEqual([]);
  }, 60_000);
});
