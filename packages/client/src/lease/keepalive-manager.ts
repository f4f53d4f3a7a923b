/**
 * The client's lease keep-alive stream: one bidirectional LeaseKeepAlive stream for
 * every kept-alive lease of the client, opened with the first lease and closed with
 * the last. Each lease is renewed every third of its TTL; the stream fails over to
 * another endpoint with backoff when it breaks. A lease is lost when a renewal answers
 * TTL 0 (it expired) or when its deadline passes without a successful renewal.
 *
 * @module
 */
import { etcdserverpb } from "@chainfire/api";
import { type ClientDuplexStream, status } from "@grpc/grpc-js";
import { backoffDelay } from "../backoff.js";
import type { Connection } from "../connection-pool.js";
import { UnavailableError } from "../errors.js";
import { toHeader } from "../kv.js";
import type { Transport } from "../transport.js";
import type { Lease } from "./lease.js";

type KeepAliveStream = ClientDuplexStream<
  etcdserverpb.LeaseKeepAliveRequest,
  etcdserverpb.LeaseKeepAliveResponse
>;

interface Entry {
  lease: Lease;
  /** Send times of renewals awaiting their response, oldest first. */
  inFlight: number[];
  renewTimer: NodeJS.Timeout | undefined;
  deadlineTimer: NodeJS.Timeout | undefined;
}

/** Manages the keep-alive stream of one client. */
export class KeepAliveManager {
  private readonly entries = new Map<bigint, Entry>();
  private stream: KeepAliveStream | undefined;
  private conn: Connection | undefined;
  private generation = 0;
  private connecting = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private closed = false;

  constructor(private readonly transport: Transport) {}

  /** Number of leases kept alive. */
  get size(): number {
    return this.entries.size;
  }

  /** Starts renewing `lease`. */
  add(lease: Lease): void {
    if (this.closed || this.entries.has(lease.id)) return;
    const entry: Entry = { lease, inFlight: [], renewTimer: undefined, deadlineTimer: undefined };
    this.entries.set(lease.id, entry);
    this.armDeadline(entry);
    this.scheduleRenew(entry, this.renewInterval(lease));
    this.ensureStream();
  }

  /** Stops renewing `lease`. */
  remove(lease: Lease): void {
    const entry = this.entries.get(lease.id);
    if (!entry || entry.lease !== lease) return;
    clearTimeout(entry.renewTimer);
    clearTimeout(entry.deadlineTimer);
    this.entries.delete(lease.id);
    if (this.entries.size === 0) this.dropStream();
  }

  /** Stops every renewal and the stream (leases are not revoked). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    for (const entry of [...this.entries.values()]) entry.lease.release();
    this.entries.clear();
    this.dropStream();
  }

  private renewInterval(lease: Lease): number {
    return Math.max(250, (Number(lease.ttl) * 1000) / 3);
  }

  private scheduleRenew(entry: Entry, delayMs: number): void {
    clearTimeout(entry.renewTimer);
    entry.renewTimer = setTimeout(() => this.renew(entry), delayMs);
    entry.renewTimer.unref();
  }

  private armDeadline(entry: Entry): void {
    clearTimeout(entry.deadlineTimer);
    const wait = Math.max(0, entry.lease.expiresAt - Date.now());
    entry.deadlineTimer = setTimeout(() => {
      if (Date.now() >= entry.lease.expiresAt) this.lose(entry, "keepalive-timeout");
      else this.armDeadline(entry);
    }, wait);
    entry.deadlineTimer.unref();
  }

  private renew(entry: Entry): void {
    if (!this.entries.has(entry.lease.id)) return;
    if (this.stream) {
      entry.inFlight.push(Date.now());
      this.stream.write(etcdserverpb.LeaseKeepAliveRequest.fromPartial({ ID: entry.lease.id }));
    } else {
      this.ensureStream();
    }
    this.scheduleRenew(entry, this.renewInterval(entry.lease));
  }

  private lose(entry: Entry, reason: "expired" | "keepalive-timeout", cause?: unknown): void {
    this.remove(entry.lease);
    entry.lease.handleLost(reason, cause);
  }

  private ensureStream(): void {
    if (this.stream || this.connecting || this.reconnectTimer || this.closed) return;
    if (this.entries.size === 0) return;
    void this.openStream();
  }

  private async openStream(): Promise<void> {
    this.connecting = true;
    const conn = this.transport.pool.pick(this.conn);
    let token: string | undefined;
    try {
      const deadline = Date.now() + this.transport.settings.callTimeoutMs;
      const prepared = await this.transport.prepare(conn, deadline, true);
      token = prepared.token;
      if (this.closed || this.entries.size === 0) return;
      const generation = ++this.generation;
      const stream = conn.services().lease.leaseKeepAlive(prepared.metadata);
      this.stream = stream;
      this.conn = conn;
      stream.on("data", (r: etcdserverpb.LeaseKeepAliveResponse) => {
        if (generation === this.generation) this.handleResponse(conn, r);
      });
      stream.on("error", (e: Error) => {
        if (generation === this.generation) this.handleFailure(conn, e, token);
      });
      stream.on("end", () => {
        if (generation === this.generation) {
          const e = new UnavailableError(
            status.UNAVAILABLE,
            `chainfire: ${conn.url}: keep-alive stream ended`,
          );
          this.handleFailure(conn, e, token);
        }
      });
      // Renew everything at once on a new stream: the old one may have lost requests.
      for (const entry of this.entries.values()) {
        entry.inFlight = [];
        this.renew(entry);
      }
    } catch (error) {
      if (this.closed) return;
      this.transport.noteFailure(conn, error, token);
      this.scheduleReconnect();
    } finally {
      this.connecting = false;
    }
  }

  private handleResponse(conn: Connection, r: etcdserverpb.LeaseKeepAliveResponse): void {
    const entry = this.entries.get(r.ID);
    if (!entry) return;
    const sentAt = entry.inFlight.shift() ?? Date.now();
    if (r.TTL <= 0n) {
      this.lose(entry, "expired");
      return;
    }
    this.attempt = 0;
    this.transport.pool.markUp(conn);
    entry.lease.handleKeepAlive({ header: toHeader(r.header), ttl: r.TTL }, sentAt);
    this.armDeadline(entry);
  }

  private handleFailure(conn: Connection, error: unknown, token: string | undefined): void {
    this.transport.noteFailure(conn, error, token);
    this.dropStream();
    for (const entry of this.entries.values()) entry.inFlight = [];
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer || this.entries.size === 0) return;
    const delay = backoffDelay(this.attempt++, this.transport.settings.backoff);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.ensureStream();
    }, delay);
    this.reconnectTimer.unref();
  }

  private dropStream(): void {
    this.generation++;
    const stream = this.stream;
    this.stream = undefined;
    if (stream) {
      stream.on("error", () => {});
      stream.cancel();
    }
  }
}
