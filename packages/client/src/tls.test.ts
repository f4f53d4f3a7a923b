import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster, targetUnavailable } from "./__tests__/cluster.js";
import { Client } from "./client.js";
import { UnavailableError } from "./errors.js";

function opensslMissing(): string | undefined {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return undefined;
  } catch {
    return "openssl is not installed (needed to make test certificates)";
  }
}

const skip = targetUnavailable() ?? opensslMissing();

/** A CA, a server certificate for 127.0.0.1 and a client certificate, in `dir`. */
function makeCerts(dir: string): void {
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  ssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=test-ca",
  );
  writeFileSync(
    join(dir, "server.ext"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
  );
  writeFileSync(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
  for (const name of ["server", "client"]) {
    ssl(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${name}`,
    );
    ssl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    );
  }
}

describe.skipIf(skip !== undefined)(
  "TLS against a live member requiring client certificates",
  () => {
    let cluster: TestCluster;
    let dir: string;
    const pem = (name: string) => readFileSync(join(dir, name));

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "chainfire-client-tls-"));
      makeCerts(dir);
      cluster = await TestCluster.start({
        size: 1,
        clientTls: true,
        extraArgs: [
          `--cert-file=${join(dir, "server.pem")}`,
          `--key-file=${join(dir, "server.key")}`,
          `--trusted-ca-file=${join(dir, "ca.pem")}`,
          "--client-cert-auth",
        ],
      });
    });

    afterAll(async () => {
      await cluster?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("connects with a CA and a client certificate (https:// endpoint)", async () => {
      expect(cluster.endpoints[0]).toMatch(/^https:/);
      const client = new Client({
        endpoints: cluster.endpoints,
        tls: { ca: pem("ca.pem"), cert: pem("client.pem"), key: pem("client.key") },
      });
      try {
        await client.put("tls/k", "secret");
        expect(await client.getString("tls/k")).toBe("secret");
        const w = await client.watch("tls/k");
        await client.put("tls/k", "again");
        for await (const e of w) {
          expect(e.kv.string()).toBe("again");
          break;
        }
      } finally {
        await client.close();
      }
    });

    it("fails to connect with an unknown CA or without a client certificate", async () => {
      const noCa = new Client({
        endpoints: cluster.endpoints,
        tls: { cert: pem("client.pem"), key: pem("client.key") },
        dialTimeoutMs: 2000,
      });
      const noCert = new Client({
        endpoints: cluster.endpoints,
        tls: { ca: pem("ca.pem") },
        dialTimeoutMs: 2000,
      });
      try {
        await expect(noCa.get("tls/k", { timeoutMs: 3000 })).rejects.toBeInstanceOf(
          UnavailableError,
        );
        await expect(noCert.get("tls/k", { timeoutMs: 3000 })).rejects.toBeInstanceOf(
          UnavailableError,
        );
      } finally {
        await noCa.close();
        await noCert.close();
      }
    });

    it("insecureSkipVerify accepts an unknown server certificate", async () => {
      const client = new Client({
        endpoints: cluster.endpoints,
        tls: { cert: pem("client.pem"), key: pem("client.key"), insecureSkipVerify: true },
      });
      try {
        expect(await client.getString("tls/k")).toBe("again");
      } finally {
        await client.close();
      }
    });
  },
);
