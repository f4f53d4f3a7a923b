/**
 * The certificates of one side (client port or peer port) of a running member: read from
 * the files of {@link TlsOptions} (or generated, for --auto-tls), checked, and re-read when
 * a file changes so that new connections use the new certificate without a restart.
 *
 * Reload: every file is polled (fs.watchFile, {@link WATCH_INTERVAL_MS}); polling, not
 * inotify, because certificate managers replace files by rename and Kubernetes swaps a
 * symlinked directory, which inotify on the old inode would miss. A change that does not
 * load (half-written file, key not matching the certificate) is logged and the previous
 * certificates stay in use; the next change is tried again.
 */
import { readFileSync, type Stats, unwatchFile, watchFile } from "node:fs";
import {
  type ConnectionOptions,
  createSecureContext,
  type TlsOptions as NodeTlsOptions,
  type SecureContextOptions,
} from "node:tls";
import { type ChannelCredentials, credentials } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { selfSignedCert } from "./self-signed.js";
import type { TlsOptions } from "./tls-options.js";

/** A TLS handshake not finished after this long is dropped (Node's default is 120 s). */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/** How often the certificate files are checked for changes. */
export const WATCH_INTERVAL_MS = 1_000;

/** One loaded generation of the files. */
interface Loaded {
  cert: Buffer;
  key: Buffer;
  ca: Buffer | undefined;
}

export class TlsMaterial {
  readonly options: TlsOptions;
  readonly #logger: Logger | undefined;
  #loaded: Loaded;
  #credentials: ChannelCredentials | undefined;
  readonly #listeners = new Set<() => void>();
  readonly #watched: Array<{ path: string; listener: (cur: Stats, prev: Stats) => void }> = [];
  #generation = 0;

  private constructor(options: TlsOptions, loaded: Loaded, logger: Logger | undefined) {
    this.options = options;
    this.#loaded = loaded;
    this.#logger = logger;
  }

  /**
   * Reads (or, with autoTls, generates under `fixturesDir`) the certificates and checks
   * them; starts watching the files when `watch` is true. Rejects with a clear message.
   */
  static async load(
    options: TlsOptions,
    opts: { fixturesDir: string; hosts: readonly string[]; logger?: Logger; watch?: boolean },
  ): Promise<TlsMaterial> {
    let o = options;
    if (o.autoTls && o.certFile === "") {
      const files = await selfSignedCert(
        opts.fixturesDir,
        opts.hosts,
        o.selfSignedCertValidityYears,
      );
      o = { ...o, certFile: files.certFile, keyFile: files.keyFile };
      opts.logger?.warn(
        { cert: files.certFile, generated: files.generated },
        "using a self-signed TLS certificate (--auto-tls): connections are encrypted, not authenticated",
      );
    }
    const m = new TlsMaterial(o, readAll(o), opts.logger);
    if (opts.watch ?? true) m.#watch();
    return m;
  }

  /** How many times the files were reloaded (tests). */
  get generation(): number {
    return this.#generation;
  }

  /** The certificate (chain) presented now. */
  get cert(): Buffer {
    return this.#loaded.cert;
  }

  /** Options for a secure context with the current certificates (and the TLS versions). */
  secureContextOptions(): SecureContextOptions {
    const l = this.#loaded;
    return {
      cert: l.cert,
      key: l.key,
      ...(l.ca ? { ca: l.ca } : {}),
      minVersion: this.options.minVersion,
      ...(this.options.maxVersion ? { maxVersion: this.options.maxVersion } : {}),
    };
  }

  /** Options of a TLS server: the secure context, ALPN "h2", client certificates if asked. */
  serverOptions(): NodeTlsOptions {
    const verify = this.options.clientCertAuth;
    return {
      ...this.secureContextOptions(),
      ALPNProtocols: ["h2"],
      requestCert: verify,
      rejectUnauthorized: verify,
      // A connection that does not finish its handshake does not hold a socket for long.
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    };
  }

  /**
   * gRPC credentials to dial a peer: the CA verifies the peer (not with auto-TLS, whose
   * certificates nobody signed), our certificate is the client certificate.
   */
  channelCredentials(): ChannelCredentials {
    if (this.#credentials === undefined) {
      const l = this.#loaded;
      this.#credentials = credentials.createSsl(
        l.ca ?? null,
        l.key,
        l.cert,
        this.options.autoTls ? { rejectUnauthorized: false } : {},
      );
    }
    return this.#credentials;
  }

  /**
   * Options to dial a peer with node:tls (the raw raft lanes), checked like
   * {@link channelCredentials}: the CA and the host name verify the peer (not with
   * auto-TLS), our certificate is the client certificate.
   */
  connectOptions(): ConnectionOptions {
    return { ...this.secureContextOptions(), rejectUnauthorized: !this.options.autoTls };
  }

  /** Calls `listener` after every successful reload; returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Re-reads the files now; false (and the old certificates kept) if they do not load. */
  reload(): boolean {
    try {
      this.#loaded = readAll(this.options);
    } catch (err) {
      this.#logger?.warn(
        { err: (err as Error).message },
        "TLS files changed but do not load; keeping the previous certificates",
      );
      return false;
    }
    this.#credentials = undefined;
    this.#generation++;
    this.#logger?.info({ cert: this.options.certFile }, "TLS certificates reloaded");
    for (const l of this.#listeners) {
      try {
        l();
      } catch (err) {
        this.#logger?.error({ err }, "applying reloaded TLS certificates failed");
      }
    }
    return true;
  }

  /** Stops watching the files. Idempotent. */
  close(): void {
    for (const { path, listener } of this.#watched.splice(0)) unwatchFile(path, listener);
    this.#listeners.clear();
  }

  #watch(): void {
    const o = this.options;
    for (const path of new Set([o.certFile, o.keyFile, o.trustedCaFile])) {
      if (path === "") continue;
      const listener = (cur: Stats, prev: Stats) => {
        if (cur.mtimeMs !== prev.mtimeMs || cur.ino !== prev.ino) this.reload();
      };
      watchFile(path, { interval: WATCH_INTERVAL_MS, persistent: false }, listener);
      this.#watched.push({ path, listener });
    }
  }
}

/** Reads and checks the files of `o` (key matches certificate, PEM parses). */
function readAll(o: TlsOptions): Loaded {
  const read = (what: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read the TLS ${what} ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  };
  const loaded: Loaded = {
    cert: read("certificate", o.certFile),
    key: read("key", o.keyFile),
    ca: o.trustedCaFile === "" ? undefined : read("trusted CA file", o.trustedCaFile),
  };
  try {
    createSecureContext({ cert: loaded.cert, key: loaded.key, ca: loaded.ca });
  } catch (err) {
    throw new Error(
      `the TLS files ${o.certFile}, ${o.keyFile}${o.trustedCaFile ? `, ${o.trustedCaFile}` : ""} ` +
        `do not load: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return loaded;
}
