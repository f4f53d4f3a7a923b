/**
 * Output of the command-line tool: `simple` (etcdctl's plain lines), `json`
 * (etcdctl's JSON shapes: snake_case fields, base64 keys and values, 64-bit numbers
 * written exactly) and `table`; ANSI colour only on a terminal.
 *
 * @module
 */
import type { KeyValue } from "../key-value.js";
import type { Header } from "../kv.js";
import type { CliIo } from "./io.js";

/** An output format. */
export type Format = "simple" | "json" | "table";

/** Whether colour should be used on `stream` given the environment. */
export function useColour(
  stream: { isTTY?: boolean },
  env: Record<string, string | undefined>,
  flag?: boolean,
): boolean {
  if (flag !== undefined) return flag;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0") return true;
  return stream.isTTY === true && env.TERM !== "dumb";
}

/** JSON text in which bigints are written as exact integer literals. */
export function toJson(value: unknown, indent?: number): string {
  const marker = `bigint-${Math.random().toString(36).slice(2)}:`;
  const text = JSON.stringify(
    value,
    (_k, v: unknown) => (typeof v === "bigint" ? `${marker}${v.toString()}` : v),
    indent,
  );
  return text.replace(new RegExp(`"${marker}(-?\\d+)"`, "g"), "$1");
}

/** Writes the tool's results in the chosen format. */
export class Printer {
  constructor(
    readonly io: CliIo,
    readonly format: Format,
    private readonly colour: boolean,
  ) {}

  /** One line on stdout. */
  line(text = ""): void {
    this.io.stdout.write(`${text}\n`);
  }

  /** A JSON document on stdout. */
  json(value: unknown): void {
    this.line(toJson(value));
  }

  /** Raw bytes on stdout (keys and values as they are). */
  bytes(data: Buffer): void {
    this.io.stdout.write(data);
    this.io.stdout.write("\n");
  }

  /** An etcdctl-style table. */
  table(header: string[], rows: string[][]): void {
    const widths = header.map((h, i) =>
      Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)),
    );
    const rule = `+${widths.map((w) => "-".repeat(w + 2)).join("+")}+`;
    const fmt = (cells: string[], style?: (s: string) => string) =>
      `|${cells.map((c, i) => ` ${style ? style(c.padEnd(widths[i])) : c.padEnd(widths[i])} `).join("|")}|`;
    this.line(rule);
    this.line(fmt(header, (s) => this.bold(s)));
    this.line(rule);
    for (const r of rows) this.line(fmt(r));
    this.line(rule);
  }

  /** Text in green (on a terminal). */
  green(s: string): string {
    return this.colour ? `\u001b[32m${s}\u001b[39m` : s;
  }

  /** Text in red (on a terminal). */
  red(s: string): string {
    return this.colour ? `\u001b[31m${s}\u001b[39m` : s;
  }

  /** Bold text (on a terminal). */
  bold(s: string): string {
    return this.colour ? `\u001b[1m${s}\u001b[22m` : s;
  }
}

/** etcdctl's JSON form of a response header. */
export function headerJson(h: Header): Record<string, bigint> {
  return {
    cluster_id: BigInt.asUintN(64, h.clusterId),
    member_id: BigInt.asUintN(64, h.memberId),
    revision: h.revision,
    raft_term: h.raftTerm,
  };
}

/** etcdctl's JSON form of a key-value (zero fields left out, as Go's omitempty does). */
export function kvJson(kv: KeyValue): Record<string, unknown> {
  const out: Record<string, unknown> = { key: kv.key.toString("base64") };
  if (kv.createRevision) out.create_revision = kv.createRevision;
  if (kv.modRevision) out.mod_revision = kv.modRevision;
  if (kv.version) out.version = kv.version;
  if (kv.value.length > 0) out.value = kv.value.toString("base64");
  if (kv.lease) out.lease = kv.lease;
  return out;
}

/** A byte count as etcdctl prints it (humanize.Bytes: 1 kB = 1000 B). */
export function humanBytes(n: bigint | number): string {
  const v = Number(n);
  if (v < 10) return `${v} B`;
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  const e = Math.min(Math.floor(Math.log(v) / Math.log(1000)), units.length - 1);
  const x = v / 1000 ** e;
  return `${x < 10 ? x.toFixed(1) : Math.round(x)} ${units[e]}`;
}
