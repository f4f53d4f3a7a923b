/**
 * Failpoints: named places on the durability path where a test can make the member crash
 * (like kill -9) or report that it got there. Compiled in, inert unless the process was
 * started with `CHAINFIRE_TEST_FAILPOINTS` set (read once, when this module loads):
 *
 * ```sh
 * CHAINFIRE_TEST_FAILPOINTS="raftAfterSave=3*panic,compactBeforeCommitBatch=print" chainfire ...
 * ```
 *
 * Actions: `panic` (crash at the first hit), `N*panic` (at the N-th hit), `print` (log
 * the first hit on stderr, count the others, go on), `off`. A crash writes one JSON line
 * `{"failpoint":"<name>","action":"panic",...}` to stderr and exits with
 * {@link FAILPOINT_EXIT_CODE} at once: no exit handlers, no flushing, nothing
 * graceful — what kill -9 would leave, except the reason in the log.
 *
 * `CHAINFIRE_TEST_UNSYNCED_LOSS=1` adds the loss of the page cache to every crash: the engine
 * records, at each WAL sync it asks for, how long the WAL was, and a failpoint crash first
 * truncates the live WAL back to what the last completed sync covered (engine.ts,
 * "Unsynced loss"). The `crashDropUnsynced` failpoint, hit on every engine write, crashes
 * that way at an arbitrary write (`crashDropUnsynced=500*panic`).
 *
 * Cost when unset: each site is `if (failpointsActive) failpoint("name")`, one load of a
 * module-level boolean.
 */
import fs from "node:fs";

/** Exit status of a failpoint crash (the harness treats it like kill -9). */
export const FAILPOINT_EXIT_CODE = 86;

/** Every failpoint name, with where it is. */
export const FAILPOINTS = {
  raftBeforeSave: "a Ready's log entries, HardState and apply batch about to be written",
  raftBeforeFsync: "the Ready's batch written (page cache), results maybe released, not fsynced",
  raftAfterSave: "the Ready's batch written and fsynced, messages after persist not yet sent",
  raftBeforeApply: "committed entries about to be applied into the Ready's batch",
  raftAfterApply: "the Ready's apply results handed to the waiting clients",
  raftBeforeLeaderSend: "a leader about to send a Ready's messages",
  raftBeforeFollowerSend: "a follower about to send a Ready's messages",
  raftBeforeSaveSnap: "a follower about to stage a state snapshot from the leader",
  raftAfterSaveSnap: "the snapshot staged and verified next to the database, not installed",
  raftBeforeApplySnap: "the database closed for the install, the staged copy not yet swapped in",
  snapshotInstallMidway: "the old database renamed away, the staged one not yet renamed in",
  raftAfterApplySnap: "the snapshot installed and reopened, raft not yet resumed",
  snapshotSendMidway: "a leader half-way through streaming a state snapshot to a follower",
  raftBeforeSnapshotLog: "about to take a raft snapshot and compact the raft log",
  raftAfterSnapshotLog: "a raft snapshot taken and the raft log compacted (not yet synced)",
  compactBeforeCommitScheduledCompact: "a Compact about to record its revision in the batch",
  compactAfterCommitScheduledCompact: "a recorded Compact about to start removing history",
  compactBeforeCommitBatch: "a compaction step (not the last) about to be written",
  compactAfterCommitBatch: "a compaction step (not the last) written",
  compactBeforeSetFinishedCompact: "the last compaction step (marks it done) about to be written",
  compactAfterSetFinishedCompact: "the last compaction step written",
  crashDropUnsynced: "every engine write (use with N*panic and CHAINFIRE_TEST_UNSYNCED_LOSS=1)",
} as const;

export type FailpointName = keyof typeof FAILPOINTS;

/** A parsed action. */
export type FailpointAction = { kind: "panic"; at: number } | { kind: "print" } | { kind: "off" };

interface Armed {
  action: FailpointAction;
  hits: number;
}

const armed = new Map<string, Armed>();
const crashHooks = new Set<() => void>();

/** Whether any failpoint is armed (sites test this before calling {@link failpoint}). */
export let failpointsActive = false;

/** Whether crashes drop unsynced writes (`CHAINFIRE_TEST_UNSYNCED_LOSS=1`). */
export let unsyncedLoss = false;

/**
 * Parses `name=action,name=action` (`;` also separates). Throws on an unknown name or
 * action, so a typo in a test's environment fails the start instead of testing nothing.
 */
export function parseFailpoints(spec: string): Map<FailpointName, FailpointAction> {
  const out = new Map<FailpointName, FailpointAction>();
  for (const part of spec.split(/[,;]/)) {
    const item = part.trim();
    if (item === "") continue;
    const eq = item.indexOf("=");
    if (eq <= 0) throw new Error(`failpoint ${JSON.stringify(item)}: expected name=action`);
    const name = item.slice(0, eq).trim();
    const action = item.slice(eq + 1).trim();
    if (!Object.hasOwn(FAILPOINTS, name)) {
      throw new Error(
        `unknown failpoint ${JSON.stringify(name)}; known: ${Object.keys(FAILPOINTS).join(", ")}`,
      );
    }
    out.set(name as FailpointName, parseAction(name, action));
  }
  return out;
}

function parseAction(name: string, action: string): FailpointAction {
  if (action === "off") return { kind: "off" };
  if (action === "print") return { kind: "print" };
  if (action === "panic") return { kind: "panic", at: 1 };
  const m = /^(\d+)\*panic$/.exec(action);
  if (m && Number(m[1]) >= 1) return { kind: "panic", at: Number(m[1]) };
  throw new Error(
    `failpoint ${name}: unknown action ${JSON.stringify(action)} (panic, N*panic, print, off)`,
  );
}

/**
 * Arms failpoints from a spec (replacing what was armed) and sets the unsynced-loss mode.
 * Called once at module load from the environment; tests in one process call it directly.
 */
export function configureFailpoints(spec: string, opts: { unsyncedLoss?: boolean } = {}): void {
  const parsed = parseFailpoints(spec);
  armed.clear();
  for (const [name, action] of parsed) {
    if (action.kind !== "off") armed.set(name, { action, hits: 0 });
  }
  unsyncedLoss = opts.unsyncedLoss ?? false;
  failpointsActive = armed.size > 0;
}

/** What is armed, for the member's start-up log. */
export function armedFailpoints(): Record<string, string> {
  const o: Record<string, string> = {};
  for (const [name, a] of armed) {
    o[name] = a.action.kind === "panic" ? `${a.action.at}*panic` : a.action.kind;
  }
  return o;
}

/** Hits of each armed failpoint so far. */
export function failpointHits(name: FailpointName): number {
  return armed.get(name)?.hits ?? 0;
}

/**
 * Registers work a crash must do first (the engine's WAL truncation in unsynced-loss
 * mode); returns the unregister function. Hooks must be synchronous.
 */
export function onFailpointCrash(hook: () => void): () => void {
  crashHooks.add(hook);
  return () => crashHooks.delete(hook);
}

/** The failpoint `name` is reached: do what it is armed with (nothing when unarmed). */
export function failpoint(name: FailpointName): void {
  const a = armed.get(name);
  if (a === undefined) return;
  a.hits++;
  if (a.action.kind === "print") {
    if (a.hits === 1) writeLine({ failpoint: name, action: "print", hit: 1, pid: process.pid });
    return;
  }
  if (a.action.kind === "panic" && a.hits >= a.action.at) crash(name, a.hits);
}

function crash(name: string, hit: number): never {
  let dropped = "";
  for (const hook of crashHooks) {
    try {
      hook();
    } catch (err) {
      dropped += `hook failed: ${String(err)}; `;
    }
  }
  writeLine({
    failpoint: name,
    action: "panic",
    hit,
    pid: process.pid,
    unsyncedLoss,
    ...(dropped ? { note: dropped } : {}),
    msg: `failpoint ${name} fired: exiting with ${FAILPOINT_EXIT_CODE}`,
  });
  // reallyExit skips 'exit' listeners and pending I/O: as abrupt as Node allows short of
  // a signal, but with a status the harness can tell from its own kill -9.
  (process as unknown as { reallyExit(code: number): never }).reallyExit(FAILPOINT_EXIT_CODE);
  throw new Error("unreachable");
}

function writeLine(o: object): void {
  try {
    fs.writeSync(2, `${JSON.stringify({ level: 50, time: Date.now(), ...o })}\n`);
  } catch {
    // stderr closed: the crash itself is what matters
  }
}

const envSpec = process.env.CHAINFIRE_TEST_FAILPOINTS;
const envLoss = process.env.CHAINFIRE_TEST_UNSYNCED_LOSS === "1";
if ((envSpec !== undefined && envSpec !== "") || envLoss) {
  try {
    configureFailpoints(envSpec ?? "", { unsyncedLoss: envLoss });
  } catch (err) {
    // A typo must not silently test nothing: refuse to start.
    fs.writeSync(2, `chainfire: CHAINFIRE_TEST_FAILPOINTS: ${(err as Error).message}\n`);
    process.exit(2);
  }
}
