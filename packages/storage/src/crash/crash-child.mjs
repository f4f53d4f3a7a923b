// A member's durable write path, driven like the server's Ready loop, for the crash tests
// (crash.test.ts). Runs on the BUILT package (dist) so it starts fast under plain node.
//
//   node crash-child.mjs <dataDir> <seed>
//
// Every step is one Ready: new entries (sometimes replacing an uncommitted suffix, as a
// new leader's log would), a HardState, and the committed entries applied into the MVCC
// store, the lease table and the applied index, all in ONE batch written with
// sync: true. Only after the fsync does it print the step as acknowledged:
//
//   ACK <last> <lastTerm> <commit> <commitTerm> <applied> <hsTerm> <revision>
//
// Entry i's command is decided by i alone (see effectOf), so the parent can check the
// state against the log. Each entry makes exactly one MVCC revision:
//   i % 10 == 3: grant lease i and put "lk/<i>" attached to it
//   i % 10 == 7: revoke lease i-4 (deletes "lk/<i-4>")
//   otherwise:   put "e/<i>" = "<term of entry i>"
// The parent SIGKILLs it at random points and checks the reopened store.
import { EntryType } from "@chainfire/raft";
import { Engine } from "../../dist/engine.js";
import { LeaseStore } from "../../dist/lease/lease-store.js";
import { revokeLease } from "../../dist/lease/revoke.js";
import { MetaStore } from "../../dist/meta/meta-store.js";
import { MvccStore } from "../../dist/mvcc/store.js";
import { RaftLogStore } from "../../dist/raft-log/raft-log-store.js";

const [dataDir, seedArg] = process.argv.slice(2);
let seed = Number(seedArg) >>> 0;
const rand = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const randInt = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));

const engine = await Engine.open(dataDir, { cacheBytes: 8 << 20, memtableBytes: 4 << 20 });
const meta = await MetaStore.open(engine);
const leases = await LeaseStore.open(engine);
const mvcc = MvccStore.open(engine, { leaseExists: (id) => leases.has(id) });
const log = RaftLogStore.open(engine, { cacheBytes: randInt(0, 1) ? 4096 : 1 << 20 });

let hs = log.initialState().hardState;
// A restart is a new election: a higher term.
hs = { term: hs.term + 1, vote: 1n, commit: hs.commit };
const enc = (s) => Buffer.from(s);

function apply(w, e) {
  const i = e.index;
  if (i % 10 === 3) {
    leases.grant(w.batch, BigInt(i), 100);
    w.put({ key: enc(`lk/${i}`), value: enc(String(e.term)), lease: BigInt(i) });
  } else if (i % 10 === 7) {
    const r = revokeLease(w, leases, BigInt(i - 4));
    if (r.deleted !== 1n) throw new Error(`revoke ${i - 4} deleted ${r.deleted} keys`);
  } else {
    w.put({ key: enc(`e/${i}`), value: enc(String(e.term)) });
  }
}

console.log(`READY last=${log.lastIndex()} commit=${hs.commit} applied=${meta.appliedIndex}`);

for (let step = 0; step < 100000; step++) {
  const w = mvcc.beginWrite();
  const last = log.lastIndex();
  // Sometimes a new term replaces the uncommitted suffix.
  let at = last + 1;
  if (last > hs.commit && rand() < 0.25) {
    at = randInt(hs.commit + 1, last);
    hs = { ...hs, term: hs.term + 1 };
  }
  const n = randInt(1, 6);
  const entries = [];
  for (let k = 0; k < n; k++) {
    const size = randInt(0, 200);
    entries.push({
      index: at + k,
      term: hs.term,
      type: EntryType.Normal,
      data: Buffer.alloc(size, at + k),
    });
  }
  const newLast = at + n - 1;
  // Commit some of what is in the log (never past it, never backwards).
  const commit = Math.max(
    hs.commit,
    randInt(hs.commit, Math.max(hs.commit, newLast - randInt(0, 3))),
  );
  hs = { term: hs.term, vote: hs.vote, commit };
  log.save(w.batch, { entries, hardState: hs });
  // Apply entries (applied, commit]: the stored ones and the ones saved in this batch.
  const applied = meta.stagedAppliedIndex;
  if (commit > applied) {
    const fromLog = Math.min(commit, at - 1);
    const toApply =
      fromLog > applied ? log.entries(applied + 1, fromLog + 1, Number.MAX_SAFE_INTEGER) : [];
    while (toApply.length > 0 && toApply[toApply.length - 1].index < fromLog) {
      const more = log.entries(
        toApply[toApply.length - 1].index + 1,
        fromLog + 1,
        Number.MAX_SAFE_INTEGER,
      );
      toApply.push(...more);
    }
    for (const e of entries) if (e.index <= commit && e.index > applied) toApply.push(e);
    for (const e of toApply) apply(w, e);
    const lastApplied = toApply[toApply.length - 1];
    meta.setApplied(w.batch, lastApplied.index, lastApplied.term);
  }
  const batch = w.batch;
  const out = await w.commit({ sync: true });
  log.commit(batch);
  meta.commit(batch);
  leases.commit(batch);
  const commitTerm = log.term(hs.commit);
  console.log(
    `ACK ${log.lastIndex()} ${log.term(log.lastIndex())} ${hs.commit} ${commitTerm} ${meta.appliedIndex} ${hs.term} ${out.revision}`,
  );
  // Occasionally snapshot and compact, as the server does after a synced apply.
  if (rand() < 0.1 && meta.appliedIndex > log.firstIndex() + 20) {
    const i = meta.appliedIndex;
    if (i > log.snapshot().metadata.index) log.createSnapshot(i, meta.confState);
    log.compact(randInt(log.firstIndex(), i - 10));
  }
}
