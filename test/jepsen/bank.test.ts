/**
 * The bank workload (multi-key read-modify-write transactions; workloads/bank.ts) and its
 * serializability checker (checker/bank.ts):
 *
 * - the checker on hand-made histories: a good one passes; a lost acknowledged transfer,
 *   money created, a fractured read, a transfer nobody attempted and a member behind all
 *   fail;
 * - a run on the current target: 5 accounts, 6 clients for 18 s under kill -9 of the
 *   leader and (Chainfire) a failpoint crash with unsynced loss (etcd: SIGSTOP instead);
 *   then kill -9 of every member, restart, every member's history (a watch from revision
 *   1) must be equal and pass the checker with the final balances of every member.
 *
 * The seed is random per run and printed; replay with JEPSEN_SEED=<seed>.
 */
import { afterEach, describe, expect, it } from "vitest";
import { compatTargets } from "../compat/targets.js";
import { Cluster } from "../harness/index.js";
import { type BankCheckInput, checkBank } from "./checker/bank.js";
import { Connections } from "./connections.js";
import { selectNemeses } from "./nemesis/nemeses.js";
import { healAll, runSchedule } from "./nemesis/schedule.js";
import { rng } from "./random.js";
import { Recorder } from "./recorder.js";
import {
  accountKeys,
  BANK_PREFIX,
  type BankLog,
  INITIAL_BALANCE,
  initBank,
  readAll,
  runBank,
  type Transfer,
} from "./workloads/bank.js";
import { collectHistory, type WatchEvent } from "./workloads/watch.js";

const seed = Number(process.env.JEPSEN_SEED ?? Math.floor(Math.random() * 2 ** 31));

describe("bank checker", () => {
  const accounts = accountKeys(3);
  const [a, b, c] = accounts;
  const ev = (rev: number, key: string, value: number, prev?: number): WatchEvent => ({
    rev,
    key,
    type: "put",
    value: String(value),
    modRev: rev,
    prev: prev === undefined ? null : { value: String(prev), modRev: rev - 1 },
  });
  const init = [ev(2, a, 100), ev(2, b, 100), ev(2, c, 100)];
  const t = (
    from: string,
    to: string,
    amount: number,
    rf: number,
    rt: number,
    x: Partial<Transfer>,
  ) =>
    ({
      client: 0,
      from,
      to,
      amount,
      read: { from: rf, to: rt, fromMod: 2, toMod: 2 },
      status: "ok",
      succeeded: true,
      ...x,
    }) as Transfer;
  const good = (): BankCheckInput => ({
    initial: INITIAL_BALANCE,
    log: {
      accounts,
      transfers: [
        t(a, b, 10, 100, 100, { rev: 3 }),
        t(b, c, 5, 110, 100, { status: "unknown", succeeded: undefined }),
        t(c, a, 7, 100, 90, { status: "ok", succeeded: false, rev: 4 }),
      ],
      reads: [
        { client: 1, member: 0, rev: 2, balances: { [a]: 100, [b]: 100, [c]: 100 } },
        { client: 1, member: 1, rev: 3, balances: { [a]: 90, [b]: 110, [c]: 100 } },
        { client: 1, member: 2, rev: 4, balances: { [a]: 90, [b]: 105, [c]: 105 } },
      ],
      errors: 0,
    },
    history: [
      ...init,
      ev(3, a, 90, 100),
      ev(3, b, 110, 100),
      ev(4, b, 105, 110),
      ev(4, c, 105, 100),
    ],
    finals: [0, 1, 2].map((member) => ({
      member,
      rev: 4,
      balances: { [a]: 90, [b]: 105, [c]: 105 },
    })),
  });

  it("passes a serializable history (with an unknown transfer that happened)", () => {
    expect(checkBank(good())).toEqual([]);
  });

  it("finds a lost acknowledged transfer", () => {
    const x = good();
    x.history = x.history.filter((e) => e.rev !== 3);
    expect(checkBank(x).join("\n")).toMatch(/acknowledged transfer .* at 3 is not in the history/);
  });

  it("finds money created", () => {
    const x = good();
    x.history[x.history.length - 1] = ev(4, c, 106, 100);
    expect(checkBank(x).join("\n")).toMatch(/creates 1 \(money not conserved\)/);
  });

  it("finds a fractured read (half of a transfer)", () => {
    const x = good();
    x.log.reads.push({ client: 2, member: 0, rev: 3, balances: { [a]: 90, [b]: 100, [c]: 110 } });
    expect(checkBank(x).join("\n")).toMatch(/read by client 2 on n1 at 3: .*the history has/);
  });

  it("finds a transfer nobody attempted and a member behind", () => {
    const x = good();
    x.log.transfers = x.log.transfers.filter((tr) => tr.status !== "unknown");
    x.finals[1] = { member: 1, rev: 3, balances: { [a]: 90, [b]: 110, [c]: 100 } };
    const v = checkBank(x).join("\n");
    expect(v).toMatch(/revision 4: a transfer no client attempted/);
    expect(v).toMatch(/final read on n2 at 3, behind the history's 4/);
  });
});

describe.each(compatTargets())("bank on %s", (kind) => {
  let cluster: Cluster | undefined;
  let connections: Connections | undefined;
  afterEach(async ({ task }) => {
    if (task.result?.state === "fail" && cluster) process.stderr.write(cluster.logTails(30));
    connections?.close();
    await cluster?.close();
    cluster = undefined;
    connections = undefined;
  });

  it("multi-key transfers stay serializable under kill -9 and failpoint crashes (etcd: SIGSTOP)", async () => {
    console.log(`bank: ${kind}, seed ${seed} (replay: JEPSEN_SEED=${seed})`);
    const c = (cluster = await Cluster.start({ kind, size: 3, heartbeatMs: 50, electionMs: 500 }));
    const conns = (connections = new Connections((i) => c.member(i).clientUrl));
    const recorder = new Recorder();
    const log: BankLog = { accounts: accountKeys(5), transfers: [], reads: [], errors: 0 };
    await initBank(conns, await c.waitForLeader(30_000), log.accounts.length);
    const spec = kind === "chainfire" ? "kill-leader,failpoint-member" : "kill-leader,pause-leader";
    const { nemeses } = selectNemeses(spec, 3, {
      network: false,
      proxy: false,
      clock: false,
      chainfire: kind === "chainfire",
    });
    const ctx = {
      cluster: c,
      net: undefined,
      proxies: undefined,
      clocks: undefined,
      random: rng(seed + 1),
      recorder,
      electionMs: 500,
    };
    const stop = new AbortController();
    const workload = runBank(
      {
        connections: conns,
        members: 3,
        accounts: 5,
        clients: 6,
        opTimeoutMs: 2000,
        seed,
        signal: stop.signal,
      },
      log,
    );
    try {
      await runSchedule(ctx, nemeses, {
        untilMs: 18_000,
        quietMs: [1000, 2000],
        log: (l) => console.log(l),
      });
    } finally {
      await healAll(ctx);
      stop.abort();
      await workload;
    }
    // Crash-restart of every member, then each one's history and final balances.
    await Promise.all([0, 1, 2].map((i) => c.kill(i)));
    for (let i = 0; i < 3; i++) await c.restart(i, { waitReady: false });
    for (let i = 0; i < 3; i++) await c.waitHealthy(i, 60_000);
    const leader = await c.waitForLeader(30_000);
    // Only this workload writes: the head revision is its last write.
    const head = (await readAll(conns, leader, 10_000)).rev;
    const histories = await Promise.all(
      [0, 1, 2].map((i) => collectHistory(conns, i, BANK_PREFIX, head, 30_000)),
    );
    const finals = await Promise.all(
      [0, 1, 2].map(async (i) => ({ member: i, ...(await readAll(conns, i, 10_000)) })),
    );
    for (const h of histories.slice(1)) expect(h).toEqual(histories[0]);
    const ok = log.transfers.filter((tr) => tr.status === "ok" && tr.succeeded).length;
    console.log(
      `bank: ${log.transfers.length} transfers (${ok} done), ${log.reads.length} reads, ${recorder.faults.length} faults; events: ${recorder.events.map((e) => e.message).join("; ")}`,
    );
    expect(ok).toBeGreaterThan(20);
    expect(log.reads.length).toBeGreaterThan(10);
    expect(checkBank({ log, initial: INITIAL_BALANCE, history: histories[0], finals })).toEqual([]);
  }, 240_000);
});
