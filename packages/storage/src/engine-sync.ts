/**
 * Off-thread WAL fsync with group commit, for {@link Engine.write}.
 *
 * The binding's `batch_write` runs on the calling thread, fsync included. A worker thread
 * opens the same database by handle (`db_get_handle` / `db_init(bigint)`) and, on request,
 * writes a tiny batch with `sync: true`: RocksDB then syncs every live WAL file, so every
 * write applied before the request is durable when the worker answers. Requests that
 * arrive while a sync runs share the next one; the event loop never waits for the disk.
 */
import { Worker } from "node:worker_threads";
import { binding, bindingPath, type DbContext } from "./engine-binding.js";

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

/** The key the sync write puts in the default column family (nothing reads it). */
export const WAL_SYNC_KEY = Buffer.from("chainfire/wal-sync");

/** Source of the worker (CommonJS, evaluated; works from src and from dist). */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const binding = require(workerData.bindingPath);
const db = binding.db_init(workerData.handle);
const batch = binding.batch_init();
binding.batch_put(batch, Buffer.from(workerData.key), Buffer.from("1"), {});
parentPort.on("message", (msg) => {
  if (msg === "stop") { parentPort.close(); return; }
  try {
    binding.batch_write(db, batch, { sync: true });
    parentPort.postMessage(null);
  } catch (err) {
    parentPort.postMessage(String(err && err.stack || err));
  }
});
`;

/** fsync the WAL on the calling thread (a synced write of {@link WAL_SYNC_KEY}). */
export function syncWalInline(db: DbContext): void {
  const b = binding.batch_init();
  try {
    binding.batch_put(b, WAL_SYNC_KEY, Buffer.from("1"), {});
    binding.batch_write(db, b, { sync: true });
  } finally {
    binding.batch_clear(b);
  }
}

/** See the module comment. One per open database; {@link close} before the database. */
export class WalSyncer {
  readonly #db: DbContext;
  #worker: Worker | null;
  #inFlight: Waiter[] | null = null;
  #queue: Waiter[] = [];

  constructor(db: DbContext) {
    this.#db = db;
    const w = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { bindingPath, handle: binding.db_get_handle(db), key: WAL_SYNC_KEY.toString() },
    });
    // Referenced only while a sync is pending: an idle engine does not keep a process up.
    w.unref();
    w.on("message", (msg: string | null) => {
      const waiters = this.#inFlight ?? [];
      this.#inFlight = null;
      if (msg === null) for (const x of waiters) x.resolve();
      else {
        const err = new Error(`rocksdb WAL sync failed: ${msg}`);
        for (const x of waiters) x.reject(err);
      }
      if (this.#queue.length > 0) this.#start();
      else w.unref();
    });
    w.on("error", (err) => {
      // The worker is gone: fail what it held; later syncs run inline.
      const waiters = [...(this.#inFlight ?? []), ...this.#queue];
      this.#inFlight = null;
      this.#queue = [];
      this.#worker = null;
      for (const x of waiters) x.reject(new Error("WAL sync worker failed", { cause: err }));
    });
    this.#worker = w;
  }

  /** Resolve once everything written before this call is fsynced. */
  sync(): Promise<void> {
    if (!this.#worker) {
      try {
        syncWalInline(this.#db);
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(new Error("rocksdb WAL sync failed", { cause: err }));
      }
    }
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ resolve, reject });
      if (!this.#inFlight) this.#start();
    });
  }

  /** Wait for pending syncs (their outcome is theirs), then stop the worker. Idempotent. */
  async close(): Promise<void> {
    while (this.#worker && (this.#inFlight || this.#queue.length > 0)) {
      await new Promise<void>((resolve) => {
        this.#queue.push({ resolve, reject: () => resolve() });
        if (!this.#inFlight) this.#start();
      });
    }
    const w = this.#worker;
    if (!w) return;
    this.#worker = null;
    const exited = new Promise<void>((r) => w.once("exit", () => r()));
    w.ref(); // keep the event loop alive until the worker has exited
    w.postMessage("stop");
    await exited;
  }

  #start(): void {
    const w = this.#worker!;
    this.#inFlight = this.#queue;
    this.#queue = [];
    w.ref();
    w.postMessage("sync");
  }
}
