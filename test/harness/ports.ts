/**
 * Free loopback ports for member processes.
 *
 * Ports come from a per-process window below Linux's ephemeral range (32768-60999), so
 * the outgoing connections of running members never take a port we are about to hand
 * out, and parallel vitest workers (different pids and pool ids) start in different
 * windows. Every candidate is probed by listening on it; a port handed out once is never
 * handed out again by this process. A member that still loses a race (another program
 * took the port between the probe and its bind) fails to start with "address already in
 * use", and the cluster harness retries with fresh ports.
 */
import { createServer } from "node:net";

const RANGE_START = 12_000;
const RANGE_END = 32_000;
const WINDOW = 400;
const WINDOWS = Math.floor((RANGE_END - RANGE_START) / WINDOW);

const handedOut = new Set<number>();
let cursor = initialCursor();

function initialCursor(): number {
  const pool = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? 0);
  const window = (process.pid * 7 + pool * 13) % WINDOWS;
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
