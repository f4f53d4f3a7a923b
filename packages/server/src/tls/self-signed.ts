/**
 * --auto-tls / --peer-auto-tls: a self-signed certificate for development, made with the
 * `openssl` command (Node 20's crypto can make keys but not X.509 certificates) into
 * `<data-dir>/fixtures/{client,peer}/` as etcd does. An existing certificate there is
 * reused while it covers the hosts and stays valid for another day; otherwise it is
 * replaced.
 */
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const DAY_MS = 24 * 60 * 60 * 1000;

/** Where the certificate is, and whether it was made now. */
export interface SelfSignedFiles {
  certFile: string;
  keyFile: string;
  generated: boolean;
}

/**
 * Makes (or reuses) an ECDSA P-256 certificate valid for `hosts` (DNS names or IP
 * addresses; localhost and 127.0.0.1 are always added) in `dir`.
 */
export async function selfSignedCert(
  dir: string,
  hosts: readonly string[],
  validityYears: number,
): Promise<SelfSignedFiles> {
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  const names = [...new Set(["localhost", "127.0.0.1", ...hosts.map(unbracket)])].filter(
    (h) => h !== "" && h !== "0.0.0.0" && h !== "::",
  );
  if (existsSync(certFile) && existsSync(keyFile) && covers(certFile, names)) {
    return { certFile, keyFile, generated: false };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const san = names.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(",");
  const tmpCert = `${certFile}.tmp`;
  const tmpKey = `${keyFile}.tmp`;
  try {
    await run(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        tmpKey,
        "-out",
        tmpCert,
        "-days",
        String(Math.max(1, Math.round(validityYears * 365))),
        "-subj",
        "/O=chainfire/CN=chainfire-auto-tls",
        "-addext",
        `subjectAltName=${san}`,
        "-addext",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "-addext",
        "extendedKeyUsage=serverAuth,clientAuth",
      ],
      { timeout: 30_000 },
    );
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    const why =
      e.code === "ENOENT" ? "the openssl command is not installed" : (e.stderr ?? e.message);
    throw new Error(`cannot generate a self-signed certificate (--auto-tls): ${why}`, {
      cause: err,
    });
  }
  renameSync(tmpKey, keyFile);
  renameSync(tmpCert, certFile);
  return { certFile, keyFile, generated: true };
}

function unbracket(host: string): string {
  return host.replace(/^\[(.*)\]$/, "$1");
}

/** Whether the certificate at `path` names every host and is valid for another day. */
function covers(path: string, hosts: readonly string[]): boolean {
  try {
    const cert = new X509Certificate(readFileSync(path));
    if (Date.parse(cert.validTo) - Date.now() < DAY_MS) return false;
    const san = new Set((cert.subjectAltName ?? "").split(/,\s*/));
    return hosts.every((h) => san.has(isIP(h) ? `IP Address:${h}` : `DNS:${h}`));
  } catch {
    return false;
  }
}
