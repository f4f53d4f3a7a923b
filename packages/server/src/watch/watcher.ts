/**
 * Watcher: one watch of one stream — its key range, options and how far it has been fed.
 * Which group holds it (etcd's watchable_store.go nouns) is its `state`:
 *
 * - `synced`: it has been given every event up to the store's revision; the commit
 *   listener feeds it new events as they are committed.
 * - `unsynced`: it is behind (a start revision in the past, or it was a victim whose
 *   stream has room again); the catch-up loop feeds it from history (`store.changes`).
 * - `victim`: it was behind or synced when its stream's send buffer was full; it waits,
 *   holding no events, until the stream has room, then becomes `unsynced`.
 * - `compacted`: its next revision was compacted; it was told so (canceled with
 *   compact_revision) and waits for the client's cancel, as in etcd.
 * - `canceled`: removed (cancelled by the client, or its stream closed).
 *
 * Invariant: every event of the watcher's range below `nextRev` has been handed to its
 * stream's send queue exactly once, in revision order, and none at or above it (for a
 * synced watcher the effective next revision is max(nextRev, store revision + 1)).
 */
import { type KeyInterval, keyInterval } from "@chainfire/storage";

/** The group a watcher is in; see the module comment. */
export type WatcherState = "synced" | "unsynced" | "victim" | "compacted" | "canceled";

/** What a watcher needs from its stream (implemented by ServerWatchStream). */
export interface WatcherOwner {
  /** A short id of the stream for logs. */
  readonly streamId: number;
}

/** The create-request fields a watcher keeps (key and range_end as etcd normalizes them). */
export interface WatcherSpec {
  id: bigint;
  /** Never empty (etcd: an empty key means "\0"). */
  key: Uint8Array;
  /** Undefined: the single key; [0]: every key >= key; otherwise [key, rangeEnd). */
  rangeEnd: Uint8Array | undefined;
  /** First revision to deliver (already resolved: never 0). */
  startRev: bigint;
  noPut: boolean;
  noDelete: boolean;
  prevKv: boolean;
  fragment: boolean;
  progressNotify: boolean;
}

/** See the module comment. */
export class Watcher<O extends WatcherOwner = WatcherOwner> {
  readonly id: bigint;
  readonly owner: O;
  readonly key: Uint8Array;
  readonly rangeEnd: Uint8Array | undefined;
  readonly interval: KeyInterval;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly prevKv: boolean;
  readonly fragment: boolean;
  readonly progressNotify: boolean;
  /** The first revision not yet handed to the stream (see the invariant). */
  nextRev: bigint;
  state: WatcherState = "unsynced";

  constructor(owner: O, spec: WatcherSpec) {
    this.owner = owner;
    this.id = spec.id;
    this.key = spec.key;
    this.rangeEnd = spec.rangeEnd;
    this.interval = keyInterval(spec.key, spec.rangeEnd);
    this.noPut = spec.noPut;
    this.noDelete = spec.noDelete;
    this.prevKv = spec.prevKv;
    this.fragment = spec.fragment;
    this.progressNotify = spec.progressNotify;
    this.nextRev = spec.startRev;
  }

  /** Whether the watcher is still registered with the store (synced, unsynced or victim). */
  get live(): boolean {
    return this.state === "synced" || this.state === "unsynced" || this.state === "victim";
  }
}
