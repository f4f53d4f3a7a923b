/**
 * The load generator: C closed-loop clients multiplexed over N gRPC connections (each its
 * own TCP connection), issuing one request at a time each, for a fixed duration or a
 * fixed total, after a warm-up that is not measured.
 */
import { etcdserverpb } from "@chainfire/api";
import { Metadata, type ServiceError } from "@grpc/grpc-js";
import { EtcdGrpcClient } from "../../harness/index.js";
import { Histogram } from "./histogram.js";
import type { Operation, Workload } from "./workloads.js";

/** How long or how much to run. */
export interface LoadOptions {
  /** Measured seconds (ignored when `total` is set). */
  durationSec: number;
  /** Measured requests, instead of a duration. */
  total?: number;
  /** Unmeasured seconds first (connections, JIT, the servers' caches). */
  warmupSec: number;
  keySize: number;
  valueSize: number;
  /** Called about once a second with the requests completed in the last interval. */
  onProgress?: (progress: Progress) => void;
}

export interface Progress {
  phase: "warmup" | "measure";
  elapsedSec: number;
  opsPerSec: number;
  done: number;
  errors: number;
}

export interface LoadResult {
  workload: string;
  ops: number;
  errors: number;
  firstError?: string;
  seconds: number;
  opsPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** CPU seconds the load generator itself used while measuring (user + system). */
  loadGeneratorCpuSec: number;
}

/** A source of distinct 8-byte (or keySize-byte) big-endian keys, shared by a whole run. */
export class KeySequence {
  private next = 0n;
  constructor(readonly size: number) {}

  take(): Buffer {
    const key = Buffer.alloc(this.size);
    let n = this.next++;
    for (let i = this.size - 1; i >= 0 && n > 0n; i--) {
      key[i] = Number(n & 0xffn);
      n >>= 8n;
    }
    return key;
  }
}

/** The key the range workloads read (written once before they start). */
export const RANGE_KEY = Buffer.from("bench-range-key");

/** Runs `workload` against `endpoints` (connections placed per the workload). */
export async function runLoad(
  workload: Workload,
  endpoints: { all: string[]; leader: string },
  keys: KeySequence,
  options: LoadOptions,
): Promise<LoadResult> {
  const targets = workload.placement === "leader" ? [endpoints.leader] : endpoints.all;
  const connections = Array.from(
    { length: workload.connections },
    (_, i) =>
      new EtcdGrpcClient(targets[i % targets.length], { ownConnection: true, timeoutMs: 30_000 }),
  );
  const value = Buffer.alloc(options.valueSize, 0x61);
  const histogram = new Histogram();
  let phase: "warmup" | "measure" | "stop" = "warmup";
  let measuredDone = 0;
  let errors = 0;
  let firstError: string | undefined;
  let intervalDone = 0;
  let started = 0n;
  let ended = 0n;
  let cpuAtStart = process.cpuUsage();
  let cpuUsed = { user: 0, system: 0 };

  const request = requestFactory(workload.operation, keys, value);
  const total = options.total;
  const stopMeasuring = () => {
    if (phase !== "measure") return;
    phase = "stop";
    ended = process.hrtime.bigint();
    cpuUsed = process.cpuUsage(cpuAtStart);
  };

  let issued = 0; // measured requests started (for --total)
  const client = async (conn: EtcdGrpcClient) => {
    while (phase !== "stop") {
      const measuring = phase === "measure";
      if (measuring && total !== undefined) {
        if (issued >= total) break;
        issued++;
      }
      const t0 = performance.now();
      try {
        await request(conn);
        const micros = (performance.now() - t0) * 1000;
        // Only requests issued and completed inside the measured window count.
        if (measuring && phase === "measure") {
          histogram.record(micros);
          measuredDone++;
          if (total !== undefined && measuredDone >= total) stopMeasuring();
        }
        intervalDone++;
      } catch (error) {
        errors++;
        firstError ??= describe(error);
        // A target that fails nearly everything: give up rather than spin.
        if (errors > 1000 && errors > 10 * (measuredDone + 1)) stopMeasuring();
        if (phase === "warmup" && errors > 1000) phase = "stop";
      }
    }
  };

  const start = process.hrtime.bigint();
  const runners = Array.from({ length: workload.clients }, (_, i) =>
    client(connections[i % connections.length]),
  );
  const ticker = setInterval(() => {
    const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    options.onProgress?.({
      phase: phase === "warmup" ? "warmup" : "measure",
      elapsedSec: elapsed,
      opsPerSec: intervalDone,
      done: measuredDone,
      errors,
    });
    intervalDone = 0;
  }, 1000);
  const warmupTimer = setTimeout(() => {
    phase = "measure";
    started = process.hrtime.bigint();
    cpuAtStart = process.cpuUsage();
  }, options.warmupSec * 1000);
  const stopTimer =
    total === undefined
      ? setTimeout(stopMeasuring, (options.warmupSec + options.durationSec) * 1000)
      : undefined;

  try {
    await Promise.all(runners);
  } finally {
    clearInterval(ticker);
    clearTimeout(warmupTimer);
    clearTimeout(stopTimer);
    for (const conn of connections) conn.close();
  }
  if (ended === 0n) ended = process.hrtime.bigint();
  if (started === 0n) started = ended;
  const seconds = Number(ended - started) / 1e9;
  const ms = (micros: number) => Math.round(micros) / 1000;
  return {
    workload: workload.name,
    ops: measuredDone,
    errors,
    firstError,
    seconds,
    opsPerSec: seconds > 0 ? measuredDone / seconds : 0,
    latencyMs: {
      p50: ms(histogram.quantile(0.5)),
      p90: ms(histogram.quantile(0.9)),
      p99: ms(histogram.quantile(0.99)),
      max: ms(histogram.max),
      mean: ms(histogram.mean),
    },
    loadGeneratorCpuSec: (cpuUsed.user + cpuUsed.system) / 1e6,
  };
}

/** Writes the key the range workloads read. */
export async function prepareRange(endpoint: string, valueSize: number): Promise<void> {
  const client = new EtcdGrpcClient(endpoint);
  try {
    await client.put({ key: RANGE_KEY, value: Buffer.alloc(valueSize, 0x62) });
  } finally {
    client.close();
  }
}

type Request = (conn: EtcdGrpcClient) => Promise<void>;

function requestFactory(operation: Operation, keys: KeySequence, value: Buffer): Request {
  if (operation === "put") {
    return (conn) =>
      new Promise<void>((resolve, reject) => {
        // A complete message, so ts-proto's encoder needs no fromPartial per request.
        const message: etcdserverpb.PutRequest = {
          key: keys.take(),
          value,
          lease: 0n,
          prevKv: false,
          ignoreValue: false,
          ignoreLease: false,
        };
        conn.kv.put(message, new Metadata(), { deadline: Date.now() + 30_000 }, (error) =>
          error ? reject(error) : resolve(),
        );
      });
  }
  const message = etcdserverpb.RangeRequest.fromPartial({
    key: RANGE_KEY,
    serializable: operation === "range-serializable",
  });
  return (conn) =>
    new Promise<void>((resolve, reject) => {
      conn.kv.range(message, new Metadata(), { deadline: Date.now() + 30_000 }, (error) =>
        error ? reject(error) : resolve(),
      );
    });
}

function describe(error: unknown): string {
  const e = error as Partial<ServiceError>;
  return e.details ?? (error instanceof Error ? error.message : String(error));
}
