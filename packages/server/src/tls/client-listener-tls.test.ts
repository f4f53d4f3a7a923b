import { execFile, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import { Server } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stubContext } from "../__tests__/stub-context.js";
import { type ClientListener, listenForClients } from "../client-listener.js";
import { clientServerOptions, registerClientServices } from "../services/index.js";
import { certsUnavailable, TestCerts } from "./__tests__/certs.js";
import { TlsMaterial } from "./tls-material.js";

const execFileAsync = promisify(execFile);
const skip =
  certsUnavailable() ??
  (spawnSync("etcdctl", ["version"]).status !== 0 ? "etcdctl is not installed" : undefined);

describe.skipIf(skip !== undefined)("the client listener over TLS with etcdctl 3.4", () => {
  let certs: TestCerts;
  let material: TlsMaterial;
  let server: Server;
  let listener: ClientListener;

  beforeAll(async () => {
    certs = TestCerts.make(["n1"]);
    material = await TlsMaterial.load(
      {
        certFile: certs.path("n1.pem"),
        keyFile: certs.path("n1-key.pem"),
        trustedCaFile: certs.path("ca.pem"),
        clientCertAuth: true,
        autoTls: false,
        selfSignedCertValidityYears: 1,
        minVersion: "TLSv1.2",
      },
      { fixturesDir: certs.dir, hosts: [], watch: false },
    );
    const ctx = stubContext();
    ctx.markReady();
    server = new Server(clientServerOptions(ctx.options));
    registerClientServices(server, ctx);
    listener = await listenForClients(server, ["https://127.0.0.1:0"], { tls: material });
  });
  afterAll(async () => {
    await listener?.close();
    server?.forceShutdown();
    material?.close();
    certs?.remove();
  });

  // Measured: over TLS etcdctl 3.4 sends the host name as :authority (not the URL, as in
  // plaintext), so these connections are handed to grpc-js natively; the repair path
  // over TLS is covered by services/tls-identity.test.ts with a raw HTTP/2 client.
  it("endpoint status, a Maintenance call, works over TLS with a client certificate", async () => {
    const url = listener.urls[0]!;
    const { stdout } = await execFileAsync(
      "etcdctl",
      [
        "--endpoints",
        url,
        `--cacert=${certs.path("ca.pem")}`,
        `--cert=${certs.path("client.pem")}`,
        `--key=${certs.path("client-key.pem")}`,
        "--command-timeout=10s",
        "endpoint",
        "status",
        "-w",
        "json",
      ],
      { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 20_000 },
    );
    const [status] = JSON.parse(stdout) as { Endpoint: string; Status: { version: string } }[];
    expect(status).toMatchObject({ Endpoint: url, Status: { version: "3.5.13" } });
  });
});
