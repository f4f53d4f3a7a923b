/**
 * The register workload (Jepsen's etcd "register"): a few keys, each a register read
 * with a linearizable Range, written with Put, and compare-and-set with a Txn on
 * mod_revision. Every written value is unique (`c<client>.<seq>`), which lets the checker
 * pin down writes of unknown outcome that someone observed.
 *
 * Each client is a sequential process: it talks to its home member, moves on to the next
 * for a second when a request fails, and never retries a write.
 */
import { delay } from "../../harness/wait.js";
import type { Connections } from "../connections.js";
import { cas, get, put, type Session } from "../kv-ops.js";
import { exponential, pick, type Random, rng } from "../random.js";
import type { Recorder } from "../recorder.js";

/** Options of {@link runRegister}. */
export interface RegisterOptions {
  recorder: Recorder;
  connections: Connections;
  /** Members the clients may talk to (indexes). */
  members: number;
  clients: number;
  keys: number;
  /** Target operations per second over all clients. */
  rate: number;
  opTimeoutMs: number;
  seed: number;
  signal: AbortSignal;
  /** Serializable reads (may be stale: a run with them must fail the linearizability check). */
  serializable?: boolean;
}

/** Prefix of every key of the workload. */
export const REGISTER_PREFIX = "/jepsen/register/";

/** The keys of the workload. */
export function registerKeys(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${REGISTER_PREFIX}${i}`);
}

/** Runs the clients until `signal` aborts; resolves when every client has stopped. */
export async function runRegister(options: RegisterOptions): Promise<void> {
  const keys = registerKeys(options.keys);
  await Promise.all(
    Array.from({ length: options.clients }, (_, c) =>
      client(options, keys, c, rng(options.seed * 1000 + c)),
    ),
  );
}

async function client(o: RegisterOptions, keys: string[], c: number, random: Random) {
  const home = c % o.members;
  let member = home;
  let awayUntil = 0;
  let seq = 0;
  const seen = new Map<string, number>(); // key -> last mod_revision this client saw
  const meanGap = (o.clients * 1000) / o.rate;
  while (!o.signal.aborted) {
    if (member !== home && o.recorder.now() > awayUntil) member = home;
    const s: Session = {
      client: c,
      member,
      conn: o.connections.get(member),
      recorder: o.recorder,
      timeoutMs: o.opTimeoutMs,
      serializable: o.serializable,
    };
    const key = pick(random, keys);
    const roll = random();
    const value = `c${c}.${seq++}`;
    const done =
      roll < 0.4
        ? await get(s, key)
        : roll < 0.7
          ? await put(s, key, value)
          : await cas(s, key, seen.get(key) ?? 0, value);
    if (done.status === "ok") {
      if (done.readModRev !== undefined) seen.set(key, done.readModRev);
      else if (done.f === "put" || done.succeeded) seen.set(key, done.rev!);
    } else {
      // The member may be down: use the next one for a while, then come home (so a
      // restarted member serves clients again), after a short pause so a dead member
      // does not turn into thousands of failed operations.
      member = (member + 1) % o.members;
      awayUntil = o.recorder.now() + 1000;
      await pause(50 + random() * 100, o.signal);
      continue;
    }
    await pause(exponential(random, meanGap), o.signal);
  }
}

async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await delay(ms, signal);
  } catch {
    // aborted: the loop ends
  }
}

/**
 * Final reads: one linearizable read of every key from every member in `members`,
 * recorded like any other operation (client numbers from `firstClient`).
 */
export async function finalReads(
  recorder: Recorder,
  connections: Connections,
  members: number[],
  keys: number,
  firstClient: number,
  timeoutMs: number,
): Promise<void> {
  await Promise.all(
    members.map(async (member, i) => {
      const s: Session = {
        client: firstClient + i,
        member,
        conn: connections.get(member),
        recorder,
        timeoutMs,
      };
      for (const key of registerKeys(keys)) await get(s, key);
    }),
  );
}
