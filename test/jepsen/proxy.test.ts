/**
 * The delay proxy keeps every byte stream intact and in order, whatever the jitter —
 * a proxy that reorders inside one connection corrupts the peer protocol (it made etcd
 * panic in raftLog.maybeAppend before its queue was one FIFO per direction).
 */
import { connect, createServer, type Server } from "node:net";
import { afterEach, expect, it } from "vitest";
import { allocatePorts } from "../harness/ports.js";
import { DelayProxy } from "../harness/proxy.js";
import { rng } from "./random.js";

let server: Server | undefined;
let proxy: DelayProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

it("delays with jitter, yet delivers each direction's bytes in order", async () => {
  const [echoPort, proxyPort] = await allocatePorts(2);
  server = createServer((s) => s.pipe(s));
  await new Promise<void>((resolve) => server!.listen(echoPort, "127.0.0.1", resolve));
  proxy = await DelayProxy.start(proxyPort, echoPort, rng(1));
  proxy.setDelay({ meanMs: 5, jitterMs: 5 });
  const socket = connect(proxyPort, "127.0.0.1");
  const sent: Buffer[] = [];
  const received: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => received.push(chunk));
  const total = 200 * 64;
  for (let i = 0; i < 200; i++) {
    const chunk = Buffer.alloc(64, i % 256);
    chunk.writeUInt32BE(i, 0);
    sent.push(chunk);
    socket.write(chunk);
    if (i % 20 === 0) await new Promise((r) => setImmediate(r));
  }
  const started = Date.now();
  while (Buffer.concat(received).length < total && Date.now() - started < 10_000) {
    await new Promise((r) => setTimeout(r, 10));
  }
  socket.destroy();
  expect(Buffer.concat(received).equals(Buffer.concat(sent))).toBe(true);
});
