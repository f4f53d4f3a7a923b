/**
 * The client's watch stream: one bidirectional Watch stream shared by every watcher
 * of the client (as etcd3 and clientv3 do), opened when the first watcher is added
 * and closed when the last one is canceled.
 *
 * Watches are created one at a time (the next create request is sent after the
 * previous one's "created" response), so each response is matched to its watcher.
 * When the stream breaks, the endpoint is marked down, and after a backoff the
 * manager opens a stream to another endpoint and re-creates every watcher from its
 * `nextRevision`.
 *
 * @module
 */
import { etcdserverpb, type mvccpb } from "@chainfire/api";
import type { ClientDuplexStream } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { backoffDelay, throwIfAborted } from "../backoff.js";
import type { KeySelector } from "../bytes.js";
import type { Connection } from "../connection-pool.js";
import {
  ClientClosedError,
  DeadlineExceededError,
  fromStatus,
  UnavailableError,
  WatchCanceledError,
  WatchCompactedError,
} from "../errors.js";
import { toHeader } from "../kv.js";
import type { Transport } from "../transport.js";
import { Watcher, type WatchOptions } from "./watcher.js";

type WatchStream = ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>;

interface PendingCancel {
  resolve: () => void;
  timer: NodeJS.Timeout;
}

/** Manages the shared watch stream of one client. */
export class WatchManager {
  private readonly watchers = new Set<Watcher>();
  private stream: WatchStream | undefined;
  private conn: Connection | undefined;
  private generation = 0;
  private connecting = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private createTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  /** Watchers waiting to be created on the current stream, in order. */
  private createQueue: Watcher[] = [];
  /** The watcher whose create request is in flight. */
  private creating: Watcher | undefined;
  private readonly byId = new Map<bigint, Watcher>();
  private readonly cancels = new Map<Watcher, PendingCancel>();
  private closed = false;

  constructor(private readonly transport: Transport) {}

  /** Creates a watcher and resolves once the member confirmed it. */
  async watch(
    selector: KeySelector,
    options: WatchOptions = {},
    mapKv?: (kv: mvccpb.KeyValue) => mvccpb.KeyValue,
  ): Promise<Watcher> {
    if (this.closed) throw new ClientClosedError();
    throwIfAborted(options.signal);
    const watcher = new Watcher(selector, options, this, mapKv);
    this.watchers.add(watcher);
    this.enqueueCreate(watcher);
    const timeoutMs = options.timeoutMs ?? this.transport.settings.callTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new DeadlineExceededError(
            status.DEADLINE_EXCEEDED,
            `chainfire: watch not created within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      timer.unref();
    });
    try {
      await Promise.race([watcher.ready, timeout]);
    } catch (error) {
      await watcher.cancel();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    if (watcher.isEnded) {
      if (watcher.error) throw watcher.error;
      throwIfAborted(options.signal);
    }
    return watcher;
  }

  /** Number of live watchers. */
  get size(): number {
    return this.watchers.size;
  }

  /** Sends a progress request on the stream (if one is open). */
  requestProgress(): void {
    this.send({ requestUnion: { $case: "progressRequest", value: {} } });
  }

  /** Cancels a watcher (see {@link Watcher.cancel}). */
  cancel(watcher: Watcher): Promise<void> {
    if (watcher.isEnded) return Promise.resolve();
    const pending = this.cancels.get(watcher);
    if (pending) return new Promise((resolve) => watcher.onEnd(() => resolve()));
    this.createQueue = this.createQueue.filter((w) => w !== watcher);
    if (this.creating === watcher) {
      // Its id is not known yet: cancel as soon as the created response arrives.
      watcher.cancelRequested = true;
      return new Promise((resolve) => watcher.onEnd(() => resolve()));
    }
    if (watcher.watchId === undefined || !this.stream) {
      this.finish(watcher);
      return Promise.resolve();
    }
    return this.sendCancel(watcher);
  }

  /** Ends every watcher and the stream. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    for (const w of [...this.watchers]) this.finish(w, new ClientClosedError());
    this.dropStream();
  }

  // --- stream lifecycle -----------------------------------------------------------

  private enqueueCreate(watcher: Watcher): void {
    if (!this.stream) {
      this.ensureStream();
      return; // every watcher is queued when the stream opens
    }
    this.createQueue.push(watcher);
    this.pump();
  }

  private ensureStream(): void {
    if (this.stream || this.connecting || this.reconnectTimer || this.closed) return;
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
      if (this.closed) return;
      if (this.watchers.size === 0) return;
      const generation = ++this.generation;
      const stream = conn.services().watch.watch(prepared.metadata);
      this.stream = stream;
      this.conn = conn;
      stream.on("data", (r: etcdserverpb.WatchResponse) => {
        if (generation === this.generation) this.handleResponse(r);
      });
      stream.on("error", (e: Error) => {
        if (generation === this.generation) this.handleStreamFailure(conn, e, token);
      });
      stream.on("end", () => {
        if (generation === this.generation) {
          this.handleStreamFailure(
            conn,
            new UnavailableError(status.UNAVAILABLE, `chainfire: ${conn.url}: watch stream ended`),
            token,
          );
        }
      });
      this.createQueue = [...this.watchers].filter((w) => !this.cancels.has(w));
      this.creating = undefined;
      this.pump();
    } catch (error) {
      if (this.closed) return;
      const err = this.transport.noteFailure(conn, error, token);
      for (const w of this.watchers) w.handleDisconnected(err);
      this.scheduleReconnect();
    } finally {
      this.connecting = false;
    }
  }

  private handleStreamFailure(conn: Connection, error: unknown, token: string | undefined): void {
    const err = this.transport.noteFailure(conn, error, token);
    this.dropStream();
    // Watchers that were being canceled are done: the stream that held them is gone.
    for (const w of [...this.cancels.keys()]) this.finish(w);
    for (const w of [...this.watchers]) if (w.cancelRequested) this.finish(w);
    for (const w of this.watchers) w.handleDisconnected(err);
    if (this.watchers.size > 0) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const delay = backoffDelay(this.attempt++, {
      ...this.transport.settings.backoff,
      initialMs: Math.max(50, this.transport.settings.backoff.initialMs ?? 50),
    });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.watchers.size > 0) this.ensureStream();
    }, delay);
    this.reconnectTimer.unref();
  }

  private dropStream(): void {
    this.generation++;
    const stream = this.stream;
    this.stream = undefined;
    this.creating = undefined;
    clearTimeout(this.createTimer);
    this.createQueue = [];
    this.byId.clear();
    if (stream) {
      stream.on("error", () => {}); // the cancel below reports CANCELLED
      stream.cancel();
    }
  }

  private send(request: etcdserverpb.WatchRequest): void {
    this.stream?.write(etcdserverpb.WatchRequest.fromPartial(request));
  }

  /** Sends the next create request if none is in flight. */
  private pump(): void {
    if (!this.stream || this.creating) return;
    const next = this.createQueue.shift();
    if (!next) return;
    this.creating = next;
    this.send({ requestUnion: { $case: "createRequest", value: next.createRequest() } });
    // A member that never confirms would stall every later watcher: treat it as broken.
    const conn = this.conn;
    const generation = this.generation;
    clearTimeout(this.createTimer);
    this.createTimer = setTimeout(() => {
      if (generation !== this.generation || this.creating !== next || !conn) return;
      const error = new DeadlineExceededError(
        status.DEADLINE_EXCEEDED,
        `chainfire: ${conn.url}: watch creation not confirmed`,
      );
      this.handleStreamFailure(conn, error, undefined);
    }, this.transport.settings.callTimeoutMs);
    this.createTimer.unref();
  }

  private sendCancel(watcher: Watcher): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.finish(watcher), this.transport.settings.callTimeoutMs);
      timer.unref();
      this.cancels.set(watcher, { resolve, timer });
      watcher.onEnd(() => resolve());
      this.send({
        requestUnion: { $case: "cancelRequest", value: { watchId: watcher.watchId ?? 0n } },
      });
    });
  }

  /** Ends a watcher and forgets it; closes the stream when none is left. */
  private finish(watcher: Watcher, error?: Error): void {
    const pending = this.cancels.get(watcher);
    if (pending) {
      clearTimeout(pending.timer);
      this.cancels.delete(watcher);
    }
    if (watcher.watchId !== undefined) this.byId.delete(watcher.watchId);
    this.watchers.delete(watcher);
    this.createQueue = this.createQueue.filter((w) => w !== watcher);
    watcher.handleEnd(error);
    pending?.resolve();
    if (this.watchers.size === 0 && !this.connecting) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
      this.dropStream();
    }
  }

  // --- responses ---------------------------------------------------------------------

  private handleResponse(r: etcdserverpb.WatchResponse): void {
    const header = toHeader(r.header);
    if (r.created) {
      const watcher = this.creating;
      this.creating = undefined;
      clearTimeout(this.createTimer);
      if (watcher) this.handleCreated(watcher, r, header);
      this.pump();
      return;
    }
    if (r.watchId === -1n) {
      for (const w of this.watchers) if (w.watchId !== undefined) w.handleStreamProgress(header);
      return;
    }
    const watcher = this.byId.get(r.watchId);
    if (!watcher) return; // a watcher we already forgot
    if (r.canceled) {
      this.byId.delete(r.watchId);
      this.finish(watcher, this.cancels.has(watcher) ? undefined : cancelError(r));
      return;
    }
    watcher.handleResponse(r);
  }

  private handleCreated(
    watcher: Watcher,
    r: etcdserverpb.WatchResponse,
    header: ReturnType<typeof toHeader>,
  ): void {
    if (r.canceled || r.watchId === -1n) {
      this.finish(watcher, cancelError(r));
      return;
    }
    if (this.conn) this.transport.pool.markUp(this.conn);
    this.attempt = 0;
    this.byId.set(r.watchId, watcher);
    watcher.handleCreated(r.watchId, header);
    if (watcher.cancelRequested || !this.watchers.has(watcher)) void this.sendCancel(watcher);
  }
}

/** The error a server-side cancellation stands for. */
function cancelError(r: etcdserverpb.WatchResponse): Error {
  if (r.compactRevision > 0n) return new WatchCompactedError(r.compactRevision);
  if (r.cancelReason) {
    // etcd 3.4 sends Go's rendering of a status: "rpc error: code = X desc = <text>".
    const text = /^rpc error: code = \w+ desc = (.*)$/s.exec(r.cancelReason)?.[1] ?? r.cancelReason;
    const typed = fromStatus({ code: status.UNKNOWN, details: text });
    if (typed.spec) return typed;
    return new WatchCanceledError(r.cancelReason);
  }
  return new WatchCanceledError("");
}
