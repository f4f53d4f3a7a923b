import { X509Certificate } from "node:crypto";
import {
  copyFileSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import type { Server as NetServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { certsUnavailable, TestCerts } from "./__tests__/certs.js";
import { createUrlServer, listenOnUrl } from "./listen.js";
import { selfSignedCert } from "./self-signed.js";
import { TlsMaterial } from "./tls-material.js";
import type { TlsOptions } from "./tls-options.js";

const skip = certsUnavailable();

const base: Omit<TlsOptions, "certFile" | "keyFile"> = {
  trustedCaFile: "",
  clientCertAuth: false,
  autoTls: false,
  selfSignedCertValidityYears: 1,
  minVersion: "TLSv1.2",
};

/** Connects to `url` (TLS) and resolves with the server's certificate CN. */
function serverCn(
  url: string,
  opts: { ca: Buffer; cert?: Buffer; key?: Buffer },
): Promise<string | undefined> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(
      { host: u.hostname, port: Number(u.port), ALPNProtocols: ["h2"], ...opts },
      () => {
        const cn = s.getPeerCertificate().subject?.CN;
        s.destroy();
        resolve(typeof cn === "string" ? cn : undefined);
      },
    );
    s.on("error", reject);
  });
}

/** Polls `probe` every 100 ms until it returns a value or `timeoutMs` passes. */
async function pollFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`nothing within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(skip !== undefined)("TLS material and listeners", () => {
  let certs: TestCerts;
  let dir: string;
  const servers: NetServer[] = [];
  const materials: TlsMaterial[] = [];

  beforeAll(() => {
    certs = TestCerts.make(["n1", "n2"]);
    dir = mkdtempSync(join(tmpdir(), "chainfire-tls-material-"));
  });
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
    for (const m of materials.splice(0)) m.close();
  });
  afterAll(() => {
    certs?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  const serve = async (m: TlsMaterial, onConnection: (s: Socket) => void = () => {}) => {
    const server = createUrlServer("https://127.0.0.1:0", m, onConnection);
    servers.push(server);
    return listenOnUrl(server, "https://127.0.0.1:0");
  };

  it("reloads changed files: new connections get the new certificate", async () => {
    const cert = join(dir, "reload.pem");
    const key = join(dir, "reload-key.pem");
    copyFileSync(certs.path("n1.pem"), cert);
    copyFileSync(certs.path("n1-key.pem"), key);
    const m = await TlsMaterial.load(
      { ...base, certFile: cert, keyFile: key },
      { fixturesDir: dir, hosts: [] },
    );
    materials.push(m);
    const url = await serve(m);
    const ca = certs.read("ca.pem");
    expect(await serverCn(url, { ca })).toBe("n1");
    const dialBefore = m.channelCredentials();
    expect(m.channelCredentials()).toBe(dialBefore); // cached until a reload
    // Replace both files by rename, as certificate managers do.
    copyFileSync(certs.path("n2.pem"), `${cert}.new`);
    copyFileSync(certs.path("n2-key.pem"), `${key}.new`);
    renameSync(`${key}.new`, key);
    renameSync(`${cert}.new`, cert);
    expect(
      await pollFor(
        async () => ((await serverCn(url, { ca })) === "n2" ? true : undefined),
        30_000,
      ),
    ).toBe(true);
    expect(m.generation).toBeGreaterThanOrEqual(1);
    expect(m.channelCredentials()).not.toBe(dialBefore); // peer dials use the new pair
    // A broken file is refused and the current certificate stays.
    writeFileSync(cert, "not a certificate");
    expect(m.reload()).toBe(false);
    expect(await serverCn(url, { ca })).toBe("n2");
  });

  it("--peer-cert-allowed-cn: only certificates with that CN get through", async () => {
    const m = await TlsMaterial.load(
      {
        ...base,
        certFile: certs.path("n1.pem"),
        keyFile: certs.path("n1-key.pem"),
        trustedCaFile: certs.path("ca.pem"),
        clientCertAuth: true,
        allowedCn: "n2",
      },
      { fixturesDir: dir, hosts: [], watch: false },
    );
    materials.push(m);
    const accepted: Socket[] = [];
    const url = await serve(m, (s) => {
      accepted.push(s);
      s.end("hello");
    });
    const ca = certs.read("ca.pem");
    const read = (who: string) => {
      const u = new URL(url);
      return new Promise<string>((resolve) => {
        const s = connect({
          host: u.hostname,
          port: Number(u.port),
          ca,
          cert: certs.read(`${who}.pem`),
          key: certs.read(`${who}-key.pem`),
        });
        let got = "";
        s.on("data", (d: Buffer) => {
          got += d.toString();
        });
        s.on("error", () => resolve(got));
        s.on("close", () => resolve(got));
      });
    };
    expect(await read("n1")).toBe(""); // CN n1: closed at once
    expect(await read("n2")).toBe("hello");
    expect(accepted).toHaveLength(1);
  });

  it("auto-TLS: a self-signed certificate for the hosts, reused while it fits", async () => {
    const fixtures = join(dir, "fixtures", "peer");
    const first = await selfSignedCert(fixtures, ["node01.example", "10.1.2.3"], 1);
    expect(first.generated).toBe(true);
    const x = new X509Certificate(readFileSync(first.certFile));
    expect(x.subjectAltName).toContain("DNS:node01.example");
    expect(x.subjectAltName).toContain("IP Address:10.1.2.3");
    expect(x.subjectAltName).toContain("IP Address:127.0.0.1");
    const mtime = statSync(first.certFile).mtimeMs;
    expect((await selfSignedCert(fixtures, ["node01.example"], 1)).generated).toBe(false);
    expect(statSync(first.certFile).mtimeMs).toBe(mtime);
    // Another host: a new certificate.
    expect((await selfSignedCert(fixtures, ["node02.example"], 1)).generated).toBe(true);
    // And it serves: a client that skips verification (as peers do with auto-TLS) connects.
    const m = await TlsMaterial.load(
      { ...base, certFile: "", keyFile: "", autoTls: true },
      { fixturesDir: fixtures, hosts: ["node02.example"], watch: false },
    );
    materials.push(m);
    const url = await serve(m);
    const u = new URL(url);
    const cn = await new Promise<string>((resolve, reject) => {
      const s = connect(
        { host: u.hostname, port: Number(u.port), rejectUnauthorized: false },
        () => {
          resolve(String(s.getPeerCertificate().subject?.CN));
          s.destroy();
        },
      );
      s.on("error", reject);
    });
    expect(cn).toBe("chainfire-auto-tls");
  });
});
