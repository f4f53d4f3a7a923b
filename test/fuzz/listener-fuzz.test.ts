/**
 * The client port below gRPC: the member's own listener reads each connection's first
 * frames (and, for old etcdctl clients, every header block) before Node's HTTP/2 server
 * does (packages/server/src/client-listener.ts). This sends it raw TCP: broken prefaces,
 * frames with padding or priority longer than the frame, HPACK garbage, CONTINUATION
 * floods, 16 MiB frame headers, random frames, each on a fresh connection, both before
 * and after a request that puts the connection into the repairing path. Then the HTTP
 * port (/health, /metrics, ...) with odd request targets and methods. The member must
 * keep serving and log nothing at fatal.
 *
 * Seeded like grpc-fuzz.test.ts (FUZZ_SEED, FUZZ_ITERATIONS).
 */
import net from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import { bytes, type EtcdGrpcClient } from "../harness/index.js";
import { useCluster } from "../harness/vitest.js";
import { fatalLines } from "./check.js";
import { fuzzSeed, Rng } from "./random.js";

const SEED = fuzzSeed();
const ITERATIONS = Math.max(1, Number(process.env.FUZZ_ITERATIONS ?? 4));
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const SETTINGS = frame(4, 0, 0, Buffer.alloc(0));
const SETTINGS_ACK = frame(4, 1, 0, Buffer.alloc(0));
const [HEADERS, CONTINUATION, PING] = [1, 9, 6];
const [END_STREAM, END_HEADERS, PADDED, PRIORITY] = [0x1, 0x4, 0x8, 0x20];
/** How long one connection may take to be answered or closed. */
const CONNECTION_DEADLINE_MS = 5_000;

function frame(type: number, flags: number, stream: number, payload: Buffer, length?: number) {
  const h = Buffer.alloc(9);
  h.writeUIntBE(length ?? payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

/** An HPACK literal without indexing, name by static index (or a new name). */
function literal(nameIndex: number, value: string, name?: string): Buffer {
  const v = Buffer.from(value, "latin1");
  const n = name === undefined ? [] : [name.length, ...Buffer.from(name, "latin1")];
  const idx = nameIndex < 15 ? [nameIndex] : [15, nameIndex - 15];
  return Buffer.from([...idx, ...n, v.length, ...v]);
}

/** A gRPC request's header block whose :authority Node rejects (etcdctl 3.4 sends such). */
function repairingBlock(path: string): Buffer {
  return Buffer.concat([
    Buffer.from([0x83, 0x86]), // :method POST, :scheme http
    literal(4, path),
    literal(1, "http://127.0.0.1:2379"), // "/" is not allowed in :authority
    literal(31, "application/grpc"),
    literal(0, "trailers", "te"),
  ]);
}

/** How a connection ended up: see {@link exchange}. */
type Outcome = "answered" | "goaway" | "closed" | "waiting";

/**
 * Opens a connection, writes `chunks`, then a PING, and reads the member's frames until
 * it answers the PING, sends GOAWAY (Node keeps the socket open after a protocol error
 * until the client closes it) or closes the connection. "waiting" after the deadline: the
 * member still waits for bytes (a frame whose declared length was never sent in full).
 */
function exchange(port: number, chunks: Buffer[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    const marker = Buffer.from("fuzzping");
    let buf = Buffer.alloc(0);
    let settled = false;
    const done = (how: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      resolve(how);
    };
    const timer = setTimeout(() => done("waiting"), CONNECTION_DEADLINE_MS);
    s.on("error", () => done("closed"));
    s.on("close", () => done("closed"));
    s.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const [type, flags] = [buf[3]!, buf[4]!];
        const payload = buf.subarray(9, 9 + len);
        buf = buf.subarray(9 + len);
        if (type === 7) return done("goaway");
        if (type === PING && flags & 1 && payload.equals(marker)) return done("answered");
      }
    });
    s.on("connect", () => {
      for (const c of chunks) s.write(c);
      s.write(frame(PING, 0, 0, marker));
    });
  });
}

/** One random frame: any type, flags, stream; a payload whose declared length may lie. */
function randomFrame(rng: Rng): Buffer {
  const payload = rng.bytes(rng.int(80));
  const length = rng.int(6) === 0 ? rng.pick([0, 5, 100, 16_385, 0xffffff]) : undefined;
  const type = rng.int(6) === 0 ? rng.int(256) : rng.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  return frame(type, rng.int(256), rng.pick([0, 1, 3, 2 ** 31 - 1, rng.int(100)]), payload, length);
}

describe(`client listener fuzz (seed ${SEED}, ${ITERATIONS} iterations)`, () => {
  const cluster = useCluster({ kind: "chainfire", size: 1 });
  let client: EtcdGrpcClient;
  let port: number;
  const expectHealthy = async (what: string) => {
    const m = cluster().members[0]!;
    expect(m.state, `${what}: member state`).toBe("running");
    expect((await client.range({ key: bytes("probe") }, 30_000)).kvs.length, what).toBe(1);
    expect(fatalLines(m), `${what}: fatal log lines`).toEqual([]);
  };

  beforeAll(async () => {
    process.stdout.write(`client listener fuzz: seed ${SEED}, iterations ${ITERATIONS}\n`);
    client = cluster().client(0);
    await client.put({ key: bytes("probe"), value: bytes("alive") });
    port = Number(new URL(cluster().endpoints[0]!).port);
  });

  it("frames longer or shorter than their padding and priority fields, first or later", async () => {
    const request = repairingBlock("/etcdserverpb.KV/Range");
    const first = frame(HEADERS, END_HEADERS, 1, request);
    const cases: [string, Buffer[]][] = [
      ["padding past the frame", [frame(HEADERS, PADDED | END_HEADERS, 1, Buffer.from([200]))]],
      ["padded, empty", [frame(HEADERS, PADDED | END_HEADERS, 1, Buffer.alloc(0))]],
      ["priority past the frame", [frame(HEADERS, PRIORITY | END_HEADERS, 1, Buffer.from([1, 2]))]],
      [
        "hpack garbage",
        [
          frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            1,
            Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
          ),
        ],
      ],
      [
        "repairing, then padding past the frame",
        [first, frame(HEADERS, PADDED | END_HEADERS, 3, Buffer.from([9]))],
      ],
      [
        "repairing, then priority past the frame",
        [first, frame(HEADERS, PRIORITY | END_HEADERS, 3, Buffer.from([1]))],
      ],
      [
        "repairing, then hpack garbage",
        [first, frame(HEADERS, END_HEADERS, 3, Buffer.from([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff]))],
      ],
      [
        "repairing, then a 16 MiB frame header",
        [first, frame(0, 0, 1, Buffer.alloc(10), 0xffffff)],
      ],
      [
        "repairing, then a CONTINUATION flood",
        [
          first,
          frame(HEADERS, 0, 3, request),
          ...Array.from({ length: 80 }, () =>
            frame(CONTINUATION, 0, 3, Buffer.alloc(16_000, 0x41)),
          ),
        ],
      ],
      ["no preface", [Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n")]],
      ["half a preface", [PREFACE.subarray(0, 10)]],
    ];
    const outcomes: string[] = [];
    for (const [what, frames] of cases) {
      const how = await exchange(port, [PREFACE, SETTINGS, SETTINGS_ACK, ...frames]);
      outcomes.push(`${what}: ${how}`);
      await expectHealthy(what);
    }
    process.stdout.write(`listener cases: ${outcomes.join("; ")}\n`);
    // Every case is complete on the wire: the member must have answered or refused it.
    expect(outcomes.filter((o) => o.endsWith("waiting"))).toEqual([]);
  }, 120_000);

  it(
    "random frames, on fresh and on repairing connections",
    async () => {
      const rng = new Rng(SEED);
      const counts = { answered: 0, goaway: 0, closed: 0, waiting: 0 };
      for (let round = 0; round < ITERATIONS; round++) {
        const conns = Array.from({ length: 16 }, () => {
          const chunks: Buffer[] = [];
          if (rng.int(10) !== 0) chunks.push(PREFACE);
          if (rng.int(3) !== 0) chunks.push(SETTINGS);
          if (rng.int(2) === 0) chunks.push(SETTINGS_ACK);
          if (rng.int(2) === 0)
            chunks.push(frame(HEADERS, END_HEADERS, 1, repairingBlock("/etcdserverpb.KV/Range")));
          for (let i = 0; i < 1 + rng.int(5); i++) chunks.push(randomFrame(rng));
          return chunks;
        });
        const results = await Promise.all(conns.map((c) => exchange(port, c)));
        for (const r of results) counts[r]++;
        await expectHealthy(`random round ${round + 1}`);
      }
      // "waiting" is legitimate here (a frame header announcing more bytes than were
      // sent); what must hold is the member's health after every round (above).
      process.stdout.write(`listener random: ${JSON.stringify(counts)}\n`);
      expect(counts.answered + counts.goaway + counts.closed).toBeGreaterThan(0);
    },
    60_000 + ITERATIONS * 20_000,
  );

  it("the HTTP port (/health, /metrics, ...): odd request targets and methods", async () => {
    const rng = new Rng(SEED ^ 0x5a5a);
    const metricsPort = Number(new URL(cluster().members[0]!.metricsUrl).port);
    const targets = [
      "http://[/health", // not a URL: this one ended the member before
      "//[::1/x",
      "http://%zz/",
      "/health?%zz=%",
      "/readyz/../livez",
      "/livez/a/b/c",
      "*",
      `/${"a".repeat(8000)}`,
      "/health?serializable=true&exclude=" + "x".repeat(2000),
    ];
    const statuses: string[] = [];
    for (let i = 0; i < targets.length + ITERATIONS * 8; i++) {
      const target =
        targets[i] ??
        rng.pick(["/", "/health", "/metrics", "/readyz", "/livez", "/version", "http://h"]) +
          rng
            .bytes(rng.int(12))
            .toString("latin1")
            .replace(/[\s\r\n]/g, "");
      const method = rng.pick(["GET", "HEAD", "POST", "DELETE", "OPTIONS", "BREW"]);
      const line = await new Promise<string>((resolve) => {
        const s = net.connect(metricsPort, "127.0.0.1");
        let got = "";
        const timer = setTimeout(() => {
          s.destroy();
          resolve("waiting");
        }, CONNECTION_DEADLINE_MS);
        s.on("data", (d: Buffer) => {
          got += d.toString("latin1");
        });
        s.on("error", () => {});
        s.on("close", () => {
          clearTimeout(timer);
          resolve(got.split("\r\n")[0] || "closed");
        });
        s.write(`${method} ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      });
      statuses.push(line.replace(/^HTTP\/1\.1 /, ""));
    }
    process.stdout.write(`http port: ${[...new Set(statuses)].join(", ")}\n`);
    expect(statuses.filter((x) => x === "waiting")).toEqual([]);
    await expectHealthy("http port");
  }, 120_000);
});
