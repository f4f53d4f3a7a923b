/**
 * CPU cost of carrying raft batches between two processes, the old way (a grpc-js client
 * stream per lane, the protocol-1 Raft RPC) against the raw lanes (raw-lane-sender.ts /
 * raw-lane-receiver.ts). CPU seconds of both ends are measured with process.cpuUsage, so
 * the result depends far less on the machine's load than a cluster benchmark's ops/s.
 *
 *   node --conditions=source --import tsx test/bench/peer-lanes/main.ts [--batches N]
 *        [--rate PER_SEC] [--entries K] [--entry-bytes B]
 *
 * Both ends run the same receive checks (raft-batch.ts) and step into a counter. Batches
 * are paced (default 1,000 a second, one MsgApp of 8 entries of 300 bytes each, like a
 * leader's Ready under put-100), then a flood (as fast as the lane takes them).
 */
import { fork } from "node:child_process";
import { createServer } from "node:net";
import { parseArgs } from "node:util";
import { peerpb, raftpb } from "@chainfire/api";
import { credentials, Server, ServerCredentials, type ServerReadableStream } from "@grpc/grpc-js";
import { pino } from "pino";
import {
  PEER_CHANNEL_OPTIONS,
  PROTOCOL_VERSION,
} from "../../../packages/server/src/transport/peer-connection.js";
import { PeerLane } from "../../../packages/server/src/transport/peer-lane.js";
import { sniffConnection } from "../../../packages/server/src/transport/peer-sniff.js";
import { receiveRaftBatch } from "../../../packages/server/src/transport/raft-batch.js";
import { LaneKind } from "../../../packages/server/src/transport/raw-frame.js";
import { serveRawLane } from "../../../packages/server/src/transport/raw-lane-receiver.js";
import { RawLaneStream } from "../../../packages/server/src/transport/raw-lane-sender.js";

const CLUSTER = 7n;
const FROM = 2n;
const TO = 1n;

type Cpu = { user: number; system: number };
const cpuSeconds = (d: Cpu) => (d.user + d.system) / 1e6;

/** The receiving process: a gRPC Raft handler and a raw listener on one port each. */
async function receiver(): Promise<void> {
  let messages = 0;
  let cpu0 = process.cpuUsage();
  const host = {
    identity: () => ({
      clusterId: CLUSTER,
      memberId: TO,
      name: "r",
      peerUrls: [],
      clientUrls: [],
      version: "bench",
    }),
    step: () => {
      messages++;
    },
    logger: pino({ level: "warn" }),
  };
  const grpc = new Server({ "grpc.max_receive_message_length": 64 * 1024 * 1024 });
  grpc.addService(peerpb.PeerService, {
    raft(call: ServerReadableStream<peerpb.RaftBatch, peerpb.RaftAck>) {
      call.on("data", (b: peerpb.RaftBatch) => receiveRaftBatch(host, b));
      call.on("error", () => {});
    },
  } as unknown as peerpb.PeerServer);
  const grpcPort = await new Promise<number>((resolve, reject) =>
    grpc.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  const raw = createServer((s) =>
    sniffConnection(s, { grpc: (x) => x.destroy(), raw: (x, f) => serveRawLane(x, f, host) }),
  );
  await new Promise<void>((resolve) => raw.listen(0, "127.0.0.1", resolve));
  const rawPort = (raw.address() as { port: number }).port;
  process.on("message", (m: { cmd: string }) => {
    if (m.cmd === "reset") {
      messages = 0;
      cpu0 = process.cpuUsage();
      process.send!({ cmd: "reset" });
    } else if (m.cmd === "count") {
      process.send!({ cmd: "count", messages, cpu: process.cpuUsage(cpu0) });
    } else if (m.cmd === "exit") process.exit(0);
  });
  process.send!({ cmd: "ready", grpcPort, rawPort });
}

interface Options {
  batches: number;
  rate: number;
  entries: number;
  entryBytes: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      role: { type: "string" },
      batches: { type: "string" },
      rate: { type: "string" },
      entries: { type: "string" },
      "entry-bytes": { type: "string" },
    },
  });
  if (values.role === "receiver") return receiver();
  const o: Options = {
    batches: Number(values.batches ?? 10_000),
    rate: Number(values.rate ?? 1_000),
    entries: Number(values.entries ?? 8),
    entryBytes: Number(values["entry-bytes"] ?? 300),
  };
  const child = fork(process.argv[1]!, ["--role", "receiver"], {
    execArgv: process.execArgv,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  try {
    const ask = (cmd: string) =>
      new Promise<{ cmd: string; messages: number; cpu: Cpu; grpcPort: number; rawPort: number }>(
        (resolve) => {
          const on = (m: { cmd: string }) => {
            if (m.cmd === cmd) {
              child.off("message", on);
              resolve(m as never);
            }
          };
          child.on("message", on);
          if (cmd !== "ready") child.send({ cmd });
        },
      );
    const { grpcPort, rawPort } = await ask("ready");
    console.log(
      `peer lanes: ${o.batches} batches of 1 MsgApp with ${o.entries} x ${o.entryBytes} B entries`,
    );
    console.log("mode         pacing   msgs/s      sender CPU µs/msg   receiver CPU µs/msg");
    for (const pacing of ["paced", "flood"] as const) {
      for (const mode of ["grpc", "raw"] as const) {
        await ask("reset");
        const r = await run(mode, pacing, o, grpcPort, rawPort, ask);
        console.log(
          `${mode.padEnd(12)} ${pacing.padEnd(8)} ${String(Math.round(r.rate)).padStart(9)}   ` +
            `${r.senderUs.toFixed(1).padStart(19)}   ${r.receiverUs.toFixed(1).padStart(21)}`,
        );
      }
    }
  } finally {
    child.send({ cmd: "exit" });
    child.kill();
  }
}

async function run(
  mode: "grpc" | "raw",
  pacing: "paced" | "flood",
  o: Options,
  grpcPort: number,
  rawPort: number,
  ask: (cmd: string) => Promise<{ messages: number; cpu: Cpu }>,
): Promise<{ rate: number; senderUs: number; receiverUs: number }> {
  const lane = new PeerLane();
  const header = () => ({ clusterId: CLUSTER, from: FROM, to: TO });
  let close: () => void;
  if (mode === "grpc") {
    const client = new peerpb.PeerClient(
      `127.0.0.1:${grpcPort}`,
      credentials.createInsecure(),
      PEER_CHANNEL_OPTIONS,
    );
    const call = client.raft(() => {});
    call.on("error", () => {});
    lane.open(call, header);
    close = () => {
      lane.close();
      client.close();
    };
  } else {
    const hello = {
      protocolVersion: PROTOCOL_VERSION,
      lane: LaneKind.Bulk,
      clusterId: CLUSTER,
      from: FROM,
      to: TO,
    };
    const s = new RawLaneStream(`http://127.0.0.1:${rawPort}`, undefined, hello, (err) => {
      if (err) console.error(`raw lane failed: ${err.message}`);
    });
    lane.open(s, header);
    close = () => lane.close();
  }
  const data = Buffer.alloc(o.entryBytes, 7);
  let index = 1;
  const msg = () => {
    const entries = Array.from({ length: o.entries }, () => ({
      term: 2n,
      index: BigInt(index++),
      type: raftpb.EntryType.EntryNormal,
      data,
    }));
    return raftpb.Message.fromPartial({
      type: raftpb.MessageType.MsgApp,
      from: FROM,
      to: TO,
      term: 2n,
      logTerm: 2n,
      index: BigInt(index - o.entries - 1),
      commit: BigInt(Math.max(0, index - 100)),
      entries,
    });
  };
  // Warm-up (JIT, connection), not measured.
  for (let i = 0; i < 200; i++) {
    lane.push([msg()]);
    lane.flush(header);
  }
  while ((await ask("count")).messages < 200) await new Promise((r) => setTimeout(r, 5));
  await ask("reset");
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  if (pacing === "paced") {
    const perMs = o.rate / 1000;
    let sent = 0;
    while (sent < o.batches) {
      const due = Math.min(o.batches, Math.floor((performance.now() - t0) * perMs) + 1);
      for (; sent < due; sent++) {
        lane.push([msg()]);
        lane.flush(header);
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  } else {
    for (let sent = 0; sent < o.batches; sent++) {
      lane.push([msg()]);
      lane.flush(header);
      if (lane.queued > 1000) await new Promise((r) => setImmediate(r));
    }
  }
  let got = await ask("count");
  while (got.messages < o.batches) {
    await new Promise((r) => setTimeout(r, 2));
    got = await ask("count");
  }
  const seconds = (performance.now() - t0) / 1000;
  const senderCpu = cpuSeconds(process.cpuUsage(cpu0));
  close();
  return {
    rate: o.batches / seconds,
    senderUs: (senderCpu / o.batches) * 1e6,
    receiverUs: (cpuSeconds(got.cpu) / o.batches) * 1e6,
  };
}

await main();
