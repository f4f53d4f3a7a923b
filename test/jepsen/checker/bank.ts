/**
 * Checks a bank run (workloads/bank.ts) for serializability against the committed
 * history of the accounts, which every member replays (a watch from revision 1: one
 * group of events per revision, a transaction's writes share it):
 *
 * - the history starts with every account at the initial balance in one revision, and
 *   every later revision is one transfer: two puts, money conserved, no negative balance;
 * - every such transfer was attempted by a client with exactly those new balances (no
 *   write from nowhere; refused and compare-failed attempts do not count), and a transfer
 *   acknowledged as done is there at its revision with its values;
 * - every read of all accounts at revision H equals the replay of the history up to H
 *   (each read saw one consistent, committed state: no fractured or stale-by-revision
 *   read) and sums to the total;
 * - the final balances on every member equal the replay of the whole history.
 */

import type { BankLog } from "../workloads/bank.js";
import type { WatchEvent } from "../workloads/watch.js";

export interface BankCheckInput {
  log: BankLog;
  initial: number;
  /** The committed history (watch from revision 1 of the bank prefix). */
  history: WatchEvent[];
  /** Every member's final balances (one read each after the crash-restart). */
  finals: { member: number; rev: number; balances: Record<string, number> }[];
}

export function checkBank(input: BankCheckInput, limit = 20): string[] {
  const out: string[] = [];
  const add = (v: string) => {
    if (out.length < limit) out.push(v);
  };
  const { log, history } = input;
  const total = log.accounts.length * input.initial;
  const groups = new Map<number, WatchEvent[]>();
  for (const e of history) {
    const g = groups.get(e.rev);
    if (g) g.push(e);
    else groups.set(e.rev, [e]);
  }
  const revs = [...groups.keys()].sort((a, b) => a - b);
  if (revs.length === 0) return ["the history is empty"];
  const first = groups.get(revs[0])!;
  const state = new Map<string, number>();
  for (const e of first) state.set(e.key, Number(e.value));
  if (
    first.length !== log.accounts.length ||
    log.accounts.some((k) => state.get(k) !== input.initial)
  ) {
    add(`revision ${revs[0]} is not the initialisation of every account to ${input.initial}`);
  }
  // Attempted transfers by (from, to, new values): what a history group must match.
  const attempts = new Map<string, number>();
  const sig = (from: string, to: string, f: number, t: number) => `${from}|${to}|${f}|${t}`;
  for (const t of log.transfers) {
    if (t.status === "fail" || (t.status === "ok" && !t.succeeded)) continue;
    const s = sig(t.from, t.to, t.read.from - t.amount, t.read.to + t.amount);
    attempts.set(s, (attempts.get(s) ?? 0) + 1);
  }
  const snapshots = new Map<number, Map<string, number>>([[revs[0], new Map(state)]]);
  for (const rev of revs.slice(1)) {
    const g = groups.get(rev)!;
    if (g.length !== 2 || g.some((e) => e.type !== "put")) {
      add(
        `revision ${rev}: ${g.length} events (${g.map((e) => e.type).join(",")}), not one transfer`,
      );
    }
    let delta = 0;
    for (const e of g) {
      const before = state.get(e.key);
      if (before === undefined) add(`revision ${rev}: ${e.key} is not an account`);
      if (e.prev && Number(e.prev.value) !== before) {
        add(`revision ${rev}: ${e.key} prev_kv ${e.prev.value}, replay has ${before}`);
      }
      const v = Number(e.value);
      if (v < 0) add(`revision ${rev}: ${e.key} negative (${v})`);
      delta += v - (before ?? 0);
      state.set(e.key, v);
    }
    if (delta !== 0) add(`revision ${rev}: the transfer creates ${delta} (money not conserved)`);
    if (g.length === 2) {
      const [a, b] = g;
      const s1 = sig(a.key, b.key, Number(a.value), Number(b.value));
      const s2 = sig(b.key, a.key, Number(b.value), Number(a.value));
      const s = attempts.has(s1) ? s1 : attempts.has(s2) ? s2 : undefined;
      if (s === undefined) add(`revision ${rev}: a transfer no client attempted (${s1})`);
      else if (attempts.get(s)! <= 1) attempts.delete(s);
      else attempts.set(s, attempts.get(s)! - 1);
    }
    snapshots.set(rev, new Map(state));
  }
  for (const t of log.transfers) {
    if (t.status !== "ok") continue;
    const g = t.rev === undefined ? undefined : groups.get(t.rev);
    if (t.succeeded) {
      const f = g?.find((e) => e.key === t.from);
      const to = g?.find((e) => e.key === t.to);
      if (
        !f ||
        !to ||
        Number(f.value) !== t.read.from - t.amount ||
        Number(to.value) !== t.read.to + t.amount
      ) {
        add(
          `acknowledged transfer ${t.from}→${t.to} ${t.amount} at ${t.rev} is not in the history`,
        );
      }
    }
  }
  const at = (rev: number) => {
    let best: number | undefined;
    for (const r of revs) {
      if (r <= rev) best = r;
      else break;
    }
    return best === undefined ? undefined : snapshots.get(best);
  };
  const compare = (what: string, rev: number, balances: Record<string, number>) => {
    const sum = Object.values(balances).reduce((x, y) => x + y, 0);
    if (sum !== total) add(`${what} at ${rev}: total ${sum}, expected ${total}`);
    const want = at(rev);
    if (!want) return;
    for (const k of log.accounts) {
      if (balances[k] !== want.get(k)) {
        add(`${what} at ${rev}: ${k}=${balances[k]}, the history has ${want.get(k)}`);
        return;
      }
    }
  };
  for (const r of log.reads) {
    if (r.rev < revs[0]) continue; // before the initialisation
    compare(`read by client ${r.client} on n${r.member + 1}`, r.rev, r.balances);
  }
  for (const f of input.finals) compare(`final read on n${f.member + 1}`, f.rev, f.balances);
  const last = revs[revs.length - 1];
  for (const f of input.finals) {
    if (f.rev < last)
      add(`final read on n${f.member + 1} at ${f.rev}, behind the history's ${last}`);
  }
  return out;
}
