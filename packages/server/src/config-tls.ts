/**
 * The TLS part of the configuration: etcd's TLS flags (and the YAML config file's
 * `client-transport-security` / `peer-transport-security` sections) to
 * {@link TlsOptions}, checked against the URLs that use them.
 *
 * Rules (docs/security.md):
 * - A member listens or dials with TLS exactly where a URL says https://. An https
 *   --listen-client-urls URL needs --cert-file and --key-file, or --auto-tls (advertised
 *   client URLs may be https for a TLS proxy in front); an https peer URL (ours or in
 *   --initial-cluster) needs --peer-cert-file and --peer-key-file, or --peer-auto-tls.
 * - --client-cert-auth needs --trusted-ca-file (we do not fall back to the system roots
 *   for client certificates); the same for the peer flags.
 * - TLS files without any https URL are ignored with a warning (as etcd does).
 * - --listen-metrics-urls stay plaintext (https there is refused, not served as http).
 */
import { resolve } from "node:path";
import { isTlsUrl } from "./config-urls.js";
import type { TlsOptions } from "./tls/tls-options.js";

/** Reads one flag's text (undefined when not given). */
type Str = (flag: string) => string | undefined;
/** Parses one boolean flag, recording a problem when it is not a boolean. */
type Bool = (flag: string) => boolean | undefined;

/** What {@link resolveTls} needs: the merged flags and the URLs already parsed. */
export interface TlsInputs {
  str: Str;
  bool: Bool;
  cwd: string;
  listenClientUrls: readonly string[];
  listenPeerUrls: readonly string[];
  initialAdvertisePeerUrls: readonly string[];
  initialCluster: ReadonlyMap<string, readonly string[]>;
  listenMetricsUrls: readonly string[];
}

/** The client and peer TLS settings; undefined where no https URL needs them. */
export function resolveTls(
  inputs: TlsInputs,
  problems: string[],
  warnings: string[],
): { clientTls?: TlsOptions; peerTls?: TlsOptions } {
  const { str, cwd } = inputs;
  const validity = Number(str("self-signed-cert-validity") ?? "1");
  const min = str("tls-min-version") ?? "TLS1.2";
  const max = str("tls-max-version") ?? "";
  const version = (v: string) => (v === "TLS1.3" ? "TLSv1.3" : "TLSv1.2");
  if (min === "TLS1.3" && max === "TLS1.2") {
    problems.push("--tls-min-version TLS1.3 is above --tls-max-version TLS1.2");
  }
  const side = (
    prefix: "" | "peer-",
    usesTls: boolean,
    urlFlag: string,
  ): TlsOptions | undefined => {
    const f = (name: string) => `${prefix}${name}`;
    const path = (name: string) => {
      const v = str(f(name))?.trim();
      return v ? resolve(cwd, v) : "";
    };
    const o: TlsOptions = {
      certFile: path("cert-file"),
      keyFile: path("key-file"),
      trustedCaFile: path("trusted-ca-file"),
      clientCertAuth: inputs.bool(f("client-cert-auth")) ?? false,
      autoTls: inputs.bool(f("auto-tls")) ?? false,
      selfSignedCertValidityYears: Number.isSafeInteger(validity) && validity > 0 ? validity : 1,
      minVersion: version(min),
      ...(max === "" ? {} : { maxVersion: version(max) }),
    };
    if (prefix === "peer-") {
      const cn = str("peer-cert-allowed-cn")?.trim();
      if (cn) o.allowedCn = cn;
    }
    const anySet = o.certFile !== "" || o.keyFile !== "" || o.trustedCaFile !== "" || o.autoTls;
    if (!usesTls) {
      if (anySet || o.clientCertAuth) {
        warnings.push(
          `--${f("cert-file")} and the other ${prefix === "" ? "client" : "peer"} TLS flags ` +
            `are ignored: no ${urlFlag} URL uses https://`,
        );
      }
      return undefined;
    }
    if ((o.certFile === "") !== (o.keyFile === "")) {
      problems.push(`--${f("cert-file")} and --${f("key-file")} must be given together`);
    } else if (o.certFile === "" && !o.autoTls) {
      problems.push(
        `${urlFlag} uses https:// but there is no certificate: give --${f("cert-file")} and ` +
          `--${f("key-file")} (or --${f("auto-tls")} for development)`,
      );
    } else if (o.certFile !== "" && o.autoTls) {
      warnings.push(`--${f("auto-tls")} is ignored: --${f("cert-file")} is given`);
      o.autoTls = false;
    }
    if (o.clientCertAuth && o.trustedCaFile === "") {
      problems.push(
        `--${f("client-cert-auth")} needs --${f("trusted-ca-file")} (the CA that signs the ` +
          `certificates to accept)`,
      );
    }
    if (o.allowedCn !== undefined && !o.clientCertAuth) {
      problems.push("--peer-cert-allowed-cn needs --peer-client-cert-auth (and its CA)");
    }
    return o;
  };
  const metricsTls = inputs.listenMetricsUrls.find(isTlsUrl);
  if (metricsTls !== undefined) {
    problems.push(`--listen-metrics-urls: ${metricsTls}: TLS is not supported there; use http://`);
  }
  // Advertised client URLs may say https:// for a TLS-terminating proxy in front of a
  // plaintext listener; only the listeners need certificates.
  const clientUrls = inputs.listenClientUrls;
  const peerUrls = [
    ...inputs.listenPeerUrls,
    ...inputs.initialAdvertisePeerUrls,
    ...[...inputs.initialCluster.values()].flat(),
  ];
  const clientTls = side("", clientUrls.some(isTlsUrl), "--listen-client-urls");
  const peerTls = side("peer-", peerUrls.some(isTlsUrl), "--listen-peer-urls/--initial-cluster");
  return { ...(clientTls ? { clientTls } : {}), ...(peerTls ? { peerTls } : {}) };
}

/** etcd's YAML keys inside `client-transport-security` → our flag names. */
const CLIENT_SECTION: Readonly<Record<string, string>> = {
  "cert-file": "cert-file",
  "key-file": "key-file",
  "client-cert-auth": "client-cert-auth",
  "trusted-ca-file": "trusted-ca-file",
  "auto-tls": "auto-tls",
  "crl-file": "client-crl-file",
  "allowed-hostname": "client-cert-allowed-hostname",
};

/** etcd's YAML keys inside `peer-transport-security` → our flag names. */
const PEER_SECTION: Readonly<Record<string, string>> = {
  "cert-file": "peer-cert-file",
  "key-file": "peer-key-file",
  "client-cert-auth": "peer-client-cert-auth",
  "trusted-ca-file": "peer-trusted-ca-file",
  "auto-tls": "peer-auto-tls",
  "crl-file": "peer-crl-file",
  "allowed-cn": "peer-cert-allowed-cn",
  "allowed-hostname": "peer-cert-allowed-hostname",
};

/**
 * The flags of an etcd config file's TLS section (`client-transport-security` or
 * `peer-transport-security`), or undefined when `key` is not such a section. Unknown keys
 * inside are problems.
 */
export function tlsSectionFlags(
  key: string,
  value: unknown,
  problems: string[],
): Array<[flag: string, value: unknown]> | undefined {
  const table =
    key === "client-transport-security"
      ? CLIENT_SECTION
      : key === "peer-transport-security"
        ? PEER_SECTION
        : undefined;
  if (table === undefined) return undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    problems.push(`--config-file: "${key}" must be a mapping`);
    return [];
  }
  const out: Array<[string, unknown]> = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const flag = table[k];
    if (flag === undefined) problems.push(`--config-file: unknown key ${key}.${k}`);
    else if (v !== null && v !== undefined) out.push([flag, v]);
  }
  return out;
}
