/**
 * BatchUndo: per-batch undo logs for stores whose in-memory view includes changes staged
 * in a not-yet-written batch. `record(batch, undo)` before changing memory; `commit(batch)`
 * forgets the undo entries once the batch is written; `abort(batch)` runs them, newest
 * first, to restore the view when the batch will never be written.
 */
import type { WriteBatch } from "../engine.js";

export class BatchUndo {
  private readonly logs = new Map<WriteBatch, (() => void)[]>();

  record(batch: WriteBatch, undo: () => void): void {
    let log = this.logs.get(batch);
    if (!log) {
      log = [];
      this.logs.set(batch, log);
    }
    log.push(undo);
  }

  /** Whether anything is staged in `batch`. */
  has(batch: WriteBatch): boolean {
    return this.logs.has(batch);
  }

  commit(batch: WriteBatch): void {
    this.logs.delete(batch);
  }

  abort(batch: WriteBatch): void {
    const log = this.logs.get(batch);
    if (!log) return;
    this.logs.delete(batch);
    for (let i = log.length - 1; i >= 0; i--) log[i]();
  }
}
