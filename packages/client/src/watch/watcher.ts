/**
 * A watcher: the events of a key or range, delivered in revision order, exactly
 * once, across reconnections. Read them with `for await` or with typed listeners.
 *
 * @module
 */
import { etcdserverpb, mvccpb } from "@chainfire/api";
import { AsyncQueue } from "../async-queue.js";
import type { KeySelector, WireRange } from "../bytes.js";
import { toWireRange } from "../bytes.js";
import { type Disposable, Emitter, type Event } from "../events.js";
import { KeyValue, wrapKv } from "../key-value.js";
import { type Header, toHeader } from "../kv.js";

/** Options of a watch. */
export interface WatchOptions {
  /**
   * Replay history from this revision on (it must not be compacted). Without it,
   * the watch starts after the revision current when it is created.
   */
  startRevision?: number | bigint;
  /** Include each key's previous key-value in its events. */
  prevKv?: boolean;
  /** Leave put events out. */
  noPut?: boolean;
  /** Leave delete events out. */
  noDelete?: boolean;
  /** Ask the member to send periodic progress notifications while nothing happens. */
  progressNotify?: boolean;
  /** Let the member split very large revisions into several responses (reassembled here). */
  fragment?: boolean;
  /** Cancels the watcher when aborted. */
  signal?: AbortSignal;
  /**
   * How long `client.watch()` waits for the first creation (ms; default: the
   * client's `callTimeoutMs`). Once created, a watcher lives until canceled.
   */
  timeoutMs?: number;
}

/** One change of one key. */
export interface WatchEvent {
  type: "put" | "delete";
  /** The key-value after the change (for a delete: the key and the delete's revision). */
  kv: KeyValue;
  /** The key-value before the change, when `prevKv` was asked for and it existed. */
  prevKv: KeyValue | undefined;
  /** The revision of the change (`kv.modRevision`). */
  revision: bigint;
}

/** The events of one response (all of one or more revisions), or a progress notification. */
export interface WatchBatch {
  header: Header;
  events: WatchEvent[];
  /** True for a progress notification (no events): nothing changed up to `header.revision`. */
  progress: boolean;
}

/** The link between a watcher and the stream it lives on (implemented by the manager). */
export interface WatchHost {
  /** Cancels the watcher on its stream. */
  cancel(watcher: Watcher): Promise<void>;
  /** Sends a progress request on the stream. */
  requestProgress(): void;
}

/**
 * A watch on a key or range. Events arrive in revision order. If the stream breaks
 * (member killed, no leader, network), the client reconnects to another endpoint and
 * re-creates the watch from the revision after the last one delivered, dropping any
 * event it already delivered: no gaps and no duplicates.
 *
 * Consume it either with `for await (const event of watcher)` (one loop at a time;
 * leaving the loop cancels the watcher) or with listeners (`onPut`, `onDelete`,
 * `onEvent`, ...). Events are queued for the loop until the first listener is added
 * while no loop is running; from then on, only a running loop queues them.
 */
export class Watcher implements AsyncIterable<WatchEvent> {
  /** The wire form of what is watched. */
  readonly range: WireRange;
  /** The watch options. */
  readonly options: Readonly<WatchOptions>;
  /** The watch id on the current stream (changes after a reconnection). */
  watchId: bigint | undefined;
  /**
   * The revision from which the watch continues: one past the last delivered event
   * (or progress notification). A re-created watch starts here.
   */
  nextRevision: bigint;
  /** Events of a fragmented response not yet complete. */
  fragments: mvccpb.Event[] = [];
  /** Set by the manager when `cancel` was asked before the id was known. */
  cancelRequested = false;

  private readonly eventEmitter: Emitter<WatchEvent>;
  private readonly putEmitter: Emitter<WatchEvent>;
  private readonly deleteEmitter: Emitter<WatchEvent>;
  private readonly batchEmitter: Emitter<WatchBatch>;
  private readonly progressEmitter: Emitter<Header>;
  private readonly connectedEmitter = new Emitter<Header>();
  private readonly disconnectedEmitter = new Emitter<Error>();
  private readonly endEmitter = new Emitter<Error | undefined>();
  private readonly queue = new AsyncQueue<WatchEvent>();
  private listened = false;
  private iterating = false;
  private ended = false;
  private endError: Error | undefined;
  private readyResolve!: () => void;
  private readyReject!: (e: Error) => void;
  private removeAbort: (() => void) | undefined;

  /** Resolves once the watch was first created; rejects if it ended before that. */
  readonly ready: Promise<void>;

  /** Fires for every event. */
  readonly onEvent: Event<WatchEvent>;
  /** Fires for put events. */
  readonly onPut: Event<WatchEvent>;
  /** Fires for delete events. */
  readonly onDelete: Event<WatchEvent>;
  /** Fires for every response with events (a batch per response, in order). */
  readonly onBatch: Event<WatchBatch>;
  /** Fires on progress notifications, with the header (its revision is the progress). */
  readonly onProgress: Event<Header>;
  /** Fires each time the watch is (re-)created on a stream. */
  readonly onConnected: Event<Header> = this.connectedEmitter.event;
  /** Fires when the stream breaks; the client then reconnects by itself. */
  readonly onDisconnected: Event<Error> = this.disconnectedEmitter.event;
  /** Fires once when the watcher ends: `undefined` when canceled, else the error. */
  readonly onEnd: Event<Error | undefined> = this.endEmitter.event;

  /**
   * @param mapKv rewrites each received key-value before delivery (a namespace strips
   *   its prefix with it).
   */
  constructor(
    selector: KeySelector,
    options: WatchOptions,
    private readonly host: WatchHost,
    private readonly mapKv: (kv: mvccpb.KeyValue) => mvccpb.KeyValue = (kv) => kv,
  ) {
    this.range = toWireRange(selector);
    this.options = { ...options };
    this.nextRevision = options.startRevision === undefined ? 0n : BigInt(options.startRevision);
    const listen = () => {
      this.listened = true;
    };
    this.eventEmitter = new Emitter(listen);
    this.putEmitter = new Emitter(listen);
    this.deleteEmitter = new Emitter(listen);
    this.batchEmitter = new Emitter(listen);
    this.progressEmitter = new Emitter();
    this.onEvent = this.eventEmitter.event;
    this.onPut = this.putEmitter.event;
    this.onDelete = this.deleteEmitter.event;
    this.onBatch = this.batchEmitter.event;
    this.onProgress = this.progressEmitter.event;
    this.ready = new Promise<void>((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    this.ready.catch(() => {}); // observed through onEnd / the iterator as well
    if (options.signal) {
      const signal = options.signal;
      const abort = () => void this.cancel();
      if (signal.aborted) queueMicrotask(abort);
      else {
        signal.addEventListener("abort", abort, { once: true });
        this.removeAbort = () => signal.removeEventListener("abort", abort);
      }
    }
  }

  /** Whether the watcher has ended (canceled or failed). */
  get isEnded(): boolean {
    return this.ended;
  }

  /** Why the watcher ended, if it failed. */
  get error(): Error | undefined {
    return this.endError;
  }

  /** The CreateRequest that (re-)creates this watch from {@link nextRevision}. */
  createRequest(): etcdserverpb.WatchCreateRequest {
    const filters: etcdserverpb.WatchCreateRequest_FilterType[] = [];
    if (this.options.noPut) filters.push(etcdserverpb.WatchCreateRequest_FilterType.NOPUT);
    if (this.options.noDelete) filters.push(etcdserverpb.WatchCreateRequest_FilterType.NODELETE);
    return etcdserverpb.WatchCreateRequest.fromPartial({
      key: this.range.key,
      rangeEnd: this.range.rangeEnd,
      startRevision: this.nextRevision,
      progressNotify: this.options.progressNotify ?? false,
      filters,
      prevKv: this.options.prevKv ?? false,
      fragment: this.options.fragment ?? false,
    });
  }

  /** Asks the member for a progress notification (answered on every watcher of the stream). */
  requestProgress(): void {
    this.host.requestProgress();
  }

  /** Stops the watch. Resolves once the member confirmed (or the stream is gone). Idempotent. */
  cancel(): Promise<void> {
    if (this.ended) return Promise.resolve();
    return this.host.cancel(this);
  }

  /** The events as an async iterator; leaving the loop early cancels the watcher. */
  [Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    if (this.iterating) throw new TypeError("chainfire: a watcher supports one iterator at a time");
    this.iterating = true;
    return {
      next: () => this.queue.next(),
      return: async () => {
        this.iterating = false;
        await this.cancel();
        return { value: undefined, done: true };
      },
    };
  }

  // --- called by the manager -----------------------------------------------------

  /** The watch was (re-)created on a stream. */
  handleCreated(watchId: bigint, header: Header): void {
    this.watchId = watchId;
    if (this.nextRevision === 0n) this.nextRevision = header.revision + 1n;
    this.connectedEmitter.fire(header);
    this.readyResolve();
  }

  /**
   * A response for this watcher with events or a progress notification. Events of a
   * revision below {@link nextRevision} were delivered before a reconnection and are
   * dropped.
   */
  handleResponse(response: etcdserverpb.WatchResponse): void {
    const header = toHeader(response.header);
    if (response.fragment) {
      this.fragments.push(...response.events);
      return;
    }
    const raw =
      this.fragments.length > 0 ? [...this.fragments, ...response.events] : response.events;
    this.fragments = [];
    if (raw.length === 0) {
      // A per-watcher progress notification: everything up to header.revision was sent.
      if (header.revision + 1n > this.nextRevision) this.nextRevision = header.revision + 1n;
      this.progressEmitter.fire(header);
      return;
    }
    const events: WatchEvent[] = [];
    for (const e of raw) {
      const kv = new KeyValue(this.mapKv(e.kv ?? mvccpb.KeyValue.fromPartial({})));
      if (kv.modRevision < this.nextRevision) continue; // delivered before a reconnection
      events.push({
        type: e.type === mvccpb.Event_EventType.DELETE ? "delete" : "put",
        kv,
        prevKv: wrapKv(e.prevKv && this.mapKv(e.prevKv)),
        revision: kv.modRevision,
      });
    }
    if (events.length === 0) return;
    this.nextRevision = events[events.length - 1].revision + 1n;
    this.deliver({ header, events, progress: false });
  }

  /** A progress notification for every watcher of the stream (watch id -1). */
  handleStreamProgress(header: Header): void {
    // Not used to advance nextRevision: etcd 3.4 answers before unsynced watchers caught up.
    this.progressEmitter.fire(header);
  }

  /** The stream broke; the manager will re-create the watch. */
  handleDisconnected(error: Error): void {
    this.watchId = undefined;
    this.fragments = [];
    this.disconnectedEmitter.fire(error);
  }

  /** The watcher is over: canceled (no error) or failed. */
  handleEnd(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.endError = error;
    this.watchId = undefined;
    this.removeAbort?.();
    if (error) this.readyReject(error);
    else this.readyResolve();
    this.queue.end(error);
    this.endEmitter.fire(error);
    for (const e of [this.eventEmitter, this.putEmitter, this.deleteEmitter, this.batchEmitter]) {
      e.dispose();
    }
    this.progressEmitter.dispose();
    this.connectedEmitter.dispose();
    this.disconnectedEmitter.dispose();
    this.endEmitter.dispose();
  }

  private deliver(batch: WatchBatch): void {
    if (this.iterating || !this.listened) {
      for (const e of batch.events) this.queue.push(e);
    }
    this.batchEmitter.fire(batch);
    for (const e of batch.events) {
      this.eventEmitter.fire(e);
      (e.type === "put" ? this.putEmitter : this.deleteEmitter).fire(e);
    }
  }
}

/** Helper for listeners: removes every subscription in one call. */
export function disposeAll(subscriptions: Disposable[]): void {
  for (const s of subscriptions) s.dispose();
}
