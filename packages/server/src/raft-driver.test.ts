/**
 * The Ready loop's ordering duties, on three in-process drivers wired to each other, with
 * each member's fsync gated by the test: acknowledgements leave only after the fsync
 * (DESIGN rule 1), and apply results are released after the write — before this Ready's
 * fsync only when every applied entry was already durable on this member. A leader paused
 * for a defragment heartbeats on its ticks.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Entry, type Message, MessageType } from "@chainfire/raft";
import type { MvccWrite, WriteStall } from "@chainfire/storage";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { ApplyOutput } from "./apply/applier.js";
import { closeStorage, type MemberStorage, openStorage } from "./bootstrap.js";
import {
  type DriverState,
  INLINE_SYNC_MAX_ENTRIES,
  RaftDriver,
  type RaftDriverOptions,
} from "./raft-driver.js";
import { newRawNode, seededRandom } from "./raft-driver-config.js";

const logger = pino({ level: "silent" });
const IDS = [1n, 2n, 3n];

/** A gate in front of a member's fsync: syncs wait while it is closed. */
class Gate {
  closed = false;
  #waiting: Array<() => void> = [];
  wait(): Promise<void> {
    if (!this.closed) return Promise.resolve();
    return new Promise((r) => this.#waiting.push(r));
  }
  open(): void {
    this.closed = false;
    const w = this.#waiting;
    this.#waiting = [];
    for (const r of w) r();
  }
  get pending(): number {
    return this.#waiting.length;
  }
}

interface TestMember {
  id: bigint;
  storage: MemberStorage;
  driver: RaftDriver;
  gate: Gate;
  /** Normal entries whose results were released, in order, and whether the gate was closed. */
  released: Array<{ index: number; gateClosed: boolean }>;
  /** Messages sent, with the fsync state when they left and whether an apply was running. */
  sent: Array<{ m: Message; syncPending: boolean; applying?: boolean }>;
  /** Per fsync: `inline`, whether the driver flushed the sends just before it, last index. */
  syncs: Array<{ inline: boolean; flushed: boolean; lastIndex: number }>;
  /** The driver called flushSends since the last fsync started. */
  flushed: boolean;
  syncsPending: number;
  /** Whether a sliced apply (of an entry "slow") is running, and what it observed. */
  applying: boolean;
  appliedIndexDuringApply: number[];
}

const dirs: string[] = [];
const members: TestMember[] = [];
/** The network: whether `m` is delivered (default all), and a hook after each delivery. */
let net: { deliver(m: Message): boolean; after(m: Message): void } = {
  deliver: () => true,
  after: () => {},
};
let ticker: NodeJS.Timeout | undefined;

afterEach(async () => {
  clearInterval(ticker);
  net = { deliver: () => true, after: () => {} };
  for (const m of members.splice(0)) {
    m.gate.open();
    await m.driver.stop();
    await closeStorage(m.storage);
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Three drivers; `inlineSyncMaxEntries` as in RaftDriverOptions (default: the member's, 0). */
async function startCluster(
  opts: Partial<
    Pick<RaftDriverOptions, "inlineSyncMaxEntries" | "snapshotBytes" | "catchUpBytes">
  > = {},
): Promise<TestMember[]> {
  const byId = new Map<bigint, TestMember>();
  for (const id of IDS) {
    const dir = mkdtempSync(join(tmpdir(), "chainfire-driver-"));
    dirs.push(dir);
    const storage = await openStorage(join(dir, "db"), logger);
    const gate = new Gate();
    const engine = storage.engine;
    const syncWal = engine.syncWal.bind(engine);
    const tm = {
      id,
      storage,
      gate,
      released: [],
      sent: [],
      syncs: [],
      flushed: false,
      syncsPending: 0,
      applying: false,
      appliedIndexDuringApply: [],
    } as unknown as TestMember;
    engine.syncWal = async (opts?: { inline?: boolean }) => {
      tm.syncs.push({
        inline: opts?.inline ?? false,
        flushed: tm.flushed,
        lastIndex: storage.log.lastIndex(),
      });
      tm.flushed = false;
      tm.syncsPending++;
      try {
        await gate.wait();
        await syncWal(opts);
      } finally {
        tm.syncsPending--;
      }
    };
    const node = newRawNode({
      id,
      electionTick: 10,
      storage: storage.log,
      applied: storage.meta.appliedIndex,
      random: seededRandom(Number(id)),
      logger,
    });
    node.bootstrap(IDS.map((p) => ({ id: p })));
    const state: DriverState = { ...storage, node };
    tm.driver = new RaftDriver(state, {
      snapshotCount: 1_000_000,
      ...opts,
      catchUpEntries: 5000,
      hooks: {
        send: (msgs) => {
          for (const m of msgs) {
            tm.sent.push({ m, syncPending: tm.syncsPending > 0, applying: tm.applying });
            // Delivered on a later turn, like the network.
            setImmediate(() => {
              if (!net.deliver(m)) return;
              byId.get(m.to)?.driver.step(m);
              net.after(m);
            });
          }
        },
        flushSends: () => {
          tm.flushed = true;
        },
        apply: (w: MvccWrite, entries: readonly Entry[]) => {
          const last = entries[entries.length - 1];
          storage.meta.setApplied(w.batch, last.index, last.term);
          const out: ApplyOutput = {
            outcomes: entries
              .filter((e) => e.data.length > 0 && e.type === 0)
              .map((e) => ({ id: BigInt(e.index), outcome: { ok: true, value: e.index } })),
            last: { index: last.index, term: last.term },
            membershipChanged: false,
            compacted: false,
            requests: 0,
          };
          if (!entries.some((e) => Buffer.from(e.data).toString() === "slow")) return out;
          // 400 ms of synchronous work in 1 ms steps, yielding after each (a big delete).
          return (function* () {
            tm.applying = true;
            try {
              for (let i = 0; i < 400; i++) {
                const stepEnd = performance.now() + 1;
                while (performance.now() < stepEnd) {}
                tm.appliedIndexDuringApply.push(storage.meta.appliedIndex);
                yield;
              }
            } finally {
              tm.applying = false;
            }
            return out;
          })();
        },
        onSoftState: () => {},
        onApplied: (out) => {
          for (const o of out?.outcomes ?? []) {
            tm.released.push({ index: Number(o.id), gateClosed: tm.gate.closed });
          }
        },
        onReadStates: () => {},
        afterReady: () => {},
        onFatal: (err) => {
          throw err;
        },
      },
    });
    byId.set(id, tm);
    members.push(tm);
  }
  for (const m of members) m.driver.schedule();
  return [...byId.values()];
}

async function until(what: string, cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function electFirst(ms: TestMember[]): Promise<TestMember> {
  const leader = ms[0];
  leader.driver.campaign();
  // Only the leader ticks (heartbeats); the followers never campaign on their own.
  ticker = setInterval(() => leader.driver.tick(), 10);
  await until("a leader", () => leader.driver.node.basicStatus().softState.raftState === 2);
  // Its first entry of the term (the empty entry) is committed and applied everywhere.
  // Wait until that entry is in the leader's storage first: right after the election the
  // log may still end at the previous term, and tests number their proposals from it.
  const term = leader.driver.node.basicStatus().hardState.term;
  await until("the leader's empty entry persisted", () => {
    const log = leader.storage.log;
    return log.term(log.lastIndex()) === term;
  });
  const first = leader.storage.log.lastIndex();
  await until("the leader's empty entry applied", () =>
    ms.every((m) => m.storage.meta.appliedIndex >= first),
  );
  return leader;
}

const data = (s: string) => Buffer.from(s);

/**
 * Proposes `payload` (a name, or raw bytes) on the leader; resolves with its index once its
 * result is released.
 */
async function proposeReleased(leader: TestMember, payload: string | Buffer): Promise<number> {
  leader.driver.propose(typeof payload === "string" ? data(payload) : payload);
  const index = leader.storage.log.lastIndex() + 1;
  await until(`entry ${index} released`, () => leader.released.some((r) => r.index === index));
  return index;
}

describe("RaftDriver", () => {
  it("sends acknowledgements only after the fsync", async () => {
    const ms = await startCluster();
    const leader = await electFirst(ms);
    const follower = ms[1];
    follower.gate.closed = true;
    const before = follower.sent.length;
    leader.driver.propose(data("a"));
    await until("the follower's fsync to start", () => follower.gate.pending > 0);
    await new Promise((r) => setTimeout(r, 20));
    const acks = () =>
      follower.sent.slice(before).filter((s) => s.m.type === MessageType.MsgAppResp);
    expect(acks()).toEqual([]);
    follower.gate.open();
    await until("the follower's acknowledgement", () => acks().length > 0);
    expect(acks().every((s) => !s.syncPending)).toBe(true);
  });

  it("releases results of entries durable here before the fsync of a Ready with new entries", async () => {
    const ms = await startCluster();
    const leader = await electFirst(ms);
    leader.driver.propose(data("b"));
    const b = leader.storage.log.lastIndex() + 1;
    // When the first acknowledgement of b arrives, hold the leader's fsyncs and propose c:
    // the Ready that applies b (durable here since its own Ready) also writes c.
    let c = 0;
    net.after = (m) => {
      if (c !== 0 || m.to !== leader.id || m.type !== MessageType.MsgAppResp || m.index < b) return;
      leader.gate.closed = true;
      leader.driver.propose(data("c"));
      c = b + 1;
    };
    await until("b's result", () => leader.released.some((r) => r.index === b));
    const rb = leader.released.find((r) => r.index === b)!;
    expect(rb.gateClosed).toBe(true); // released while the fsync of c was held
    expect(leader.gate.pending).toBeGreaterThan(0);
    leader.gate.open();
    await until("c's result", () => leader.released.some((r) => r.index === c));
  });

  it("releases a follower's results for entries that arrived in the same Ready only after its fsync", async () => {
    const ms = await startCluster();
    const leader = await electFirst(ms);
    const lagging = ms[2];
    // Cut the follower off; commit x with the other one.
    net.deliver = (m) => m.to !== lagging.id && m.from !== lagging.id;
    leader.driver.propose(data("x"));
    const x = leader.storage.log.lastIndex() + 1;
    await until("x applied on the leader", () => leader.released.some((r) => r.index === x));
    // Heal, holding the follower's fsync: x and its commit reach it in one Ready.
    lagging.gate.closed = true;
    net.deliver = () => true;
    await until("the follower's fsync to start", () => lagging.gate.pending > 0);
    await new Promise((r) => setTimeout(r, 50));
    expect(lagging.released.some((r) => r.index === x)).toBe(false);
    lagging.gate.open();
    await until("x applied on the follower", () => lagging.released.some((r) => r.index === x));
    expect(lagging.released.find((r) => r.index === x)!.gateClosed).toBe(false);
  });

  it("in auto mode fsyncs a Ready of few entries inline, after flushing its sends; a larger one on the sync worker", async () => {
    const ms = await startCluster({ inlineSyncMaxEntries: INLINE_SYNC_MAX_ENTRIES });
    const leader = await electFirst(ms);
    const from = leader.syncs.length;
    const one = await proposeReleased(leader, "one");
    expect(leader.syncs[from]).toMatchObject({ inline: true, flushed: true });
    const next = leader.syncs.length;
    for (let i = 0; i < 20; i++) leader.driver.propose(data(`many-${i}`)); // one Ready
    const last = one + 20;
    await until("the 20 applied", () => leader.released.some((r) => r.index === last));
    expect(leader.syncs[next]).toMatchObject({ inline: false, flushed: false });
  });

  it("keeps heartbeats and their answers flowing during a long apply; results after the write", async () => {
    const ms = await startCluster();
    const leader = await electFirst(ms);
    const term = leader.driver.node.basicStatus().hardState.term;
    const marks = ms.map((m) => m.sent.length);
    const released = ms.map((m) => m.released.length);
    leader.driver.propose(data("slow"));
    const slow = leader.storage.log.lastIndex() + 1;
    await until(
      "the slow entry applied everywhere",
      () => ms.every((m) => m.released.some((r) => r.index === slow)),
      20_000,
    );
    const during = (m: TestMember, type: MessageType) =>
      m.sent.slice(marks[ms.indexOf(m)]).filter((s) => s.applying && s.m.type === type).length;
    // The leader ticks every 10 ms: its heartbeats left while its apply ran (400 ms)...
    expect(during(leader, MessageType.MsgHeartbeat)).toBeGreaterThan(5);
    // ...and each follower answered them while its own apply ran.
    for (const f of ms.slice(1)) {
      expect(during(f, MessageType.MsgHeartbeatResp)).toBeGreaterThan(3);
    }
    for (const m of ms) {
      expect(m.driver.stats.applyYields).toBeGreaterThan(10);
      // Nothing was visible before the write: the applied index stayed below the entry,
      // and its result came after the apply.
      expect(m.appliedIndexDuringApply.length).toBeGreaterThan(10);
      expect(Math.max(...m.appliedIndexDuringApply)).toBeLessThan(slow);
      expect(m.storage.meta.appliedIndex).toBeGreaterThanOrEqual(slow);
      expect(m.released.slice(released[ms.indexOf(m)]).map((r) => r.index)).toEqual([slow]);
    }
    expect(leader.driver.node.basicStatus().hardState.term).toBe(term);
  });

  it("holds a Ready's write while RocksDB stops writes; heartbeats and their answers still flow", async () => {
    const ms = await startCluster();
    const leader = await electFirst(ms);
    const term = leader.driver.node.basicStatus().hardState.term;
    // Every member's RocksDB stops writes (as when its memtables are full).
    let stall: WriteStall = { stopped: true, delayedRate: 0 };
    for (const m of ms) m.storage.engine.writeStall = () => stall;
    const marks = ms.map((m) => m.sent.length);
    leader.driver.propose(data("held"));
    const held = leader.storage.log.lastIndex() + 1;
    await until("the leader to wait for the stall", () => leader.driver.stats.stallWaits > 0);
    await new Promise((r) => setTimeout(r, 300)); // 30 leader ticks: 3 election timeouts
    expect(leader.storage.log.lastIndex()).toBe(held - 1); // not written
    expect(leader.released.some((r) => r.index === held)).toBe(false);
    const sent = (m: TestMember, type: MessageType) =>
      m.sent.slice(marks[ms.indexOf(m)]).filter((x) => x.m.type === type).length;
    expect(sent(leader, MessageType.MsgHeartbeat)).toBeGreaterThan(5);
    for (const f of ms.slice(1)) {
      // The append reached the followers; they hold its write too, and answer heartbeats.
      expect(f.driver.stats.stallWaits).toBeGreaterThan(0);
      expect(sent(f, MessageType.MsgAppResp)).toBe(0);
      expect(sent(f, MessageType.MsgHeartbeatResp)).toBeGreaterThan(3);
    }
    // A delay at a rate that writes the batch within the window lets it through.
    stall = { stopped: false, delayedRate: 100 << 20 };
    await until("the held entry's result", () => leader.released.some((r) => r.index === held));
    expect(leader.driver.node.basicStatus().hardState.term).toBe(term);
  });

  it("while RocksDB delays writes, the sync worker takes the delay before each Ready's write", async () => {
    const ms = await startCluster({ inlineSyncMaxEntries: INLINE_SYNC_MAX_ENTRIES });
    const leader = await electFirst(ms);
    const stall: WriteStall = { stopped: false, delayedRate: 1 << 20 };
    for (const m of ms) m.storage.engine.writeStall = () => stall;
    const from = leader.syncs.length;
    leader.driver.propose(data("delayed"));
    const delayed = leader.storage.log.lastIndex() + 1;
    // The delay never ends here: the entry still goes through.
    await until("the entry's result", () => leader.released.some((r) => r.index === delayed));
    const syncs = leader.syncs.slice(from);
    // Before the entry's write: a sync on the worker (the log did not hold the entry yet);
    // after it, its own fsync, on the worker too although auto mode would inline one entry.
    const before = syncs.findIndex((x) => x.lastIndex < delayed);
    const after = syncs.findIndex((x) => x.lastIndex >= delayed);
    expect(before).toBeGreaterThanOrEqual(0);
    expect(after).toBeGreaterThan(before);
    expect(syncs.every((x) => !x.inline)).toBe(true);
    expect(leader.driver.stats.stallWaits).toBeGreaterThan(0);
  });

  it("compacts the log by bytes, but not past an active follower that lags", async () => {
    const ms = await startCluster({ snapshotBytes: 64 * 1024, catchUpBytes: 64 * 1024 });
    const leader = await electFirst(ms);
    const [, fast, slow] = ms;
    const big = (i: number) => Buffer.alloc(8 * 1024, i);
    const proposeAll = async (n: number) => {
      for (let i = 0; i < n; i++) await proposeReleased(leader, big(i));
    };
    // The entry rule alone (5000 entries, a snapshot every 1,000,000) would keep everything.
    await proposeAll(40); // 320 KiB
    const kept = (m: TestMember) => m.storage.log.lastIndex() - m.storage.log.firstIndex() + 1;
    await until("every member compacted", () =>
      ms.every((m) => m.storage.log.firstIndex() > 10 && kept(m) <= 18),
    );
    // The slow follower answers heartbeats but gets no appends: its match stays.
    const match = slow.storage.log.lastIndex();
    net.deliver = (m) => !(m.to === slow.id && m.type === MessageType.MsgApp);
    await proposeAll(40);
    await until("the other follower compacted", () => fast.storage.log.firstIndex() > match + 10);
    expect(leader.storage.log.firstIndex()).toBeLessThanOrEqual(match + 1);
    const pr = leader.driver.node.status().progress.get(slow.id);
    expect(pr?.match).toBe(match);
    expect(pr?.state).toBe("replicate");
    // Delivered again: it catches up from the log (a snapshot in a Ready would throw).
    net.deliver = () => true;
    await until(
      "the slow follower caught up",
      () => slow.storage.meta.appliedIndex >= leader.storage.meta.appliedIndex,
    );
    await proposeAll(10);
    await until(
      "the leader compacted past the old match",
      () => leader.storage.log.firstIndex() > match + 10,
    );
    expect(leader.driver.node.status().progress.get(slow.id)?.state).toBe("replicate");
  });

  it("a leader paused for a defragment heartbeats on each tick; the answers wait for resume", async () => {
    const ms = await startCluster();
    const leader = await electFirst(ms);
    clearInterval(ticker); // ticked by hand from here
    const sentSince = (m: TestMember, n: number) =>
      m.sent.slice(n).map((s) => `${MessageType[s.m.type]}>${s.m.to}`);
    // Paused without holding messages (a snapshot install): ticks do nothing.
    await leader.driver.pause();
    let n = leader.sent.length;
    leader.driver.tick();
    expect(sentSince(leader, n)).toEqual([]);
    leader.driver.resume();
    // Paused with held messages (Defragment): each tick heartbeats every follower.
    await leader.driver.pause({ holdMessages: true });
    n = leader.sent.length;
    leader.driver.tick();
    leader.driver.tick();
    expect(sentSince(leader, n)).toEqual([
      "MsgHeartbeat>2",
      "MsgHeartbeat>3",
      "MsgHeartbeat>2",
      "MsgHeartbeat>3",
    ]);
    // Both followers answer twice; the answers are held, not stepped.
    const answers = (f: TestMember) =>
      f.sent.filter((s) => s.m.type === MessageType.MsgHeartbeatResp && s.m.to === leader.id)
        .length;
    const base = ms.slice(1).map(answers);
    await until("the followers' answers", () =>
      ms.slice(1).every((f, i) => answers(f) >= base[i]! + 2),
    );
    await new Promise((r) => setImmediate(r)); // delivered to the paused leader
    expect(leader.driver.node.basicStatus().softState.raftState).toBe(2);
    leader.driver.resume();
    const held = leader.driver.takeHeldMessages();
    expect(
      held.filter((m) => m.type === MessageType.MsgHeartbeatResp).length,
    ).toBeGreaterThanOrEqual(4);
    // A paused follower sends nothing on its ticks.
    const follower = ms[1]!;
    await follower.driver.pause({ holdMessages: true });
    n = follower.sent.length;
    follower.driver.tick();
    expect(sentSince(follower, n)).toEqual([]);
    follower.driver.resume();
  });
});
