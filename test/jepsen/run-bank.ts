/**
 * `--workload bank` (workloads/bank.ts, checker/bank.ts): 5 accounts, the run's clients
 * transfer and read under the nemesis; after the crash-restart every member's history
 * (a watch from revision 1) must be equal and pass the serializability check with every
 * member's final balances.
 */
import { type BankCheckInput, checkBank } from "./checker/bank.js";
import type { PhaseInput } from "./run-workloads.js";
import {
  accountKeys,
  BANK_PREFIX,
  type BankLog,
  INITIAL_BALANCE,
  initBank,
  readAll,
  runBank,
} from "./workloads/bank.js";
import { collectHistory } from "./workloads/watch.js";

export async function bankPhase(p: PhaseInput): Promise<void> {
  const { options, cluster: c, conns, checks } = p;
  const log: BankLog = { accounts: accountKeys(5), transfers: [], reads: [], errors: 0 };
  await initBank(conns, await c.waitForLeader(30_000), log.accounts.length);
  const stop = new AbortController();
  const workload = runBank(
    {
      connections: conns,
      members: options.size,
      accounts: log.accounts.length,
      clients: options.clients,
      opTimeoutMs: options.opTimeoutMs,
      seed: options.seed,
      signal: stop.signal,
    },
    log,
  );
  try {
    await p.faults();
  } finally {
    stop.abort();
    await workload;
  }
  await p.crashRestart();
  const everyone = Array.from({ length: options.size }, (_, i) => i);
  const leader = await c.waitForLeader(30_000);
  const head = (await readAll(conns, leader, 10_000)).rev;
  const histories = await Promise.all(
    everyone.map((i) => collectHistory(conns, i, BANK_PREFIX, head, 30_000)),
  );
  const finals = await Promise.all(
    everyone.map(async (i) => ({ member: i, ...(await readAll(conns, i, 10_000)) })),
  );
  const violations: string[] = [];
  histories.forEach((h, i) => {
    if (JSON.stringify(h) !== JSON.stringify(histories[0])) {
      violations.push(
        `n${i + 1}'s history differs from n1's (${h.length} vs ${histories[0].length} events)`,
      );
    }
  });
  const input: BankCheckInput = { log, initial: INITIAL_BALANCE, history: histories[0], finals };
  violations.push(...checkBank(input));
  const done = log.transfers.filter((t) => t.status === "ok" && t.succeeded).length;
  checks.push({
    name: "bank",
    status: violations.length === 0 ? "pass" : "fail",
    detail:
      violations.length === 0
        ? `${log.transfers.length} transfers (${done} done), ${log.reads.length} reads, every one serializable; ${histories[0].length} events equal on all members; money conserved`
        : violations.join("\n"),
  });
}
