/**
 * Free loopback ports for member processes.
 *
 * Ports come from a per-worker window below Linux's ephemeral range (32768-60999), so
 * the outgoing connections of running members never take a port we are about to hand
 * out. Under vitest the window is the worker's pool id (VITEST_POOL_ID: 1..N, unique among
 * the workers running at one time), so two test files running side by side never probe
 * the same ports: a port a killed member freed cannot be taken by another file's member,
 * whose clients would then be talking to the wrong cluster. Outside vitest the window
 * comes from the pid. Every candidate is probed by listening on it; a port handed out once is never
 * handed out again by this process. A member that still loses a race (another program
 * took the port between the probe and its bind) fails to start with "address already in
 * use", and the cluster harness retries with fresh ports.
 */
import { createServer } from "node:net";

const RANGE_START = 12_000;
const RANGE_END = 32_000;
const WINDOW = 2_000;
const WINDOWS = Math.floor((RANGE_END - RANGE_START) / WINDOW);

const handedOut = new Set<number>();
let cursor = initialCursor();

function initialCursor(): number {
  const pool = Number(process.env.VITEST_POOL_ID);
  const window = Number.isInteger(pool) && pool > 0 ? (pool - 1) % WINDOWS : process.pid % WINDOWS;
  return RANGE_START + window * WINDOW;
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
