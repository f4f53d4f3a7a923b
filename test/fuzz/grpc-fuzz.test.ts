/**
 * Fuzzing the gRPC surface of a live Chainfire member (a real process): every method of
 * KV, Watch, Lease, Cluster, Maintenance and Auth gets malformed frames over raw HTTP/2,
 * then structurally valid but hostile requests, then abusive watch streams. After every
 * batch: the member answers a normal request, no answer was a hang or a non-status, its
 * log has no fatal line; malformed input must not have changed the revision or HashKV;
 * RSS before and after is printed and checked against a generous bound.
 *
 * Seeded: the seed is printed; rerun one with FUZZ_SEED=<n>. FUZZ_ITERATIONS (default
 * 4) scales every batch; `npm run fuzz` runs 40.
 */
import { etcdserverpb } from "@chainfire/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bytes, type EtcdGrpcClient } from "../harness/index.js";
import { useCluster } from "../harness/vitest.js";
import { fatalLines, judge, mib, revisionAndHash, Tally } from "./check.js";
import {
  allMethods,
  type Method,
  malformedRequest,
  mustChangeNothing,
  peerMethods,
} from "./frames.js";
import { hostileRequest } from "./hostile.js";
import { fuzzSeed, Rng } from "./random.js";
import { grpcFrame, RawGrpcConnection } from "./raw-grpc.js";

const SEED = fuzzSeed();
const ITERATIONS = Math.max(1, Number(process.env.FUZZ_ITERATIONS ?? 4));
/** The fuzzed member's limits (small, so the suite reaches them). */
const MAX_TXN_OPS = 64;
const MAX_STREAMS = 64;
const MAX_RESPONSE_BYTES = 2 * 1024 * 1024;
/** A unary call that has not ended after this long hangs (generous: 2 shared cores). */
const CALL_DEADLINE_MS = 20_000;
/** How long a bidi stream (Watch, LeaseKeepAlive) is watched before it is cancelled. */
const STREAM_WATCH_MS = 300;
/** In-flight calls per batch (below MAX_STREAMS). */
const PARALLEL = 16;
/** RSS may grow by at most this much over the whole run (measured growth is printed). */
// Large keys and values stay in RocksDB's memtables and caches, and long runs write more.
const RSS_GROWTH_BOUND = (400 + 8 * ITERATIONS) * 1024 * 1024;

/** Per-test timeout: batches scale with ITERATIONS (about 1-3 s each here). */
const TEST_TIMEOUT_MS = 60_000 + ITERATIONS * 15_000;
const WATCH = "/etcdserverpb.Watch/Watch";
/** Read after every batch; sorts before every key a hostile write can touch ("fz/..."). */
const PROBE_KEY = "a-probe";

/** Runs `jobs` with at most PARALLEL in flight. */
async function inParallel(jobs: (() => Promise<void>)[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) await jobs[next++]!();
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
}

describe(`gRPC fuzz (seed ${SEED}, ${ITERATIONS} iterations)`, () => {
  const cluster = useCluster({
    kind: "chainfire",
    size: 1,
    extraArgs: [
      `--max-txn-ops=${MAX_TXN_OPS}`,
      `--max-concurrent-streams=${MAX_STREAMS}`,
      `--max-response-bytes=${MAX_RESPONSE_BYTES}`,
    ],
  });
  const methods = allMethods();
  const rng = new Rng(SEED);
  let conn: RawGrpcConnection;
  let client: EtcdGrpcClient;
  let rssBefore: number | undefined;
  let leaseId = 0n;

  const member = () => cluster().members[0]!;
  const address = () => cluster().endpoints[0]!.replace(/^https?:\/\//, "");
  /** A fresh connection when the member closed ours (it may, on protocol errors). */
  const connection = () => {
    if (!conn.usable) {
      conn.close();
      conn = RawGrpcConnection.open(address());
    }
    return conn;
  };
  const send = (m: Method, chunks: Buffer[], headers?: Record<string, string>) =>
    connection().call(m.path, chunks, {
      timeoutMs: m.requestStream && m.responseStream ? STREAM_WATCH_MS : CALL_DEADLINE_MS,
      headers,
      maxCollectBytes: 1 << 20,
    });
  /** The member is alive and serves a normal request; nothing was logged at fatal. */
  const expectHealthy = async (batch: string) => {
    expect(member().state, `${batch}: member state`).toBe("running");
    const res = await client.range({ key: bytes(PROBE_KEY) }, 30_000);
    expect(res.kvs.length, `${batch}: a normal read`).toBe(1);
    expect(fatalLines(member()), `${batch}: fatal log lines`).toEqual([]);
  };
  const report = (batch: string, tally: Tally) => {
    process.stdout.write(
      `fuzz ${batch}: ${tally.describe()}; rss ${mib(member().rssBytes())} MiB\n`,
    );
    expect(tally.problems, `${batch} (seed ${SEED})`).toEqual([]);
  };

  beforeAll(async () => {
    process.stdout.write(
      `gRPC fuzz: seed ${SEED} (FUZZ_SEED), iterations ${ITERATIONS} (FUZZ_ITERATIONS)\n`,
    );
    client = cluster().client(0);
    await client.put({ key: bytes(PROBE_KEY), value: bytes("alive") });
    conn = RawGrpcConnection.open(address());
    for (let i = 0; i < 40; i++) {
      await client.put({ key: bytes(`fz/seed/${i}`), value: Buffer.alloc(100 * i, 0x73) });
    }
    // Enough data that a range of everything passes MAX_RESPONSE_BYTES.
    for (let i = 0; i < 3; i++) {
      await client.put({ key: bytes(`fz/big/${i}`), value: Buffer.alloc(1_000_000, 0x62) });
    }
    await client.compact({ revision: 10n });
    const grant = await connection().call(
      "/etcdserverpb.Lease/LeaseGrant",
      [
        grpcFrame(
          Buffer.from(etcdserverpb.LeaseGrantRequest.encode({ TTL: 600n, ID: 0n }).finish()),
        ),
      ],
      { timeoutMs: 30_000 },
    );
    if (grant.kind !== "status" || grant.code !== 0) throw new Error("LeaseGrant failed");
    leaseId = etcdserverpb.LeaseGrantResponse.decode(grant.messages[0]!).ID;
    rssBefore = member().rssBytes();
  });

  afterAll(() => {
    conn?.close();
  });

  it(
    "malformed frames to every method: proper statuses, nothing changes",
    async () => {
      const before = await revisionAndHash(connection());
      let skipped = 0;
      for (let round = 0; round < ITERATIONS; round++) {
        const tally = new Tally();
        const jobs: (() => Promise<void>)[] = [];
        for (const m of methods) {
          for (let i = 0; i < 6; i++) {
            const req = malformedRequest(rng);
            if (!mustChangeNothing(m, req, MAX_TXN_OPS)) {
              skipped++;
              continue;
            }
            jobs.push(async () =>
              judge(m, req.kind, await send(m, req.chunks, req.headers), tally),
            );
          }
        }
        await inParallel(jobs);
        report(`malformed round ${round + 1}`, tally);
        await expectHealthy(`malformed round ${round + 1}`);
      }
      const after = await revisionAndHash(connection());
      process.stdout.write(
        `fuzz malformed: ${skipped} frames skipped (they decode to valid writes); revision ${after.revision}, hash ${after.hash}\n`,
      );
      expect(after).toEqual(before);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "hostile but well-formed requests: valid answers or proper statuses",
    async () => {
      const byPath = new Map(methods.map((m) => [m.path, m]));
      for (let round = 0; round < ITERATIONS; round++) {
        const tally = new Tally();
        const jobs = Array.from({ length: 40 }, () => {
          const req = hostileRequest(rng);
          const m = byPath.get(req.path)!;
          return async () => judge(m, req.kind, await send(m, req.chunks), tally);
        });
        await inParallel(jobs);
        report(`hostile round ${round + 1}`, tally);
        await expectHealthy(`hostile round ${round + 1}`);
      }
      // Nothing above may have added a member (bad URLs) or removed this one.
      expect((await client.memberList()).members.length).toBe(1);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "watch streams: many watches, rapid create/cancel, abandoned streams",
    async () => {
      const watch = methods.find((m) => m.path === WATCH)!;
      const tally = new Tally();
      const create = (key: Buffer, startRevision: bigint, watchId = 0n) =>
        grpcFrame(
          Buffer.from(
            etcdserverpb.WatchRequest.encode({
              requestUnion: {
                $case: "createRequest",
                value: etcdserverpb.WatchCreateRequest.fromPartial({
                  key,
                  rangeEnd: rng.int(2) === 0 ? Buffer.from([0]) : Buffer.alloc(0),
                  startRevision,
                  watchId,
                  prevKv: rng.int(2) === 0,
                  fragment: rng.int(2) === 0,
                  filters: rng.int(3) === 0 ? [rng.int(4) - 1] : [],
                }),
              },
            }).finish(),
          ),
        );
      const cancel = (watchId: bigint) =>
        grpcFrame(
          Buffer.from(
            etcdserverpb.WatchRequest.encode({
              requestUnion: { $case: "cancelRequest", value: { watchId } },
            }).finish(),
          ),
        );
      for (let round = 0; round < ITERATIONS; round++) {
        // Many watches on one stream, with edge start revisions and ids.
        const many = Array.from({ length: 500 }, () =>
          create(
            bytes(`fz/${rng.int(50)}`),
            rng.edgeInt64(),
            rng.int(4) === 0 ? rng.edgeInt64() : 0n,
          ),
        );
        judge(watch, "many watches", await send(watch, many), tally);
        // Watches on huge keys (each create near the 2 MiB message limit), on one stream:
        // refused once the stream's watched keys pass 16 MiB.
        const huge = Array.from({ length: 20 }, (_, i) =>
          create(Buffer.alloc(1_500_000, 0x41 + i), 0n),
        );
        judge(watch, "huge keys", await send(watch, huge), tally);
        // Rapid create/cancel of the same ids.
        const churn: Buffer[] = [];
        for (let i = 0; i < 300; i++) {
          churn.push(create(bytes("fz/seed/1"), 0n, BigInt(i % 7)), cancel(BigInt(i % 7)));
        }
        judge(watch, "create/cancel", await send(watch, churn), tally);
        // A keep-alive flood on one stream, for leases that exist and ids that do not.
        const keepAlive = methods.find((m) => m.path === "/etcdserverpb.Lease/LeaseKeepAlive")!;
        const kas = Array.from({ length: 2000 }, () =>
          grpcFrame(
            Buffer.from(
              etcdserverpb.LeaseKeepAliveRequest.encode({
                ID: rng.int(2) === 0 ? leaseId : rng.edgeInt64(),
              }).finish(),
            ),
          ),
        );
        judge(keepAlive, "keep-alive flood", await send(keepAlive, kas), tally);
        // Streams opened and abandoned: a partial frame, never finished, on a connection
        // that is then dropped.
        const c = RawGrpcConnection.open(address());
        for (let i = 0; i < MAX_STREAMS * 2; i++) {
          const m = rng.pick(methods);
          const frame = grpcFrame(rng.bytes(rng.int(40)));
          c.abandon(m.path, [frame.subarray(0, 1 + rng.int(frame.length))]);
        }
        c.abandon(WATCH, many.slice(0, 50));
        // A keep-alive stream that never reads its answers (the member must stop reading,
        // not buffer answers without bound), and a progress-request flood likewise.
        const ka = grpcFrame(
          Buffer.from(etcdserverpb.LeaseKeepAliveRequest.encode({ ID: leaseId }).finish()),
        );
        c.abandon("/etcdserverpb.Lease/LeaseKeepAlive", [Buffer.concat(Array(100_000).fill(ka))], {
          read: false,
        });
        const progress = grpcFrame(
          Buffer.from(
            etcdserverpb.WatchRequest.encode({
              requestUnion: { $case: "progressRequest", value: {} },
            }).finish(),
          ),
        );
        c.abandon(WATCH, [many[0]!, Buffer.concat(Array(100_000).fill(progress))], { read: false });
        await new Promise<void>((resolve) => c.session.ping(() => resolve()));
        c.close();
        report(`watch round ${round + 1}`, tally);
        await expectHealthy(`watch round ${round + 1}`);
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "malformed frames to the peer port: proper statuses, nothing changes",
    async () => {
      const peerAddress = new URL(cluster().members[0]!.config.initialCluster.split("=")[1]!).host;
      let peer = RawGrpcConnection.open(peerAddress);
      const before = await revisionAndHash(connection());
      try {
        for (let round = 0; round < ITERATIONS; round++) {
          const tally = new Tally();
          for (const m of peerMethods()) {
            for (let i = 0; i < 10; i++) {
              const req = malformedRequest(rng);
              if (!mustChangeNothing(m, req, MAX_TXN_OPS)) continue;
              if (!peer.usable) {
                peer.close();
                peer = RawGrpcConnection.open(peerAddress);
              }
              const o = await peer.call(m.path, req.chunks, {
                timeoutMs: m.requestStream ? STREAM_WATCH_MS : CALL_DEADLINE_MS,
                headers: req.headers,
              });
              judge(
                { ...m, requestStream: m.requestStream, responseStream: m.requestStream },
                req.kind,
                o,
                tally,
              );
            }
          }
          report(`peer round ${round + 1}`, tally);
          await expectHealthy(`peer round ${round + 1}`);
        }
      } finally {
        peer.close();
      }
      expect(await revisionAndHash(connection())).toEqual(before);
    },
    TEST_TIMEOUT_MS,
  );

  it("memory stays bounded", async () => {
    const after = member().rssBytes();
    process.stdout.write(
      `fuzz rss: before ${mib(rssBefore)} MiB, after ${mib(after)} MiB (bound: +${mib(RSS_GROWTH_BOUND)} MiB)\n`,
    );
    expect(after).toBeDefined();
    expect(after! - rssBefore!).toBeLessThan(RSS_GROWTH_BOUND);
  });
});
