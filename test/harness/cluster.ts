/**
 * A cluster of real member processes on loopback: N etcd or N Chainfire members, each
 * with its own ports and data dir under one temp dir, started with etcd's flag names.
 *
 * ```ts
 * const cluster = await Cluster.start({ kind: "etcd", size: 3 });
 * await cluster.client(0).put({ key: bytes("k"), value: bytes("v") });
 * await cluster.kill(await cluster.waitForLeader());   // SIGKILL the leader
 * await cluster.waitForLeader();                      // the others elect a new one
 * await cluster.restart(0);                           // same data dir, same ports
 * await cluster.close();                              // every process ended, dir removed
 * ```
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ChannelCredentials, credentials } from "@grpc/grpc-js";
import { computeMemberId } from "../../packages/server/src/ids.js";
import { forgetDir, trackDir } from "./cleanup.js";
import { EtcdGrpcClient } from "./grpc-client.js";
import {
  CHAINFIRE_MAIN,
  ExitedError,
  kindAvailable,
  Member,
  type MemberConfig,
  type MemberKind,
} from "./member.js";
import { allocatePorts } from "./ports.js";
import { describeError, pollUntil } from "./wait.js";

/** Options of {@link Cluster.start}. */
export interface ClusterOptions {
  kind: MemberKind;
  /** Number of members (default 3). */
  size?: number;
  /** --heartbeat-interval in ms (default 100, etcd's default). */
  heartbeatMs?: number;
  /** --election-timeout in ms (default 1000, etcd's default). */
  electionMs?: number;
  /** --snapshot-count (default: the member's own default). */
  snapshotCount?: number;
  /** Extra flags for every member. */
  extraArgs?: string[];
  /** Node flags for Chainfire members (e.g. ["--cpu-prof"]). */
  nodeArgs?: string[];
  /** Environment changes for every member (see {@link MemberConfig.env}). */
  env?: Record<string, string | undefined>;
  /** How long to wait for every member to report healthy (default 30 s). */
  readyTimeoutMs?: number;
  /** Keep the temp dir (logs, data) after close; also env CHAINFIRE_TEST_KEEP=1. */
  keepDir?: boolean;
  /**
   * Where each member runs, instead of 127.0.0.1 with probed ports: its own address and
   * ports, a command prefix, how the harness reaches it (fault tests: netns.ts).
   */
  placement?: (index: number) => MemberPlacement;
  /**
   * TLS on client and peer URLs (https://), with certificates made by
   * deploy/tls/gen-dev-certs.sh for the member names (n1, n2, ...) in `certDir`: each
   * member requires client certificates from ca.pem on both ports; the harness's
   * clients use client.pem.
   */
  tls?: { certDir: string };
}

/** {@link ClusterOptions.placement} of one member. */
export type MemberPlacement = Pick<MemberConfig, "clientPort" | "peerPort" | "metricsPort"> &
  Pick<
    MemberConfig,
    | "host"
    | "metricsHost"
    | "extraListenClientUrls"
    | "commandPrefix"
    | "dialClientUrl"
    | "healthSocket"
    | "advertisePeerPort"
  >;

/** Options of {@link Cluster.restart}. */
export interface RestartOptions {
  /** Wait until the member reports healthy (default true; needs a quorum). */
  waitReady?: boolean;
  timeoutMs?: number;
}

/** Signals {@link Cluster.kill} can send. */
export type KillSignal = "SIGKILL" | "SIGTERM";

const START_ATTEMPTS = 3;
/** Clusters spawned by this process (part of each cluster token). */
let startSeq = 0;

export class Cluster {
  private readonly clients = new Map<number, EtcdGrpcClient>();
  private closed = false;

  private constructor(
    readonly kind: MemberKind,
    readonly dir: string,
    readonly members: readonly Member[],
    private readonly keepDir: boolean,
    private readonly certDir?: string,
  ) {}

  /**
   * Starts the members and waits until each reports healthy (GET /health on its metrics
   * URL: it has a leader and serves requests), then reads each member's id. Retries with
   * fresh ports when a member loses a port race.
   */
  static async start(options: ClusterOptions): Promise<Cluster> {
    if (!kindAvailable(options.kind)) {
      throw new Error(`cannot start ${options.kind}: ${CHAINFIRE_MAIN} is missing (npx tsc -b)`);
    }
    let lastError: unknown;
    for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
      const cluster = await Cluster.spawn(options);
      try {
        await cluster.waitAllHealthy(options.readyTimeoutMs ?? 30_000);
        await cluster.readIds();
        return cluster;
      } catch (error) {
        lastError = error;
        // Also a member that died of it while another process answered in its place.
        const portRace =
          (error instanceof ExitedError && /address already in use/i.test(error.logTail)) ||
          error instanceof ForeignMemberError ||
          cluster.members.some(
            (m) => m.state === "exited" && /address already in use/i.test(m.logTail(30)),
          );
        if (!portRace || attempt === START_ATTEMPTS) {
          process.stderr.write(cluster.logTails());
          await cluster.close();
          throw error;
        }
        await cluster.close();
      }
    }
    throw lastError;
  }

  private static async spawn(options: ClusterOptions): Promise<Cluster> {
    const size = options.size ?? 3;
    const place =
      options.placement ??
      (await (async () => {
        const ports = await allocatePorts(size * 3);
        return (i: number): MemberPlacement => ({
          clientPort: ports[i * 3],
          peerPort: ports[i * 3 + 1],
          metricsPort: ports[i * 3 + 2],
        });
      })());
    const placements = Array.from({ length: size }, (_, i) => place(i));
    const dir = mkdtempSync(join(tmpdir(), `chainfire-test-${options.kind}-`));
    trackDir(dir);
    const names = Array.from({ length: size }, (_, i) => `n${i + 1}`);
    const scheme = options.tls ? "https" : "http";
    const peerUrl = (i: number) =>
      `${scheme}://${placements[i].host ?? "127.0.0.1"}:${placements[i].advertisePeerPort ?? placements[i].peerPort}`;
    const initialCluster = names.map((name, i) => `${name}=${peerUrl(i)}`).join(",");
    // Unique per start (pid, sequence): member ids derive from it, and readIds tells our
    // members from another start's by them.
    const token = `chainfire-test-${process.pid}-${placements[0].clientPort}-${++startSeq}`;
    const members = names.map((name, i) => {
      const memberDir = join(dir, name);
      mkdirSync(memberDir, { recursive: true });
      return new Member(i, {
        kind: options.kind,
        name,
        dataDir: join(memberDir, "data"),
        logFile: join(dir, `${name}.log`),
        ...placements[i],
        initialCluster,
        initialClusterState: "new",
        initialClusterToken: token,
        heartbeatMs: options.heartbeatMs ?? 100,
        electionMs: options.electionMs ?? 1000,
        snapshotCount: options.snapshotCount,
        extraArgs: [...tlsArgs(options.tls?.certDir, name), ...(options.extraArgs ?? [])],
        nodeArgs: options.nodeArgs ?? [],
        scheme,
        env: options.env,
      });
    });
    const keep = options.keepDir ?? process.env.CHAINFIRE_TEST_KEEP === "1";
    const cluster = new Cluster(options.kind, dir, members, keep, options.tls?.certDir);
    for (const member of members) member.start();
    return cluster;
  }

  /** Number of members. */
  get size(): number {
    return this.members.length;
  }

  /** Client URLs (`http://127.0.0.1:port`), in member order. */
  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  /** Member names (n1, n2, ...), in member order. */
  get names(): string[] {
    return this.members.map((m) => m.name);
  }

  /** Member ids as reported by Status, in member order. */
  get ids(): bigint[] {
    return this.members.map((m) => {
      if (m.id === undefined) throw new Error(`${m.name} has not reported its id`);
      return m.id;
    });
  }

  member(i: number): Member {
    const member = this.members[i];
    if (!member) throw new Error(`no member ${i} (size ${this.size})`);
    return member;
  }

  /** A gRPC client of member `i` (one per member, shared, closed by {@link close}). */
  client(i: number): EtcdGrpcClient {
    let client = this.clients.get(i);
    if (!client) {
      // Reconnect fast: grpc-js's backoff grows to minutes, and a member being restarted
      // refuses connections for a while; waitForLeader would then wait on the backoff.
      client = new EtcdGrpcClient(this.member(i).clientUrl, {
        ...(this.certDir ? { credentials: clientCredentials(this.certDir) } : {}),
        channelOptions: {
          "grpc.initial_reconnect_backoff_ms": 100,
          "grpc.min_reconnect_backoff_ms": 100,
          "grpc.max_reconnect_backoff_ms": 1000,
        },
      });
      this.clients.set(i, client);
    }
    return client;
  }

  /** Sends `signal` to member `i` and waits until its process has exited. */
  async kill(i: number, signal: KillSignal = "SIGKILL", timeoutMs = 15_000): Promise<void> {
    const member = this.member(i);
    if (member.state === "stopped") member.signal("SIGCONT");
    member.signal(signal);
    await member.waitExit(timeoutMs);
    this.dropClient(i);
  }

  /** SIGSTOP: the member freezes (its sockets stay open, it answers nothing). */
  stop(i: number): void {
    this.member(i).signal("SIGSTOP");
  }

  /** SIGCONT: a stopped member resumes. */
  cont(i: number): void {
    this.member(i).signal("SIGCONT");
  }

  /** Starts member `i` again with the same flags, ports and data dir. */
  async restart(i: number, options: RestartOptions = {}): Promise<void> {
    const member = this.member(i);
    if (member.state !== "exited")
      throw new Error(`${member.name} is still running; kill it first`);
    member.start();
    if (!(options.waitReady ?? true)) return;
    await member.waitHealthy(options.timeoutMs ?? 30_000);
    // Still our member behind the port (see readIds)?
    const status = await pollUntil(() => this.client(i).status(1000), {
      timeoutMs: 10_000,
      what: `Status of ${member.name}`,
    });
    const id = status.header?.memberId;
    if (member.id !== undefined && id !== member.id) {
      throw new ForeignMemberError(member.name, member.clientUrl, id, member.id);
    }
  }

  /** Waits until member `i` reports healthy. */
  waitHealthy(i: number, timeoutMs = 30_000): Promise<void> {
    return this.member(i).waitHealthy(timeoutMs);
  }

  /**
   * The index of the member that reports itself as leader (Maintenance.Status on every
   * running member); if two do (a deposed leader that has not noticed), the one with the
   * higher term. Undefined when no running member claims leadership.
   */
  async leader(timeoutMs = 1000): Promise<number | undefined> {
    const statuses = await this.statuses(timeoutMs);
    let best: { index: number; term: bigint } | undefined;
    for (const { index, status } of statuses) {
      const self = status.header?.memberId;
      if (status.leader === 0n || status.leader !== self) continue;
      if (!best || status.raftTerm > best.term) best = { index, term: status.raftTerm };
    }
    return best?.index;
  }

  /**
   * Waits until a running member is leader and every running member that answers
   * agrees on it; returns its index.
   */
  async waitForLeader(timeoutMs = 20_000): Promise<number> {
    return pollUntil(
      async () => {
        const statuses = await this.statuses(1000);
        const running = this.members.filter((m) => m.state === "running").length;
        if (statuses.length < running) return undefined;
        const leaderId = statuses[0]?.status.leader;
        if (!leaderId || statuses.some((s) => s.status.leader !== leaderId)) return undefined;
        const index = this.members.findIndex((m) => m.id === leaderId);
        return index >= 0 && this.members[index].state === "running" ? index : undefined;
      },
      { timeoutMs, intervalMs: 50, what: `a leader of the ${this.kind} cluster` },
    );
  }

  /** Resident memory (VmRSS bytes) of each member, undefined for exited ones. */
  rss(): (number | undefined)[] {
    return this.members.map((m) => m.rssBytes());
  }

  /** The tail of every member's log, formatted for printing after a failure. */
  logTails(lines = 40): string {
    return this.members
      .map((m) => `----- ${this.kind} ${m.name} (${m.config.logFile}) -----\n${m.logTail(lines)}\n`)
      .join("");
  }

  /** SIGKILLs every member, closes clients, removes the temp dir. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const i of this.clients.keys()) this.dropClient(i);
    // The data is thrown away, so there is nothing to shut down gracefully; graceful
    // shutdown is tested explicitly with kill(i, "SIGTERM").
    const errors: unknown[] = [];
    await Promise.all(
      this.members.map((m) => m.kill().catch((error: unknown) => errors.push(error))),
    );
    if (this.keepDir) {
      process.stderr.write(`[harness] kept ${this.dir}\n`);
    } else {
      rmSync(this.dir, { recursive: true, force: true });
    }
    forgetDir(this.dir);
    if (errors.length > 0) {
      throw new Error(`closing the cluster: ${errors.map(describeError).join("; ")}`);
    }
  }

  private dropClient(i: number): void {
    this.clients.get(i)?.close();
    this.clients.delete(i);
  }

  private async waitAllHealthy(timeoutMs: number): Promise<void> {
    await Promise.all(this.members.map((m) => m.waitHealthy(timeoutMs)));
  }

  /**
   * Reads each member's id from Status and checks that it is the id our member computes
   * (etcd's derivation from its peer URL and our cluster token, which holds our pid): a
   * process of another test run that holds the same port (another vitest on this machine
   * probing the same port window) answers /health and Status as well, while our member
   * dies with "address already in use"; the tests would then use a cluster that vanishes
   * under them.
   */
  private async readIds(): Promise<void> {
    await Promise.all(
      this.members.map(async (m, i) => {
        const status = await pollUntil(() => this.client(i).status(1000), {
          timeoutMs: 10_000,
          what: `Status of ${m.name}`,
        });
        const id = status.header?.memberId;
        const ours = computeMemberId([m.advertisePeerUrl], m.config.initialClusterToken);
        if (id !== ours) throw new ForeignMemberError(m.name, m.clientUrl, id, ours);
        m.id = id;
      }),
    );
  }

  private async statuses(timeoutMs: number) {
    const answers = await Promise.all(
      this.members.map(async (m, index) => {
        if (m.state !== "running") return undefined;
        try {
          return { index, status: await this.client(index).status(timeoutMs) };
        } catch {
          return undefined;
        }
      }),
    );
    return answers.filter((a) => a !== undefined);
  }
}

/** A member's client port answered with another member's id (see readIds). */
export class ForeignMemberError extends Error {
  constructor(name: string, url: string, got: bigint | undefined, expected: bigint) {
    super(
      `${url} (${name}) answers as member ${got?.toString(16)}, not ours (${expected.toString(16)}): another process holds the port`,
    );
  }
}

/** The TLS flags of member `name` with certificates from gen-dev-certs.sh in `dir`. */
export function tlsArgs(dir: string | undefined, name: string): string[] {
  if (dir === undefined) return [];
  const f = (file: string) => join(dir, file);
  return [
    `--cert-file=${f(`${name}.pem`)}`,
    `--key-file=${f(`${name}-key.pem`)}`,
    `--trusted-ca-file=${f("ca.pem")}`,
    "--client-cert-auth",
    `--peer-cert-file=${f(`${name}.pem`)}`,
    `--peer-key-file=${f(`${name}-key.pem`)}`,
    `--peer-trusted-ca-file=${f("ca.pem")}`,
    "--peer-client-cert-auth",
  ];
}

/** gRPC credentials of the client certificate (client.pem) made by gen-dev-certs.sh. */
export function clientCredentials(dir: string): ChannelCredentials {
  const f = (file: string) => readFileSync(join(dir, file));
  return credentials.createSsl(f("ca.pem"), f("client-key.pem"), f("client.pem"));
}
