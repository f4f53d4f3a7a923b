// `npm run bench:raft`: raw throughput of the raft core. Three nodes in one process, each
// with a MemoryStorage, messages delivered instantly and in order, no fsync. 1,000,000
// proposals of 256 bytes are proposed on the leader in batches; we measure how fast they
// are committed on the leader and applied on every node. A benchmark, not a test: it
// prints the result next to the target and always exits 0 unless something breaks.
//
// Options: --total N (1000000) --batch B (1000) --size S (256) --inflight M (256)
import process from "node:process";
import { MemoryStorage, RawNode, StateType } from "../dist/index.js";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const TOTAL = opt("total", 1_000_000);
const BATCH = opt("batch", 1000);
const SIZE = opt("size", 256);
const INFLIGHT = opt("inflight", 256);
const TARGET = 500_000;

const ids = [1n, 2n, 3n];
let seed = 42;
const random = () => {
  // mulberry32: the core takes its randomness from the caller.
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const nodes = new Map();
for (const id of ids) {
  const storage = new MemoryStorage({ voters: ids });
  const raw = new RawNode({
    id,
    storage,
    electionTick: 10,
    heartbeatTick: 1,
    random,
    maxSizePerMsg: 1 << 20,
    maxInflightMsgs: INFLIGHT,
  });
  nodes.set(id, { id, storage, raw, applied: 0, appliedNormal: 0 });
}

/** Messages in flight, delivered in FIFO order. */
let queue = [];

/** One Ready of `n`: persist, send, apply, advance (ready.ts). */
function handleReady(n) {
  const rd = n.raw.ready();
  for (const m of rd.messages) queue.push(m);
  if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot);
  if (rd.entries.length > 0) n.storage.append(rd.entries);
  if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
  for (const m of rd.messagesAfterPersist) queue.push(m);
  const ce = rd.committedEntries;
  if (ce.length > 0) {
    for (const e of ce) if (e.data.byteLength === SIZE) n.appliedNormal++;
    n.applied = ce[ce.length - 1].index;
  }
  n.raw.advance(rd);
}

/** Runs Readys and deliveries until nothing is left to do. */
function drive() {
  for (;;) {
    let busy = false;
    for (const n of nodes.values()) {
      while (n.raw.hasReady()) {
        handleReady(n);
        busy = true;
      }
    }
    if (queue.length > 0) {
      busy = true;
      const q = queue;
      queue = [];
      for (const m of q) nodes.get(m.to).raw.step(m);
    }
    if (!busy) return;
  }
}

const leader = nodes.get(1n);
leader.raw.campaign();
drive();
if (leader.raw.basicStatus().softState.raftState !== StateType.Leader) throw new Error("no leader");

const payload = new Uint8Array(SIZE).fill(7);
const startIndex = leader.raw.basicStatus().hardState.commit;
let leaderDone = 0;
const t0 = performance.now();
for (let proposed = 0; proposed < TOTAL; ) {
  const k = Math.min(BATCH, TOTAL - proposed);
  for (let i = 0; i < k; i++) leader.raw.propose(payload);
  proposed += k;
  drive();
  if (leaderDone === 0 && leader.raw.basicStatus().hardState.commit - startIndex >= TOTAL) {
    leaderDone = performance.now();
  }
  // Keep memory flat: compact what every node applied.
  if (proposed % (BATCH * 50) === 0) {
    for (const n of nodes.values()) {
      const c = n.applied - 1000;
      if (c > n.storage.firstIndex()) n.storage.compact(c);
    }
  }
}
drive();
const t1 = performance.now();
if (leaderDone === 0) leaderDone = t1;
for (const n of nodes.values()) {
  if (n.appliedNormal !== TOTAL)
    throw new Error(`node ${n.id} applied ${n.appliedNormal} of ${TOTAL}`);
}
const perSec = (ms) => Math.round(TOTAL / (ms / 1000));
const fmt = (x) => x.toLocaleString("en-US");
const leaderRate = perSec(leaderDone - t0);
const allRate = perSec(t1 - t0);
process.stdout.write(
  [
    `raft bench: ${fmt(TOTAL)} proposals x ${SIZE} B in batches of ${fmt(BATCH)}, 3 nodes, in-memory, instant delivery`,
    `  committed on the leader: ${fmt(leaderRate)} entries/s (${((leaderDone - t0) / 1000).toFixed(2)} s)`,
    `  applied on all 3 nodes:  ${fmt(allRate)} entries/s (${((t1 - t0) / 1000).toFixed(2)} s)`,
    `  target: >= ${fmt(TARGET)} entries/s -> ${allRate >= TARGET ? "MET" : "NOT MET"}`,
    "",
  ].join("\n"),
);
