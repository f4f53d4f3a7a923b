/**
 * ServerWatchStream: one client's Watch stream (etcd's serverWatchStream, v3rpc/watch.go):
 * its watchers by id, the requests it receives (create, cancel, progress) and the one
 * ordered queue of responses it sends.
 *
 * ## Ordering
 * Every response — created, events, canceled, progress — goes through one FIFO queue, so
 * "created" responses leave in request order, a watcher's events follow its "created",
 * nothing follows its "canceled", a response's fragments are contiguous, and a progress
 * notification (revision R) leaves after every event up to R of the watchers it speaks
 * for (they are synced: their events up to the store's revision are already queued).
 *
 * ## Buffering
 * Responses are handed to the transport (gRPC) while it accepts them; when it reports
 * a full buffer, they wait in the queue until it drains. The queue is bounded in bytes
 * (`streamBufferBytes`): once full, {@link deliver} refuses events and the watcher
 * becomes a victim of the {@link WatchableStore} (it re-reads the events from history
 * once the queue has drained to half). Responses that are not events (created, canceled,
 * progress) are never refused; a client that sends requests while not reading its
 * responses is slowed down instead: past {@link MAX_QUEUED_RESPONSES} queued responses
 * the stream stops reading requests (etcd blocks its receive loop the same way).
 *
 * ## etcd behaviours kept (checked against etcd 3.4.23 and etcd 3.5's source)
 * - empty key means "\0"; range_end "\0" means every key >= key; key >= range_end is
 *   refused with "mvcc: watcher range is empty";
 * - watch_id 0 asks for an id: the smallest free id counting up from the last assigned,
 *   starting at 0; a client id in use is refused with "mvcc: duplicate watch ID provided
 *   on the WatchStream"; a refused create is answered created + canceled, watch_id -1;
 * - the created response carries the store revision at creation;
 * - a start revision below the compact revision (the compact revision itself is fine)
 *   gets created, then canceled with compact_revision (header revision 0, as etcd); the
 *   watcher keeps its id until the client cancels it; a negative start revision is
 *   refused at creation with "etcdserver: mvcc: required revision has been compacted"
 *   (etcd 3.6; 3.4/3.5 treat it as compacted);
 * - cancelling an unknown id is ignored; cancelling answers canceled;
 * - WatchProgressRequest is answered (watch_id -1, the store revision) only when every
 *   live watcher of the stream is synced, and not at all on a stream without watchers
 *   (etcd 3.5; 3.4 always answers at once);
 * - progress_notify: each interval, a watcher that is synced and received no events since
 *   the last tick gets an empty response with its id and the store revision;
 * - fragment: a response of the fragment size or more with two or more events is split.
 *
 * Header revisions of event responses: the revision up to which the watcher has now been
 * given every event (the commit's revision when synced, the end of the history page when
 * catching up). etcd sends its current revision while catching up, which can be ahead of
 * the events; clients that resume from header revision + 1 (the etcd3 npm client) would
 * then skip events after a reconnect.
 */
import { ErrCompacted, type etcdserverpb, type mvccpb } from "@chainfire/api";
import { compareBytes, isFromKey, type StoredEvent } from "@chainfire/storage";
import type { Logger } from "pino";
import type { WatchMetrics } from "./metrics.js";
import type { WatchOptions } from "./options.js";
import { fragmentResponse, responseSize } from "./response-size.js";
import type { WatchableStore, WatchSink } from "./watchable-store.js";
import { Watcher } from "./watcher.js";

/** Where a stream's responses go (the gRPC call, or a test's recorder). */
export interface ResponseTransport {
  /** Sends one response; false when the transport's buffer is full (wait for drain). */
  write(response: etcdserverpb.WatchResponse): boolean;
  /** Stop reading requests until {@link resumeInput}. */
  pauseInput(): void;
  resumeInput(): void;
  /** Ends the stream with an error status (the stream is closed after this). */
  fail(err: unknown): void;
  /**
   * Whether the stream's user may read [key, rangeEnd) (auth; services/watch.ts). A
   * refused create is answered created + canceled with {@link ERR_WATCH_PERMISSION_DENIED}.
   */
  permitted?(key: Uint8Array, rangeEnd: Uint8Array): boolean;
}

/** etcd's cancel_reason for a watch the user may not read: the gRPC error's text. */
export const ERR_WATCH_PERMISSION_DENIED =
  "rpc error: code = PermissionDenied desc = etcdserver: permission denied";

/** Past this many queued responses (the transport being full), requests are not read. */
export const MAX_QUEUED_RESPONSES = 256;

/** etcd's mvcc.ErrEmptyWatcherRange. */
export const ERR_EMPTY_WATCHER_RANGE = "mvcc: watcher range is empty";
/** etcd's mvcc.ErrWatcherDuplicateID. */
export const ERR_DUPLICATE_WATCH_ID = "mvcc: duplicate watch ID provided on the WatchStream";

/** The cancel_reason when a stream's watched keys would pass `limit` bytes. */
export function tooManyWatchKeyBytesReason(limit: number): string {
  return `chainfire: watched keys on one stream exceed ${limit} bytes`;
}

/** The cancel_reason when a stream already holds `limit` watchers. */
export function tooManyWatchersReason(limit: number): string {
  return `chainfire: too many watchers on one stream (limit ${limit})`;
}

const FROM_KEY_START = Buffer.from([0]);

/** What a watcher's key and range end count toward maxWatchKeyBytesPerStream. */
function keyBytes(key: Uint8Array, rangeEnd: Uint8Array | undefined): number {
  return key.length + (rangeEnd?.length ?? 0);
}

let nextStreamId = 1;

interface Queued {
  response: etcdserverpb.WatchResponse;
  bytes: number;
}

/** See the module comment. */
export class ServerWatchStream implements WatchSink {
  readonly streamId = nextStreamId++;
  readonly #hub: WatchableStore;
  readonly #transport: ResponseTransport;
  readonly #header: (revision: bigint) => etcdserverpb.ResponseHeader;
  readonly #opts: WatchOptions;
  readonly #logger: Logger;
  readonly #metrics: WatchMetrics | undefined;
  readonly #watchers = new Map<bigint, Watcher<WatchSink>>();
  /** progress_notify watchers → whether the next tick may notify them (etcd's `progress`). */
  readonly #progress = new Map<bigint, boolean>();
  #nextId = 0n;
  /** Bytes of key + range_end over this stream's watchers (maxWatchKeyBytesPerStream). */
  #keyBytes = 0;
  #queue: Queued[] = [];
  #head = 0;
  #queuedBytes = 0;
  /** The transport reported a full buffer; waiting for {@link drained}. */
  #blocked = false;
  #inputPaused = false;
  #flushScheduled = false;
  #progressTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    hub: WatchableStore,
    transport: ResponseTransport,
    header: (revision: bigint) => etcdserverpb.ResponseHeader,
    opts: WatchOptions,
    logger: Logger,
    metrics?: WatchMetrics,
  ) {
    this.#hub = hub;
    this.#transport = transport;
    this.#header = header;
    this.#opts = opts;
    this.#logger = logger;
    this.#metrics = metrics;
  }

  /** Live and compacted watchers (ids in use). */
  get watcherCount(): number {
    return this.#watchers.size;
  }

  /** Bytes of responses queued and not yet handed to the transport. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Handles one request from the client. */
  handle(req: etcdserverpb.WatchRequest): void {
    if (this.#closed) return;
    const u = req.requestUnion;
    switch (u?.$case) {
      case "createRequest":
        this.#create(u.value);
        break;
      case "cancelRequest":
        this.#cancel(u.value.watchId);
        break;
      case "progressRequest":
        this.#progressAll();
        break;
      default:
        // etcd ignores requests it does not understand.
        break;
    }
  }

  /** The transport drained its buffer. */
  drained(): void {
    this.#blocked = false;
    this.#flush();
  }

  /** Removes every watcher and stops the timers. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#watchers.values()) this.#hub.cancel(w);
    this.#watchers.clear();
    this.#progress.clear();
    this.#queue = [];
    this.#head = 0;
    this.#queuedBytes = 0;
    if (this.#progressTimer) clearTimeout(this.#progressTimer);
    this.#progressTimer = undefined;
  }

  /** Ends the stream with `err` (a status for the client) and closes it. */
  fail(err: unknown): void {
    if (this.#closed) return;
    this.close();
    this.#transport.fail(err);
  }

  // ---- WatchSink ------------------------------------------------------------------

  hasRoom(): boolean {
    return !this.#closed && this.#queuedBytes < this.#opts.streamBufferBytes;
  }

  deliver(w: Watcher<WatchSink>, events: readonly StoredEvent[], revision: bigint): boolean {
    if (this.#closed || w.state === "canceled") return true; // nobody to tell
    if (this.#queuedBytes >= this.#opts.streamBufferBytes) return false;
    const out: mvccpb.Event[] = [];
    for (const e of events) {
      if (e.type === "PUT" ? w.noPut : w.noDelete) continue;
      out.push({
        type: e.type === "PUT" ? 0 : 1,
        kv: e.kv as mvccpb.KeyValue,
        prevKv: w.prevKv ? (e.prevKv as mvccpb.KeyValue | undefined) : undefined,
      });
    }
    // etcd: if every event is filtered out, nothing is sent.
    if (out.length === 0) return true;
    this.#metrics?.events.inc(out.length);
    const res = response(this.#header(revision), w.id, { events: out });
    if (w.fragment) {
      for (const f of fragmentResponse(res, this.#opts.fragmentBytes)) this.#enqueue(f);
    } else {
      this.#enqueue(res);
    }
    if (this.#progress.has(w.id)) this.#progress.set(w.id, false);
    return true;
  }

  compacted(w: Watcher<WatchSink>, compactRevision: bigint): void {
    if (this.#closed) return;
    this.#progress.delete(w.id);
    this.#enqueue(response(this.#header(0n), w.id, { canceled: true, compactRevision }));
  }

  // ---- requests -----------------------------------------------------------------------

  /** Why etcd (or the watcher limit) refuses this create, in etcd's order of checks. */
  #checkCreate(
    c: etcdserverpb.WatchCreateRequest,
    key: Uint8Array,
    rangeEnd: Uint8Array | undefined,
  ): string | undefined {
    if (this.#transport.permitted?.(key, c.rangeEnd) === false) return ERR_WATCH_PERMISSION_DENIED;
    if (c.startRevision < 0n) return ErrCompacted.message;
    if (rangeEnd && !isFromKey(rangeEnd) && compareBytes(key, rangeEnd) >= 0) {
      return ERR_EMPTY_WATCHER_RANGE;
    }
    if (c.watchId !== 0n && this.#watchers.has(c.watchId)) return ERR_DUPLICATE_WATCH_ID;
    if (this.#watchers.size >= this.#opts.maxWatchersPerStream) {
      return tooManyWatchersReason(this.#opts.maxWatchersPerStream);
    }
    if (this.#keyBytes + keyBytes(key, rangeEnd) > this.#opts.maxWatchKeyBytesPerStream) {
      return tooManyWatchKeyBytesReason(this.#opts.maxWatchKeyBytesPerStream);
    }
    return undefined;
  }

  #create(c: etcdserverpb.WatchCreateRequest): void {
    const key = c.key.length > 0 ? c.key : FROM_KEY_START;
    const rangeEnd = c.rangeEnd.length > 0 ? c.rangeEnd : undefined;
    const refusal = this.#checkCreate(c, key, rangeEnd);
    if (refusal !== undefined) {
      const header = this.#header(this.#hub.revision);
      this.#enqueue(
        response(header, -1n, { created: true, canceled: true, cancelReason: refusal }),
      );
      return;
    }
    let id = c.watchId;
    if (id === 0n) {
      while (this.#watchers.has(this.#nextId)) this.#nextId++;
      id = this.#nextId++;
    }
    const rev = this.#hub.revision;
    const w = new Watcher<WatchSink>(this, {
      id,
      key,
      rangeEnd,
      startRev: c.startRevision === 0n ? rev + 1n : c.startRevision,
      noPut: c.filters.includes(0),
      noDelete: c.filters.includes(1),
      prevKv: c.prevKv,
      fragment: c.fragment,
      progressNotify: c.progressNotify,
    });
    this.#watchers.set(id, w);
    this.#keyBytes += keyBytes(key, rangeEnd);
    // "created" first: nothing for this watcher can be queued before it.
    this.#enqueue(response(this.#header(rev), id, { created: true }));
    if (w.progressNotify) {
      this.#progress.set(id, true);
      this.#armProgressTimer();
    }
    this.#hub.watch(w);
  }

  #cancel(id: bigint): void {
    const w = this.#watchers.get(id);
    if (!w) return; // etcd: ErrWatcherNotExist, nothing is sent
    this.#hub.cancel(w);
    this.#watchers.delete(id);
    this.#keyBytes -= keyBytes(w.key, w.rangeEnd);
    this.#progress.delete(id);
    this.#enqueue(response(this.#header(this.#hub.revision), id, { canceled: true }));
  }

  /** etcd 3.5's RequestProgressAll (see the module comment). */
  #progressAll(): void {
    let live = 0;
    for (const w of this.#watchers.values()) {
      if (!w.live) continue;
      if (w.state !== "synced") return;
      live++;
    }
    if (live === 0) return;
    this.#enqueue(response(this.#header(this.#hub.revision), -1n, {}));
  }

  #armProgressTimer(): void {
    if (this.#progressTimer || this.#closed) return;
    const interval = this.#opts.progressNotifyIntervalMs;
    // etcd adds up to a tenth of jitter so that watchers created together spread out.
    const jitter = Math.floor(Math.random() * (interval / 10));
    this.#progressTimer = setTimeout(() => {
      this.#progressTimer = undefined;
      this.#progressTick();
    }, interval + jitter);
    this.#progressTimer.unref();
  }

  /** etcd's progressTicker: notify synced watchers that received nothing since last tick. */
  #progressTick(): void {
    if (this.#closed) return;
    const rev = this.#hub.revision;
    for (const [id, due] of this.#progress) {
      const w = this.#watchers.get(id);
      if (due && w?.state === "synced") this.#enqueue(response(this.#header(rev), id, {}));
      this.#progress.set(id, true);
    }
    if (this.#progress.size > 0) this.#armProgressTimer();
  }

  // ---- the send queue -------------------------------------------------------------

  #enqueue(r: etcdserverpb.WatchResponse): void {
    const bytes = responseSize(r);
    this.#queue.push({ response: r, bytes });
    this.#queuedBytes += bytes;
    if (!this.#inputPaused && this.#blocked && this.#queuedCount() >= MAX_QUEUED_RESPONSES) {
      this.#inputPaused = true;
      this.#transport.pauseInput();
    }
    this.#scheduleFlush();
  }

  #queuedCount(): number {
    return this.#queue.length - this.#head;
  }

  /** Flushes once per event-loop turn, outside the apply path that queued the events. */
  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#blocked) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    while (!this.#closed && !this.#blocked && this.#head < this.#queue.length) {
      const q = this.#queue[this.#head]!;
      this.#queue[this.#head] = undefined as unknown as Queued;
      this.#head++;
      this.#queuedBytes -= q.bytes;
      let accepted: boolean;
      try {
        accepted = this.#transport.write(q.response);
      } catch (err) {
        this.#logger.debug({ err }, "writing a watch response failed; closing the stream");
        this.close();
        return;
      }
      if (!accepted) this.#blocked = true;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (this.#closed) return;
    if (this.#inputPaused && this.#queuedCount() < MAX_QUEUED_RESPONSES / 2) {
      this.#inputPaused = false;
      this.#transport.resumeInput();
    }
    if (this.#queuedBytes <= this.#opts.streamBufferBytes / 2 && this.#hub.hasVictims(this)) {
      this.#hub.roomAvailable(this);
    }
  }
}

/** A WatchResponse with every field present (the generated encoder wants them). */
function response(
  header: etcdserverpb.ResponseHeader,
  watchId: bigint,
  fields: Partial<etcdserverpb.WatchResponse>,
): etcdserverpb.WatchResponse {
  return {
    header,
    watchId,
    created: false,
    canceled: false,
    compactRevision: 0n,
    cancelReason: "",
    fragment: false,
    events: [],
    ...fields,
  };
}
