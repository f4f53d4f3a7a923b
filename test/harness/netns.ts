/**
 * Members as hosts: each in its own network namespace with its own address, joined by
 * veth pairs to a bridge that lives in a namespace of its own, so the root namespace is
 * never touched (no address, no interface, no rule). Needs root, `ip` and `nft`.
 *
 * ```
 *   cf-<pid>-<k>-sw:  br0 ── veth ─┬─ cf-<pid>-<k>-n1: 10.77.0.1  (member n1)
 *                                  ├─ cf-<pid>-<k>-n2: 10.77.0.2  (member n2)
 *                                  └─ cf-<pid>-<k>-n3: 10.77.0.3  (member n3)
 * ```
 *
 * Members talk to each other over the bridge; faults are nftables rules in the members'
 * namespaces (partitions, one-way cuts, random loss). The harness in the root namespace
 * reaches each member through a small forwarder inside that member's namespace: a unix
 * socket (sockets in the filesystem cross network namespaces) piped to the member's
 * 127.0.0.1 listeners. Client traffic therefore never crosses the bridge, as in Jepsen,
 * where clients are not partitioned from their node.
 *
 * {@link NetnsNetwork.close} ends the forwarders and deletes every namespace created
 * (which deletes the veths and the bridge); a process exit hook does the same if a run
 * dies, and namespaces left by a dead process of an earlier run are deleted on create.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { forgetProcess, trackProcess } from "./cleanup.js";
import type { MemberPlacement } from "./cluster.js";
import { pollUntil } from "./wait.js";

const CLIENT_PORT = 2379;
const PEER_PORT = 2380;
const METRICS_PORT = 2381;
const NAME = /^cf-(\d+)-(\d+)-(sw|n\d+)$/;

/** Whether namespaces can be used here; the reason when not. */
export function netnsSupport(): { ok: true } | { ok: false; reason: string } {
  if (process.getuid?.() !== 0) return { ok: false, reason: "not running as root" };
  for (const tool of ["ip", "nft"]) {
    try {
      execFileSync(tool, ["-V"], { stdio: "ignore" });
    } catch {
      return { ok: false, reason: `${tool} is not installed` };
    }
  }
  return { ok: true };
}

let counter = 0;
const live = new Set<NetnsNetwork>();
let hooked = false;

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", () => {
    for (const net of live) net.closeSync();
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = () => {
      for (const net of live) net.closeSync();
      process.removeListener(signal, onSignal);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/** A bridge namespace plus one namespace per member; see the module comment. */
export class NetnsNetwork {
  private readonly forwarders: ReturnType<typeof spawn>[] = [];
  private closed = false;

  private constructor(
    readonly size: number,
    readonly prefix: string,
    readonly dir: string,
  ) {}

  /** Creates the namespaces, bridge, veths, empty rule tables and forwarders. */
  static async create(size: number): Promise<NetnsNetwork> {
    const support = netnsSupport();
    if (!support.ok) throw new Error(`network namespaces unavailable: ${support.reason}`);
    deleteOrphans();
    hook();
    const prefix = `cf-${process.pid}-${++counter}`;
    const net = new NetnsNetwork(size, prefix, mkdtempSync(join(tmpdir(), "cf-netns-")));
    live.add(net);
    try {
      await net.build();
      return net;
    } catch (error) {
      await net.close();
      throw error;
    }
  }

  /** The namespace of member `i` (0-based). */
  ns(i: number): string {
    return `${this.prefix}-n${i + 1}`;
  }

  get bridgeNs(): string {
    return `${this.prefix}-sw`;
  }

  /** The address of member `i`. */
  address(i: number): string {
    return `10.77.0.${i + 1}`;
  }

  /** Where member `i` runs, for `Cluster.start({ placement })`. */
  placement(i: number): MemberPlacement {
    return {
      host: this.address(i),
      clientPort: CLIENT_PORT,
      peerPort: PEER_PORT,
      metricsPort: METRICS_PORT,
      metricsHost: "127.0.0.1",
      extraListenClientUrls: [`http://127.0.0.1:${CLIENT_PORT}`],
      commandPrefix: ["ip", "netns", "exec", this.ns(i)],
      dialClientUrl: `unix://${this.socket(i, "client")}`,
      healthSocket: this.socket(i, "metrics"),
    };
  }

  /**
   * Cuts the network between groups: members in different groups exchange nothing;
   * members in no group keep talking to everyone (a bridge node, when given).
   */
  async partition(groups: number[][]): Promise<void> {
    const groupOf = new Map<number, number>();
    for (const [k, group] of groups.entries()) for (const m of group) groupOf.set(m, k);
    await this.apply((i) => {
      const mine = groupOf.get(i);
      if (mine === undefined) return [];
      const others = [...groupOf].filter(([, k]) => k !== mine).map(([m]) => this.address(m));
      return dropBoth(others);
    });
  }

  /** Drops packets from members `from` arriving at members `to` (replies still flow). */
  async dropOneWay(from: number[], to: number[]): Promise<void> {
    const sources = from.map((m) => this.address(m));
    await this.apply((i) =>
      to.includes(i) && sources.length > 0
        ? [`add rule inet cfj input ip saddr { ${sources.join(", ")} } drop`]
        : [],
    );
  }

  /** Drops `percent`% of the packets each member receives from the others, at random. */
  async loss(percent: number): Promise<void> {
    await this.apply(() => [
      `add rule inet cfj input ip saddr 10.77.0.0/24 numgen random mod 100 < ${Math.round(percent)} drop`,
    ]);
  }

  /** Removes every fault rule. */
  async heal(): Promise<void> {
    await this.apply(() => []);
  }

  /** Ends the forwarders and deletes every namespace; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const f of this.forwarders) {
      if (f.exitCode === null && f.signalCode === null) {
        const exited = new Promise((resolve) => f.once("exit", resolve));
        f.kill("SIGKILL");
        await exited;
      }
      if (f.pid !== undefined) forgetProcess(f.pid);
    }
    this.closeSync();
  }

  /** The synchronous part of {@link close} (also run from the exit hook). */
  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    live.delete(this);
    for (const f of this.forwarders) f.kill("SIGKILL");
    for (let i = 0; i < this.size; i++) deleteNs(this.ns(i));
    deleteNs(this.bridgeNs);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private socket(i: number, what: "client" | "metrics"): string {
    return join(this.dir, `n${i + 1}-${what}.sock`);
  }

  private async build(): Promise<void> {
    const sw = this.bridgeNs;
    await run("ip", ["netns", "add", sw]);
    await run("ip", ["-n", sw, "link", "add", "br0", "type", "bridge"]);
    await run("ip", ["-n", sw, "link", "set", "br0", "up"]);
    const tag = `cf${process.pid.toString(36)}${counter}`;
    for (let i = 0; i < this.size; i++) {
      const ns = this.ns(i);
      const veth = `${tag}n${i + 1}`;
      await run("ip", ["netns", "add", ns]);
      // Created inside the bridge namespace with its peer moved straight into the
      // member's: neither end ever exists in the root namespace.
      await run("ip", [
        "-n",
        sw,
        "link",
        "add",
        `${veth}b`,
        "type",
        "veth",
        "peer",
        "name",
        veth,
        "netns",
        ns,
      ]);
      await run("ip", ["-n", sw, "link", "set", `${veth}b`, "master", "br0", "up"]);
      await run("ip", ["-n", ns, "addr", "add", `${this.address(i)}/24`, "dev", veth]);
      await run("ip", ["-n", ns, "link", "set", veth, "up"]);
      await run("ip", ["-n", ns, "link", "set", "lo", "up"]);
      await run(
        "ip",
        ["netns", "exec", ns, "nft", "-f", "-"],
        [
          "add table inet cfj",
          "add chain inet cfj input { type filter hook input priority 0; policy accept; }",
          "add chain inet cfj output { type filter hook output priority 0; policy accept; }",
        ].join("\n"),
      );
      this.startForwarder(i);
    }
    await pollUntil(
      () =>
        Array.from({ length: this.size }, (_, i) => i).every(
          (i) => existsSync(this.socket(i, "client")) && existsSync(this.socket(i, "metrics")),
        )
          ? true
          : undefined,
      { timeoutMs: 10_000, what: "the netns forwarders' sockets" },
    );
  }

  private startForwarder(i: number): void {
    const child = spawn(
      "ip",
      [
        "netns",
        "exec",
        this.ns(i),
        process.execPath,
        "-e",
        FORWARDER,
        `${this.socket(i, "client")}=${CLIENT_PORT}`,
        `${this.socket(i, "metrics")}=${METRICS_PORT}`,
      ],
      { stdio: "ignore" },
    );
    if (child.pid !== undefined) trackProcess(child.pid, `netns forwarder ${this.ns(i)}`);
    this.forwarders.push(child);
  }

  /** Replaces the fault rules of every member namespace with `rules(i)`. */
  private async apply(rules: (i: number) => string[]): Promise<void> {
    await Promise.all(
      Array.from({ length: this.size }, (_, i) =>
        run(
          "ip",
          ["netns", "exec", this.ns(i), "nft", "-f", "-"],
          ["flush chain inet cfj input", "flush chain inet cfj output", ...rules(i)].join("\n"),
        ),
      ),
    );
  }
}

function dropBoth(addresses: string[]): string[] {
  if (addresses.length === 0) return [];
  const set = `{ ${addresses.join(", ")} }`;
  return [
    `add rule inet cfj input ip saddr ${set} drop`,
    `add rule inet cfj output ip daddr ${set} drop`,
  ];
}

/** Pipes each `socket=port` pair: unix socket → 127.0.0.1:port (in the namespace). */
const FORWARDER = `
const net = require("node:net");
const fs = require("node:fs");
for (const pair of process.argv.slice(1)) {
  const at = pair.lastIndexOf("=");
  const path = pair.slice(0, at);
  const port = Number(pair.slice(at + 1));
  fs.rmSync(path, { force: true });
  net.createServer((c) => {
    const u = net.connect(port, "127.0.0.1");
    c.pipe(u); u.pipe(c);
    const end = () => { c.destroy(); u.destroy(); };
    c.on("error", end); u.on("error", end); c.on("close", end); u.on("close", end);
  }).listen(path);
}
`;

function run(file: string, args: string[], input?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: [input === undefined ? "ignore" : "pipe", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${file} ${args.join(" ")} failed (${code}): ${stderr.trim()}`));
    });
    if (input !== undefined && child.stdin) {
      // A command that exits early must not crash us with EPIPE; its exit code reports it.
      child.stdin.on("error", () => {});
      child.stdin.end(input);
    }
  });
}

function deleteNs(name: string): void {
  try {
    execFileSync("ip", ["netns", "del", name], { stdio: "ignore" });
  } catch {
    // not there (never created, or already deleted)
  }
}

/** Deletes namespaces of this naming scheme whose creating process is gone. */
function deleteOrphans(): void {
  let names: string[];
  try {
    names = execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
      .split("\n")
      .map((line) => line.split(" ")[0]);
  } catch {
    return;
  }
  for (const name of names) {
    const match = NAME.exec(name);
    if (!match || Number(match[1]) === process.pid) continue;
    if (!alive(Number(match[1]))) deleteNs(name);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Names of namespaces this process created that still exist (for leak checks in tests). */
export function ownNamespaces(): string[] {
  const out = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
  return out
    .split("\n")
    .map((line) => line.split(" ")[0])
    .filter((name) => NAME.exec(name)?.[1] === String(process.pid));
}
