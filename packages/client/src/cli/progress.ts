/**
 * A progress bar on a terminal (`[#####-----]  45%  12.3 MB / 27.0 MB`), redrawn in
 * place; nothing at all when the stream is not a terminal.
 *
 * @module
 */
import type { OutputStream } from "./io.js";
import { humanBytes } from "./output.js";

/** Draws progress of a byte count. */
export class ProgressBar {
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly stream: OutputStream,
    private readonly label: string,
  ) {}

  /** Whether anything is drawn (only on a terminal). */
  get enabled(): boolean {
    return this.stream.isTTY === true;
  }

  /** Updates the bar (at most every 100 ms, and always at 100%). */
  update(done: number, total: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < 100 && done < total) return;
    this.lastDraw = now;
    this.drawn = true;
    const width = Math.max(10, Math.min(40, (this.stream.columns ?? 80) - 50));
    const ratio = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(ratio * width);
    const bar = `${"#".repeat(filled)}${"-".repeat(width - filled)}`;
    const pct = `${Math.floor(ratio * 100)}`.padStart(3);
    this.stream.write(
      `\r${this.label} [${bar}] ${pct}%  ${humanBytes(done)} / ${humanBytes(total)}\u001b[K`,
    );
  }

  /** Ends the line. */
  finish(): void {
    if (this.drawn) this.stream.write("\n");
  }
}
