/**
 * Free loopback ports for member processes.
 *
 * Ports come from a per-worker window below Linux's ephemeral range (32768-60999), so
 * the outgoing connections of running members never take a port we are about to hand
 * out. Under vitest the window is the worker's pool id (VITEST_POOL_ID: 1..N, unique among
 * the workers running at one time), so two test files running side by side never probe
 * the same ports: a port a killed member freed cannot be taken by another file's member,
 * whose clients would then be talking to the wrong cluster. Outside vitest the window
 * comes from the pid. Windows are also claimed machine-wide (a file per window under the
 * temp dir), so that two vitest runs at once (two worktrees) take different windows. Every candidate is probed by listening on it; a port handed out once is never
 * handed out again by this process. A member that still loses a race (another program
 * took the port between the probe and its bind) fails to start with "address already in
 * use", and the cluster harness retries with fresh ports.
 */
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const RANGE_START = 12_000;
const RANGE_END = 32_000;
const WINDOW = 2_000;
const WINDOWS = Math.floor((RANGE_END - RANGE_START) / WINDOW);
/** Where processes claim windows (one file per window, holding the claimer's pid). */
const CLAIMS_DIR = join(tmpdir(), "chainfire-test-port-windows");

const handedOut = new Set<number>();
/** The next port to probe; set on first use (claiming a window). */
let cursor = 0;

function initialCursor(): number {
  const pool = Number(process.env.VITEST_POOL_ID);
  const preferred =
    Number.isInteger(pool) && pool > 0 ? (pool - 1) % WINDOWS : process.pid % WINDOWS;
  return RANGE_START + claimWindow(preferred) * WINDOW;
}

/**
 * Claims a window for this process, starting at `preferred`: VITEST_POOL_ID is unique only
 * within one vitest run, and two runs on one machine (two worktrees, or CI beside a
 * developer) would otherwise probe the same ports; a port probed free by both, or freed by
 * a member one run restarts, then goes to the other run's member ("address already in
 * use"). A claim is a file created exclusively, holding our pid, removed at exit; a claim
 * whose process is gone is taken over. With every window claimed, `preferred` is shared.
 */
function claimWindow(preferred: number): number {
  try {
    mkdirSync(CLAIMS_DIR, { recursive: true });
  } catch {
    return preferred;
  }
  for (let k = 0; k < WINDOWS; k++) {
    const window = (preferred + k) % WINDOWS;
    const file = join(CLAIMS_DIR, `window-${window}`);
    for (let tries = 0; tries < 2; tries++) {
      try {
        writeFileSync(file, String(process.pid), { flag: "wx" });
        process.once("exit", () => releaseClaim(file));
        return window;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") return preferred;
        if (!staleClaim(file)) break;
      }
    }
  }
  return preferred;
}

/** Removes a claim whose holder has exited (true: try to claim again). */
function staleClaim(file: string): boolean {
  let holder: number;
  try {
    holder = Number(readFileSync(file, "utf8"));
  } catch {
    return true; // removed meanwhile
  }
  if (holder === process.pid || processAlive(holder)) return false;
  try {
    // Renamed first, so that of two processes clearing it only one removes it.
    const moved = `${file}.stale-${process.pid}`;
    renameSync(file, moved);
    unlinkSync(moved);
  } catch {
    // another process cleared it first
  }
  return true;
}

function releaseClaim(file: string): void {
  try {
    if (readFileSync(file, "utf8") === String(process.pid)) unlinkSync(file);
  } catch {
    // already gone
  }
}

function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether `port` can be bound on 127.0.0.1 right now. */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen({ host: "127.0.0.1", port, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/** `count` distinct ports that were free when probed, never handed out before. */
export async function allocatePorts(count: number): Promise<number[]> {
  if (cursor === 0) cursor = initialCursor();
  const ports: number[] = [];
  let scanned = 0;
  while (ports.length < count) {
    if (scanned > RANGE_END - RANGE_START) {
      throw new Error(`no free loopback ports left in ${RANGE_START}-${RANGE_END}`);
    }
    const port = cursor;
    cursor = cursor + 1 >= RANGE_END ? RANGE_START : cursor + 1;
    scanned++;
    if (handedOut.has(port)) continue;
    if (!(await isPortFree(port))) continue;
    handedOut.add(port);
    ports.push(port);
  }
  return ports;
}

/** `count` consecutive ports that were all free when probed (e.g. client, peer, metrics). */
export async function allocatePortBlock(count: number): Promise<number> {
  if (cursor === 0) cursor = initialCursor();
  for (let scanned = 0; scanned <= RANGE_END - RANGE_START; scanned++) {
    const base = cursor;
    cursor = cursor + count >= RANGE_END ? RANGE_START : cursor + count;
    const block = Array.from({ length: count }, (_, i) => base + i);
    if (block.some((p) => handedOut.has(p))) continue;
    let free = true;
    for (const p of block) free &&= await isPortFree(p);
    if (!free) continue;
    for (const p of block) handedOut.add(p);
    return base;
  }
  throw new Error(`no ${count} consecutive free loopback ports in ${RANGE_START}-${RANGE_END}`);
}
