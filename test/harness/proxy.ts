/**
 * A TCP proxy in front of a member's peer port that delays what passes through it —
 * message delay and reordering without `tc netem` (not available on these machines).
 *
 * Members advertise the proxy's port to their peers (`advertisePeerPort`) and listen on
 * their own; everything a peer sends to a member crosses its proxy. With a delay set,
 * each chunk read from either side is written out `mean ± jitter` ms later, never before
 * the chunk read before it on the same connection (TCP keeps each stream in order), so
 * messages on different connections overtake each other: reordering between the
 * streams a member keeps per peer, and against heartbeats, votes and snapshots.
 */
import { connect, createServer, type Server, type Socket } from "node:net";

/** Delay of one direction: each chunk waits mean ± jitter ms (uniform). */
export interface ProxyDelay {
  meanMs: number;
  jitterMs: number;
}

export class DelayProxy {
  private readonly sockets = new Set<Socket>();
  private delay: ProxyDelay = { meanMs: 0, jitterMs: 0 };
  private closed = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly random: () => number,
  ) {}

  /** Listens on 127.0.0.1:`port`, forwarding to 127.0.0.1:`target`. */
  static start(
    port: number,
    target: number,
    random: () => number = Math.random,
  ): Promise<DelayProxy> {
    return new Promise((resolve, reject) => {
      let proxy: DelayProxy | undefined;
      const server = createServer((downstream) => proxy?.accept(downstream, target));
      server.once("error", reject);
      server.listen({ host: "127.0.0.1", port, exclusive: true }, () => {
        server.off("error", reject);
        proxy = new DelayProxy(server, port, random);
        resolve(proxy);
      });
    });
  }

  /** Sets the delay for new and existing connections (0 ms: pass-through). */
  setDelay(delay: ProxyDelay): void {
    this.delay = delay;
  }

  /** Closes the listener and every connection; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(downstream: Socket, target: number): void {
    const upstream = connect(target, "127.0.0.1");
    this.sockets.add(downstream);
    this.sockets.add(upstream);
    const end = () => {
      downstream.destroy();
      upstream.destroy();
      this.sockets.delete(downstream);
      this.sockets.delete(upstream);
    };
    for (const s of [downstream, upstream]) {
      s.on("error", end);
      s.on("close", end);
    }
    this.pipe(downstream, upstream);
    this.pipe(upstream, downstream);
  }

  /**
   * Copies `from` to `to`, each chunk after the current delay. One FIFO and one timer
   * per direction: chunks leave strictly in the order they came (separate timers with
   * equal deadlines may fire in any order, which would corrupt the stream).
   */
  private pipe(from: Socket, to: Socket): void {
    const queue: { at: number; chunk: Buffer }[] = [];
    let timer: NodeJS.Timeout | undefined;
    const drain = () => {
      timer = undefined;
      while (queue.length > 0 && queue[0].at <= Date.now()) {
        const { chunk } = queue.shift()!;
        if (!to.destroyed) to.write(chunk);
      }
      if (queue.length > 0) timer = setTimeout(drain, queue[0].at - Date.now());
    };
    from.on("data", (chunk: Buffer) => {
      const { meanMs, jitterMs } = this.delay;
      if (meanMs <= 0 && jitterMs <= 0 && queue.length === 0) {
        to.write(chunk);
        return;
      }
      const wanted = Date.now() + Math.max(0, meanMs + (this.random() * 2 - 1) * jitterMs);
      const at = Math.max(wanted, queue.at(-1)?.at ?? 0);
      queue.push({ at, chunk });
      if (!timer) timer = setTimeout(drain, at - Date.now());
    });
    from.on("close", () => {
      if (timer) clearTimeout(timer);
      queue.length = 0;
    });
  }
}
