import { hashString } from "./hash.js";

/**
 * The narrated record of a simulation run. Every line feeds a running hash (two runs of a
 * seed must produce the same hash); only the last `keep` lines are kept for a failure
 * report, unless `keepAll` is set.
 */
export class Trace {
  private ring: string[] = [];
  private next = 0;
  private count = 0;
  private h = 0;

  constructor(
    private readonly keep = 400,
    private readonly keepAll = false,
  ) {}

  add(line: string): void {
    this.h = hashString(line, this.h);
    this.count++;
    if (this.keepAll || this.ring.length < this.keep) {
      this.ring.push(line);
    } else {
      this.ring[this.next] = line;
      this.next = (this.next + 1) % this.keep;
    }
  }

  /** The hash over every line so far, as 14 hex digits. */
  get hash(): string {
    return this.h.toString(16).padStart(14, "0");
  }

  get lines(): number {
    return this.count;
  }

  /** The kept lines, oldest first. */
  tail(): string[] {
    if (this.keepAll || this.ring.length < this.keep) return [...this.ring];
    return [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
  }
}
