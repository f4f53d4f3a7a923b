/**
 * The bank workload: multi-key read-modify-write transactions. `accounts` keys under
 * {@link BANK_PREFIX} start at {@link INITIAL_BALANCE} each (one Txn). A transfer reads two
 * accounts (one linearizable Txn of two Ranges), then moves part of the balance with
 * `Txn(MOD(a) == ma && MOD(b) == mb) Then Put(a, va - x), Put(b, vb + x)`. Readers read
 * every account in one Range (one revision). checker/bank.ts checks the outcome.
 *
 * A transfer whose write times out is `unknown` (it may or may not have happened); one
 * refused before reaching raft is `fail`; clients never retry a write.
 */
import { etcdserverpb } from "@chainfire/api";
import { bytes, op, prefixEnd } from "../../harness/index.js";
import { delay } from "../../harness/wait.js";
import type { Connections } from "../connections.js";
import { definitelyFailed, errorText } from "../kv-ops.js";
import { between, type Random, rng, sample } from "../random.js";

export const BANK_PREFIX = "/jepsen/bank/";
export const INITIAL_BALANCE = 100;

/** One transfer attempt. */
export interface Transfer {
  client: number;
  from: string;
  to: string;
  amount: number;
  /** The balances and mod_revisions read before the write. */
  read: { from: number; to: number; fromMod: number; toMod: number };
  status: "ok" | "fail" | "unknown";
  /** For ok: whether the compares held (the puts happened). */
  succeeded?: boolean;
  /** For ok: the response header's revision. */
  rev?: number;
  error?: string;
}

/** One read of every account. */
export interface BankRead {
  client: number;
  member: number;
  rev: number;
  balances: Record<string, number>;
}

export interface BankLog {
  accounts: string[];
  transfers: Transfer[];
  reads: BankRead[];
  errors: number;
}

export function accountKeys(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${BANK_PREFIX}${i}`);
}

/** Writes the initial balances (one Txn); returns its revision. */
export async function initBank(connections: Connections, member: number, count: number) {
  const success = accountKeys(count).map((k) => op.put(k, String(INITIAL_BALANCE)));
  const res = await connections
    .get(member)
    .txn(etcdserverpb.TxnRequest.fromPartial({ success }), 10_000);
  return Number(res.header!.revision);
}

/** Reads every account on `member` in one Range. */
export async function readAll(
  connections: Connections,
  member: number,
  timeoutMs: number,
  serializable = false,
): Promise<{ rev: number; balances: Record<string, number> }> {
  const res = await connections
    .get(member)
    .range({ key: bytes(BANK_PREFIX), rangeEnd: prefixEnd(BANK_PREFIX), serializable }, timeoutMs);
  const balances: Record<string, number> = {};
  for (const kv of res.kvs) balances[kv.key.toString()] = Number(kv.value.toString());
  return { rev: Number(res.header!.revision), balances };
}

export interface BankOptions {
  connections: Connections;
  members: number;
  accounts: number;
  clients: number;
  opTimeoutMs: number;
  seed: number;
  signal: AbortSignal;
}

/** Runs transfer and read clients until `signal` aborts. */
export async function runBank(o: BankOptions, log: BankLog): Promise<void> {
  await Promise.all(
    Array.from({ length: o.clients }, (_, c) => bankClient(o, log, c, rng(o.seed * 7919 + c))),
  );
}

async function bankClient(o: BankOptions, log: BankLog, c: number, random: Random) {
  let member = c % o.members;
  while (!o.signal.aborted) {
    const ok =
      random() < 0.3 ? await read(o, log, c, member) : await transfer(o, log, c, member, random);
    if (!ok) {
      log.errors++;
      member = (member + 1) % o.members;
      await pause(50 + random() * 100, o.signal);
    } else await pause(random() * 20, o.signal);
  }
}

async function read(o: BankOptions, log: BankLog, c: number, member: number): Promise<boolean> {
  try {
    const r = await readAll(o.connections, member, o.opTimeoutMs);
    log.reads.push({ client: c, member, ...r });
    return true;
  } catch {
    return false;
  }
}

async function transfer(
  o: BankOptions,
  log: BankLog,
  c: number,
  member: number,
  random: Random,
): Promise<boolean> {
  const [from, to] = sample(random, log.accounts, 2);
  const conn = o.connections.get(member);
  let got: etcdserverpb.TxnResponse;
  try {
    const success = [op.get(from), op.get(to)];
    got = await conn.txn(etcdserverpb.TxnRequest.fromPartial({ success }), o.opTimeoutMs);
  } catch {
    return false;
  }
  const kvOf = (i: number) => {
    const r = got.responses[i]?.response;
    return r?.$case === "responseRange" ? r.value.kvs[0] : undefined;
  };
  const a = kvOf(0);
  const b = kvOf(1);
  if (!a || !b) return true; // not initialised yet
  const read = {
    from: Number(a.value.toString()),
    to: Number(b.value.toString()),
    fromMod: Number(a.modRevision),
    toMod: Number(b.modRevision),
  };
  if (read.from === 0) return true;
  const amount = between(random, 1, Math.min(read.from, 20));
  const t: Transfer = { client: c, from, to, amount, read, status: "unknown" };
  log.transfers.push(t);
  const modCmp = (key: string, rev: number) =>
    etcdserverpb.Compare.fromPartial({
      key: bytes(key),
      target: etcdserverpb.Compare_CompareTarget.MOD,
      result: etcdserverpb.Compare_CompareResult.EQUAL,
      targetUnion: { $case: "modRevision", value: BigInt(rev) },
    });
  try {
    const res = await conn.txn(
      etcdserverpb.TxnRequest.fromPartial({
        compare: [modCmp(from, read.fromMod), modCmp(to, read.toMod)],
        success: [op.put(from, String(read.from - amount)), op.put(to, String(read.to + amount))],
      }),
      o.opTimeoutMs,
    );
    t.status = "ok";
    t.succeeded = res.succeeded;
    t.rev = Number(res.header!.revision);
    return true;
  } catch (error) {
    t.status = definitelyFailed(error) ? "fail" : "unknown";
    t.error = errorText(error);
    return false;
  }
}

async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await delay(ms, signal);
  } catch {
    // aborted
  }
}
