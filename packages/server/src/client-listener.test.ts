import { execFile, spawnSync } from "node:child_process";
import { connect } from "node:http2";
import { createConnection } from "node:net";
import { promisify } from "node:util";
import { etcdserverpb } from "@chainfire/api";
import { credentials, Server } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { stubContext } from "./__tests__/stub-context.js";
import { type ClientListener, listenForClients } from "./client-listener.js";
import {
  HpackAuthorityFixer,
  huffmanCode,
  huffmanDecode,
  isValidAuthority,
} from "./client-listener-hpack.js";
import { clientServerOptions, registerClientServices } from "./services/index.js";

const execFileAsync = promisify(execFile);

describe("HPACK pieces", () => {
  it("builds RFC 7541's Huffman code from the code lengths (canonical)", () => {
    expect(huffmanCode(0)).toEqual({ code: 0x1ff8, length: 13 });
    expect(huffmanCode(1)).toEqual({ code: 0x7fffd8, length: 23 });
    expect(huffmanCode(2)).toEqual({ code: 0xfffffe2, length: 28 });
    expect(huffmanCode(32)).toEqual({ code: 0x14, length: 6 });
    expect(huffmanCode(48)).toEqual({ code: 0x0, length: 5 });
    expect(huffmanCode(97)).toEqual({ code: 0x3, length: 5 });
    expect(huffmanCode(255)).toEqual({ code: 0x3ffffee, length: 26 });
    expect(huffmanCode(256)).toEqual({ code: 0x3fffffff, length: 30 });
  });

  it("decodes RFC 7541 C.4.1's Huffman string", () => {
    const s = Buffer.from("f1e3c2e5f23a6ba0ab90f4ff", "hex");
    expect(huffmanDecode(s).toString()).toBe("www.example.com");
    expect(() => huffmanDecode(Buffer.from("f1e3c2e5f23a6ba0ab90f400", "hex"))).toThrow(/padding/);
  });

  it("repairs a literal :authority in place and keeps the dynamic table in step", () => {
    const fixer = new HpackAuthorityFixer();
    // RFC 7541 C.4.1 (valid authority, Huffman): unchanged.
    const c41 = Buffer.from("828684418cf1e3c2e5f23a6ba0ab90f4ff", "hex");
    expect(fixer.fix(c41)).toEqual({ block: c41, changed: false });
    // A literal :authority with incremental indexing, raw "http://h:1" (invalid).
    const bad = Buffer.concat([Buffer.from([0x82, 0x41, 10]), Buffer.from("http://h:1")]);
    const fixed = fixer.fix(bad);
    expect(fixed.changed).toBe(true);
    expect(Buffer.from(fixed.block)).toEqual(
      Buffer.concat([Buffer.from([0x82, 0x41, 10]), Buffer.from("http:__h:1")]),
    );
    expect(isValidAuthority(Buffer.from("http:__h:1"))).toBe(true);
    // A literal name ":authority" (not indexed), without indexing.
    const named = Buffer.concat([
      Buffer.from([0x00, 10]),
      Buffer.from(":authority"),
      Buffer.from([5]),
      Buffer.from("a/b/c"),
    ]);
    expect(Buffer.from(fixer.fix(named).block).subarray(-5).toString()).toBe("a_b_c");
    // The dynamic table now holds [":authority"="http:__h:1", ":authority"="www.example.com"]
    // (newest first, indexes 62 and 63). A fully indexed reference needs no repair ...
    expect(fixer.fix(Buffer.from([0xbe])).changed).toBe(false);
    // ... and a literal whose NAME comes from a dynamic entry (index 63) is still found.
    const dynName = Buffer.concat([Buffer.from([0x00 | 0x0f, 63 - 15, 3]), Buffer.from("a/b")]);
    expect(Buffer.from(fixer.fix(dynName).block).subarray(-3).toString()).toBe("a_b");
    expect(() => fixer.fix(Buffer.from([0x7f, 0x7f, 0]))).toThrow(/beyond the dynamic table/);
  });
});

describe("listenForClients", () => {
  let server: Server | undefined;
  let listener: ClientListener | undefined;
  afterEach(async () => {
    await listener?.close();
    server?.forceShutdown();
    listener = undefined;
    server = undefined;
  });

  async function start(decideAfterMs?: number): Promise<string> {
    const ctx = stubContext();
    ctx.markReady();
    server = new Server(clientServerOptions(ctx.options));
    registerClientServices(server, ctx);
    listener = await listenForClients(server, ["http://127.0.0.1:0"], { decideAfterMs });
    return listener.urls[0]!;
  }

  it("serves well-behaved clients natively", async () => {
    const url = await start();
    const client = new etcdserverpb.MaintenanceClient(
      new URL(url).host,
      credentials.createInsecure(),
    );
    try {
      for (let i = 0; i < 2; i++) {
        const r = await new Promise<etcdserverpb.StatusResponse>((resolve, reject) =>
          client.status({}, (err, res) => (err ? reject(err) : resolve(res))),
        );
        expect(r.version).toBe("3.5.13");
      }
    } finally {
      client.close();
    }
    expect(listener!.repairedConnections).toBe(0);
  });

  it("hands an idle connection over natively after a while", async () => {
    const url = await start(100);
    const client = new etcdserverpb.MaintenanceClient(
      new URL(url).host,
      credentials.createInsecure(),
    );
    try {
      await new Promise<void>((resolve, reject) =>
        client.waitForReady(Date.now() + 5000, (err) => (err ? reject(err) : resolve())),
      );
      await new Promise((r) => setTimeout(r, 300));
      const r = await new Promise<etcdserverpb.StatusResponse>((resolve, reject) =>
        client.status({}, (err, res) => (err ? reject(err) : resolve(res))),
      );
      expect(r.version).toBe("3.5.13");
    } finally {
      client.close();
    }
    expect(listener!.repairedConnections).toBe(0);
  });

  it("repairs the :authority etcd client v3.4 sends (the endpoint URL) on every request", async () => {
    const url = await start();
    const session = connect(url);
    try {
      const call = () =>
        new Promise<{ status: string | undefined; body: Buffer }>((resolve, reject) => {
          const req = session.request({
            ":method": "POST",
            ":path": "/etcdserverpb.Maintenance/Status",
            ":authority": url, // "http://127.0.0.1:port", as etcdctl 3.4 sends it
            "content-type": "application/grpc",
            te: "trailers",
          });
          const chunks: Buffer[] = [];
          let status: string | undefined;
          req.on("data", (c: Buffer) => chunks.push(c));
          req.on("trailers", (t) => {
            status = t["grpc-status"] as string;
          });
          req.on("error", reject);
          req.on("close", () => resolve({ status, body: Buffer.concat(chunks) }));
          req.end(Buffer.from([0, 0, 0, 0, 0])); // an empty StatusRequest
        });
      for (let i = 0; i < 3; i++) {
        const r = await call();
        expect(r.status).toBe("0");
        expect(etcdserverpb.StatusResponse.decode(r.body.subarray(5)).version).toBe("3.5.13");
      }
    } finally {
      session.close();
    }
    expect(listener!.repairedConnections).toBe(1);
  });

  it.skipIf(spawnSync("etcdctl", ["version"]).status !== 0)(
    "lets etcdctl 3.4 run endpoint status (a Maintenance call)",
    async () => {
      const url = await start();
      const { stdout } = await execFileAsync(
        "etcdctl",
        ["--endpoints", url, "--command-timeout=5s", "endpoint", "status", "-w", "json"],
        { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 10_000 },
      );
      const [status] = JSON.parse(stdout) as { Endpoint: string; Status: { version: string } }[];
      expect(status).toMatchObject({ Endpoint: url, Status: { version: "3.5.13" } });
      expect(listener!.repairedConnections).toBe(1);
    },
  );

  it("close() returns at once while handed-over connections stay with the gRPC server", async () => {
    const url = await start();
    const client = new etcdserverpb.MaintenanceClient(
      new URL(url).host,
      credentials.createInsecure(),
    );
    try {
      await new Promise<void>((resolve, reject) =>
        client.status({}, (err) => (err ? reject(err) : resolve())),
      );
      await listener!.close(); // must not wait for the open connection
      const again = await listenForClients(server!, [url]); // the port is free again
      await again.close();
    } finally {
      client.close();
    }
  });

  it("survives clients that reset the connection while it is being watched", async () => {
    const url = await start();
    const { port } = new URL(url);
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve) => {
        const s = createConnection({ host: "127.0.0.1", port: Number(port) }, () => {
          // Preface and SETTINGS, then a reset with our SETTINGS unread: the server side
          // sees ECONNRESET.
          s.write(
            Buffer.concat([
              Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
              Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
            ]),
          );
          setTimeout(() => {
            s.resetAndDestroy();
            resolve();
          }, 50);
        });
        s.on("error", () => {});
      });
    }
    // The same in repair mode: a bad :authority request, then a reset mid-connection.
    const s = createConnection({ host: "127.0.0.1", port: Number(port) });
    s.on("error", () => {});
    await new Promise<void>((resolve) => s.once("connect", () => resolve()));
    const hpack = Buffer.concat([
      Buffer.from([0x83, 0x86, 0x41, 9]), // POST, http, :authority (literal, indexed name)
      Buffer.from("http://x:"),
      Buffer.from([0x44, 9]), // :path
      Buffer.from("/a/b/c/de"),
    ]);
    const headers = Buffer.concat([Buffer.from([0, 0, hpack.length, 1, 4, 0, 0, 0, 1]), hpack]);
    s.write(
      Buffer.concat([
        Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
        Buffer.from([0, 0, 0, 4, 1, 0, 0, 0, 0]),
        headers,
      ]),
    );
    for (let i = 0; i < 100 && listener!.repairedConnections === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(listener!.repairedConnections).toBe(1);
    s.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 100));
    const client = new etcdserverpb.MaintenanceClient(
      new URL(url).host,
      credentials.createInsecure(),
    );
    try {
      const r = await new Promise<etcdserverpb.StatusResponse>((resolve, reject) =>
        client.status({}, { deadline: Date.now() + 10_000 }, (err, res) =>
          err ? reject(err) : resolve(res),
        ),
      );
      expect(r.version).toBe("3.5.13");
    } finally {
      client.close();
    }
  });

  it("refuses to start when the port is taken", async () => {
    const url = await start();
    await expect(listenForClients(server!, [url])).rejects.toThrow(/cannot listen for clients/);
  });
});
