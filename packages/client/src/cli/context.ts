/**
 * What every command shares: the global flags (etcdctl's names; each also read from
 * CHAINFIRECTL_<FLAG> or ETCDCTL_<FLAG>), the printer and the client built from them.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { Client } from "../client.js";
import { splitEndpoints } from "../endpoint.js";
import { CliError, ExitBadArgs } from "./exit-codes.js";
import type { CliIo } from "./io.js";
import { type Format, Printer, useColour } from "./output.js";

/** The global flags after parsing. */
export interface GlobalArgs {
  endpoints: string;
  user?: string;
  password?: string;
  cacert?: string;
  cert?: string;
  tlsKey?: string;
  insecureSkipTlsVerify?: boolean;
  dialTimeout: string;
  commandTimeout: string;
  writeOut: string;
  color?: boolean;
}

/** The environment variable names for a flag: CHAINFIRECTL_X, then etcdctl's ETCDCTL_X. */
export function envDefault(
  env: Record<string, string | undefined>,
  flag: string,
): string | undefined {
  const name = flag.toUpperCase().replace(/-/g, "_");
  return env[`CHAINFIRECTL_${name}`] ?? env[`ETCDCTL_${name}`];
}

/** Parses a Go-style duration ("5s", "500ms", "1m30s") into milliseconds. */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t) * 1000;
  let total = 0;
  let rest = t;
  const re = /^(\d+(?:\.\d+)?)(ms|s|m|h)/;
  while (rest.length > 0) {
    const m = re.exec(rest);
    if (!m) throw new CliError(`invalid duration ${JSON.stringify(text)}`, ExitBadArgs);
    const n = Number(m[1]);
    total +=
      m[2] === "ms" ? n : m[2] === "s" ? n * 1000 : m[2] === "m" ? n * 60_000 : n * 3_600_000;
    rest = rest.slice(m[0].length);
  }
  return total;
}

/** Shared state of one invocation. */
export class Context {
  readonly printer: Printer;
  readonly format: Format;
  readonly commandTimeoutMs: number;
  private cached: Client | undefined;
  private endpointOverride: string[] | undefined;

  constructor(
    readonly io: CliIo,
    readonly args: GlobalArgs,
  ) {
    const format = args.writeOut;
    if (format !== "simple" && format !== "json" && format !== "table") {
      throw new CliError(
        `unsupported output format ${JSON.stringify(format)} (simple|json|table)`,
        ExitBadArgs,
      );
    }
    this.format = format;
    this.printer = new Printer(io, format, useColour(io.stdout, io.env, args.color));
    this.commandTimeoutMs = parseDuration(args.commandTimeout);
  }

  /** The endpoints: the flag's, or those set by `--cluster` discovery. */
  get endpoints(): string[] {
    return this.endpointOverride ?? splitEndpoints(this.args.endpoints);
  }

  /** Call options with the command timeout and the interrupt signal. */
  get call(): { timeoutMs: number; signal?: AbortSignal } {
    return { timeoutMs: this.commandTimeoutMs, signal: this.io.signal };
  }

  /** The client (created on first use). */
  client(): Client {
    if (this.cached) return this.cached;
    let username: string | undefined;
    let password = this.args.password;
    if (this.args.user) {
      const i = this.args.user.indexOf(":");
      username = i < 0 ? this.args.user : this.args.user.slice(0, i);
      if (i >= 0) password = this.args.user.slice(i + 1);
      if (password === undefined)
        throw new CliError("--user needs a password (user:password or --password)", ExitBadArgs);
    }
    const tlsWanted =
      this.args.cacert || this.args.cert || this.args.tlsKey || this.args.insecureSkipTlsVerify;
    this.cached = new Client({
      endpoints: this.endpoints,
      endpointSelection: "ordered",
      auth: username !== undefined ? { username, password: password ?? "" } : undefined,
      tls: tlsWanted
        ? {
            ca: this.args.cacert ? readFileSync(this.args.cacert) : undefined,
            cert: this.args.cert ? readFileSync(this.args.cert) : undefined,
            key: this.args.tlsKey ? readFileSync(this.args.tlsKey) : undefined,
            insecureSkipVerify: this.args.insecureSkipTlsVerify,
          }
        : undefined,
      dialTimeoutMs: parseDuration(this.args.dialTimeout),
      callTimeoutMs: this.commandTimeoutMs,
    });
    return this.cached;
  }

  /**
   * `--cluster`: replaces the endpoints by every member's client URLs (from the member
   * list), as etcdctl does.
   */
  async useClusterEndpoints(): Promise<void> {
    const members = await this.client().cluster.list(this.call);
    const urls = [...new Set(members.members.flatMap((m) => m.clientURLs))];
    await this.close();
    this.endpointOverride = urls;
  }

  /** Closes the client if one was created. */
  async close(): Promise<void> {
    const c = this.cached;
    this.cached = undefined;
    await c?.close();
  }
}
