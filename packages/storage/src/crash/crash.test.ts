/**
 * Crash tests: a child process (crash-child.mjs, on the built package) drives the durable
 * write path like the server's Ready loop and prints every acknowledged (fsynced) step;
 * the parent kills it with SIGKILL at seeded random moments, reopens the data dir and
 * checks that
 *   - the raft log opens (contiguous), and every acknowledged committed entry is there
 *     with the acknowledged term; the HardState is at least what was acknowledged;
 *   - the applied index is at least the acknowledged one and matches the state machine
 *     exactly: every entry up to it applied once (one MVCC revision each, so revision ==
 *     1 + applied), none after it, each effect carrying its entry's term;
 *   - the lease table and the MVCC lease index agree (revocations are atomic).
 * Then the child restarts on the same directory (recovering, as a member does) for the
 * next kill point.
 */
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { Engine } from "../engine.js";
import { LeaseStore } from "../lease/lease-store.js";
import { MetaStore } from "../meta/meta-store.js";
import { MvccStore } from "../mvcc/store.js";
import { openEngine, prng, randInt, tempDir } from "../raft-log/__tests__/support.js";
import { RaftLogStore } from "../raft-log/raft-log-store.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgDir = path.resolve(here, "../..");
const repoDir = path.resolve(pkgDir, "../..");
const child = path.join(here, "crash-child.mjs");

/** Builds dist if it is missing or older than the sources the child runs. */
function ensureBuilt(): void {
  const outputs = [
    "engine",
    "lease/lease-store",
    "lease/revoke",
    "meta/meta-store",
    "mvcc/store",
    "raft-log/raft-log-store",
  ];
  const built = outputs.map((o) => path.join(pkgDir, "dist", `${o}.js`));
  const oldest = Math.min(...built.map((f) => (fs.existsSync(f) ? fs.statSync(f).mtimeMs : 0)));
  const newest = newestSource(path.join(pkgDir, "src"));
  if (oldest > 0 && oldest >= newest) return;
  execFileSync("npx", ["tsc", "-b", "packages/storage"], { cwd: repoDir, stdio: "pipe" });
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".test.ts"))
      newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

interface Ack {
  last: number;
  lastTerm: number;
  commit: number;
  commitTerm: number;
  applied: number;
  hsTerm: number;
  revision: bigint;
}

function parseAck(line: string): Ack {
  const [, last, lastTerm, commit, commitTerm, applied, hsTerm, revision] = line.split(" ");
  return {
    last: Number(last),
    lastTerm: Number(lastTerm),
    commit: Number(commit),
    commitTerm: Number(commitTerm),
    applied: Number(applied),
    hsTerm: Number(hsTerm),
    revision: BigInt(revision),
  };
}

/** Runs the child until killed `killAfterMs` after it is ready; returns its last ack. */
function runUntilKilled(
  dir: string,
  seed: number,
  killAfterMs: number,
): Promise<{ acks: number; last?: Ack }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, dir, String(seed)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let buf = "";
    let stderr = "";
    let acks = 0;
    let last: Ack | undefined;
    let timer: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => {
      p.kill("SIGKILL");
      reject(new Error(`child never became ready: ${stderr}`));
    }, 20_000);
    p.stdout.setEncoding("utf8");
    p.stdout.on("data", (d: string) => {
      buf += d;
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith("READY") && !timer) {
          clearTimeout(deadline);
          timer = setTimeout(() => p.kill("SIGKILL"), killAfterMs);
        } else if (line.startsWith("ACK ")) {
          acks++;
          last = parseAck(line);
        }
        nl = buf.indexOf("\n");
      }
    });
    p.stderr.on("data", (d) => {
      stderr += d;
    });
    p.on("exit", (code, signal) => {
      clearTimeout(deadline);
      if (timer) clearTimeout(timer);
      // A partial last line was never a complete ack: ignore it.
      if (signal === "SIGKILL") resolve({ acks, last });
      else reject(new Error(`child exited with ${code ?? signal}: ${stderr}`));
    });
  });
}

/** Reopens the data dir and checks every invariant against the last ack. */
async function verify(dir: string, ack: Ack | undefined, ctx: string): Promise<void> {
  const engine: Engine = await openEngine(dir);
  try {
    const meta = await MetaStore.open(engine);
    const leases = await LeaseStore.open(engine);
    const mvcc = MvccStore.open(engine);
    const log = RaftLogStore.open(engine, { verify: true }); // throws unless contiguous
    const hs = log.initialState().hardState;
    const applied = meta.appliedIndex;
    const first = log.firstIndex();
    const last = log.lastIndex();
    expect(first, ctx).toBeLessThanOrEqual(last + 1);
    expect(hs.commit, ctx).toBeLessThanOrEqual(last);
    expect(applied, ctx).toBeLessThanOrEqual(hs.commit);
    expect(applied, `${ctx}: log compacted past applied`).toBeGreaterThanOrEqual(first - 1);
    if (ack) {
      expect(hs.term, `${ctx}: hard state term`).toBeGreaterThanOrEqual(ack.hsTerm);
      expect(hs.commit, `${ctx}: hard state commit`).toBeGreaterThanOrEqual(ack.commit);
      expect(applied, `${ctx}: applied index`).toBeGreaterThanOrEqual(ack.applied);
      expect(last, `${ctx}: committed entries kept`).toBeGreaterThanOrEqual(ack.commit);
      if (ack.commit >= first - 1)
        expect(log.term(ack.commit), `${ctx}: acked commit term`).toBe(ack.commitTerm);
    }
    // Exactly once: one revision per applied entry.
    expect(mvcc.revision, `${ctx}: revision vs applied ${applied}`).toBe(BigInt(1 + applied));
    const termOf = (i: number): number | undefined =>
      i >= first - 1 && i <= last ? log.term(i) : undefined;
    let liveLeases = 0;
    for (let i = 1; i <= applied + 12; i++) {
      const t = termOf(i);
      if (i % 10 === 3) {
        const kv = mvcc.get(Buffer.from(`lk/${i}`));
        const revoked = i + 4 <= applied;
        if (i > applied || revoked) {
          expect(kv, `${ctx}: lk/${i}`).toBeUndefined();
          expect(leases.has(BigInt(i)), `${ctx}: lease ${i}`).toBe(false);
        } else {
          expect(kv?.lease, `${ctx}: lk/${i} lease`).toBe(BigInt(i));
          expect(leases.has(BigInt(i)), `${ctx}: lease ${i}`).toBe(true);
          if (t !== undefined)
            expect(Buffer.from(kv!.value).toString(), `${ctx}: lk/${i} term`).toBe(String(t));
          liveLeases++;
        }
      } else if (i % 10 !== 7) {
        const kv = mvcc.get(Buffer.from(`e/${i}`));
        if (i > applied) expect(kv, `${ctx}: e/${i} applied early`).toBeUndefined();
        else {
          expect(kv, `${ctx}: e/${i} missing`).toBeDefined();
          expect(kv!.version, `${ctx}: e/${i} applied twice`).toBe(1n);
          if (t !== undefined)
            expect(Buffer.from(kv!.value).toString(), `${ctx}: e/${i} term`).toBe(String(t));
        }
      }
    }
    expect(leases.size, `${ctx}: lease table`).toBe(liveLeases);
    for (const l of leases.list()) expect(mvcc.keysOfLease(l.id), ctx).toHaveLength(1);
  } finally {
    await engine.close();
  }
}

describe("crash safety (SIGKILL during synced Ready batches)", () => {
  it("keeps every acknowledged write and applies every entry exactly once", {
    timeout: 120_000,
  }, async () => {
    ensureBuilt();
    const seed = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000);
    console.log(`crash test seed ${seed} (rerun with CRASH_SEED=${seed})`);
    const rand = prng(seed);
    for (let run = 0; run < 2; run++) {
      const dir = tempDir("cf-crash-");
      try {
        let totalAcks = 0;
        for (let kill = 0; kill < 5; kill++) {
          const killAfter = randInt(rand, 30, 700);
          const r = await runUntilKilled(dir, randInt(rand, 1, 1e9), killAfter);
          totalAcks += r.acks;
          await verify(
            dir,
            r.last,
            `seed ${seed} run ${run} kill ${kill} after ${killAfter}ms (${r.acks} acks)`,
          );
        }
        expect(totalAcks, "the child made progress").toBeGreaterThan(0);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  });
});
