/**
 * In-process clusters for tests: N members on loopback with free ports, short timeouts,
 * silent logs (CHAINFIRE_TEST_LOG=debug to see them), a KV client per member.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { etcdserverpb } from "@chainfire/api";
import { credentials, Metadata } from "@grpc/grpc-js";
import { pino } from "pino";
import { allocatePorts } from "../../../../test/harness/ports.js";
import { Member, type MemberDeps } from "../member.js";
import { DEFAULT_MEMBER_OPTIONS, type MemberOptions } from "../member-options.js";

/**
 * A free TCP port on 127.0.0.1, from the test harness's per-worker window below Linux's
 * ephemeral range (an ephemeral port probed free can be taken by any outgoing connection
 * before the member binds it).
 */
export async function freePort(): Promise<number> {
  const [port] = await allocatePorts(1);
  return port!;
}

export interface TestClusterOptions {
  size?: number;
  heartbeatMs?: number;
  electionMs?: number;
  snapshotCount?: number;
  catchUpEntries?: number;
  token?: string;
  maxRequestBytes?: number;
  /** Extra member dependencies for every member (e.g. lessor tuning). */
  deps?: Partial<MemberDeps>;
  /** Option overrides for every member (e.g. auth tuning). */
  member?: Partial<MemberOptions>;
}

interface Slot {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  member: Member | undefined;
  client: etcdserverpb.KVClient | undefined;
}

export function testLogger(name: string) {
  const level = process.env.CHAINFIRE_TEST_LOG ?? "silent";
  return pino({ level, base: { name } }, pino.destination({ fd: 2, sync: true }));
}

export class TestCluster {
  readonly dir: string;
  readonly slots: Slot[] = [];
  readonly opts: Required<TestClusterOptions>;
  #seed = 1;

  private constructor(dir: string, opts: Required<TestClusterOptions>) {
    this.dir = dir;
    this.opts = opts;
  }

  static async start(o: TestClusterOptions = {}): Promise<TestCluster> {
    const opts: Required<TestClusterOptions> = {
      size: o.size ?? 3,
      heartbeatMs: o.heartbeatMs ?? 25,
      electionMs: o.electionMs ?? 250,
      snapshotCount: o.snapshotCount ?? 100_000,
      catchUpEntries: o.catchUpEntries ?? 5000,
      token: o.token ?? "test-token",
      maxRequestBytes: o.maxRequestBytes ?? DEFAULT_MEMBER_OPTIONS.maxRequestBytes,
      deps: o.deps ?? {},
      member: o.member ?? {},
    };
    // A port probed free can still be taken before a member binds it (by another test
    // run on this machine probing the same window): then start again on fresh ports.
    for (let attempt = 1; ; attempt++) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "chainfire-member-test-"));
      const c = new TestCluster(dir, opts);
      for (let i = 0; i < opts.size; i++) {
        c.slots.push({
          name: `n${i + 1}`,
          clientUrl: `http://127.0.0.1:${await freePort()}`,
          peerUrl: `http://127.0.0.1:${await freePort()}`,
          dataDir: path.join(dir, `n${i + 1}`),
          member: undefined,
          client: undefined,
        });
      }
      // allSettled: every member that did start is closed again on failure.
      const started = await Promise.allSettled(c.slots.map((_, i) => c.startMember(i)));
      const failed = started.find((r) => r.status === "rejected");
      if (!failed) return c;
      await c.close();
      const err: unknown = failed.reason;
      if (attempt >= 3 || !/address already in use/i.test(String(err))) throw err;
    }
  }

  options(i: number): MemberOptions {
    const s = this.slots[i];
    return {
      ...DEFAULT_MEMBER_OPTIONS,
      name: s.name,
      dataDir: s.dataDir,
      listenClientUrls: [s.clientUrl],
      advertiseClientUrls: [s.clientUrl],
      listenPeerUrls: [s.peerUrl],
      initialAdvertisePeerUrls: [s.peerUrl],
      initialCluster: new Map(this.slots.map((x) => [x.name, [x.peerUrl]])),
      initialClusterState: "new",
      initialClusterToken: this.opts.token,
      heartbeatIntervalMs: this.opts.heartbeatMs,
      electionTimeoutMs: this.opts.electionMs,
      snapshotCount: this.opts.snapshotCount,
      maxRequestBytes: this.opts.maxRequestBytes,
      logLevel: "silent",
      ...this.opts.member,
    };
  }

  deps(i: number): MemberDeps {
    return {
      logger: testLogger(this.slots[i].name),
      random: seeded(this.#seed++ * 7919 + i),
      snapshotCatchUpEntries: this.opts.catchUpEntries,
      requestTimeoutMs: 3_000,
      closeTimeoutMs: 2_000,
      ...this.opts.deps,
    };
  }

  async startMember(i: number, override: Partial<MemberOptions> = {}): Promise<Member> {
    const s = this.slots[i];
    if (s.member) throw new Error(`${s.name} is running`);
    s.member = await Member.start({ ...this.options(i), ...override }, this.deps(i));
    return s.member;
  }

  member(i: number): Member {
    const m = this.slots[i].member;
    if (!m) throw new Error(`${this.slots[i].name} is not running`);
    return m;
  }

  running(): number[] {
    return this.slots.flatMap((s, i) => (s.member ? [i] : []));
  }

  client(i: number): etcdserverpb.KVClient {
    const s = this.slots[i];
    s.client ??= new etcdserverpb.KVClient(
      s.clientUrl.replace("http://", ""),
      credentials.createInsecure(),
    );
    return s.client;
  }

  async stopMember(i: number): Promise<void> {
    const s = this.slots[i];
    s.client?.close();
    s.client = undefined;
    const m = s.member;
    s.member = undefined;
    await m?.close();
  }

  /** Waits until every running member agrees on one leader; returns its index. */
  async waitLeader(timeoutMs = 20_000): Promise<number> {
    return pollUntil(
      () => {
        const up = this.running();
        if (up.length === 0) return undefined;
        const leads = new Set(up.map((i) => this.member(i).leader()));
        if (leads.size !== 1) return undefined;
        const lead = [...leads][0];
        const li = up.find((i) => this.member(i).id === lead);
        return li !== undefined && this.member(li).isLeader() ? li : undefined;
      },
      timeoutMs,
      "a leader every running member agrees on",
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((_, i) => this.stopMember(i).catch(() => {})));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Polls `probe` every 10 ms until it returns a value other than undefined. */
export async function pollUntil<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Promisified unary KV calls with a deadline. */
export function kv(client: etcdserverpb.KVClient, timeoutMs = 5_000) {
  type Cb<Res> = (e: Error | null, r?: Res) => void;
  type Fn<Req, Res> = (req: Req, md: Metadata, opts: { deadline: number }, cb: Cb<Res>) => unknown;
  const call =
    <Req, Res>(fn: Fn<Req, Res>, t: { fromPartial(p: object): Req }) =>
    (req: object): Promise<Res> =>
      new Promise((resolve, reject) => {
        fn.call(
          client,
          t.fromPartial(req),
          new Metadata(),
          { deadline: Date.now() + timeoutMs },
          (e, r) => (e ? reject(e) : resolve(r as Res)),
        );
      });
  return {
    range: call<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>(
      client.range as never,
      etcdserverpb.RangeRequest,
    ),
    put: call<etcdserverpb.PutRequest, etcdserverpb.PutResponse>(
      client.put as never,
      etcdserverpb.PutRequest,
    ),
    deleteRange: call<etcdserverpb.DeleteRangeRequest, etcdserverpb.DeleteRangeResponse>(
      client.deleteRange as never,
      etcdserverpb.DeleteRangeRequest,
    ),
    txn: call<etcdserverpb.TxnRequest, etcdserverpb.TxnResponse>(
      client.txn as never,
      etcdserverpb.TxnRequest,
    ),
    compact: call<etcdserverpb.CompactionRequest, etcdserverpb.CompactionResponse>(
      client.compact as never,
      etcdserverpb.CompactionRequest,
    ),
  };
}
