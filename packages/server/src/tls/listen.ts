/**
 * Listening sockets for member URLs: a plain TCP server for http://, a TLS server for
 * https:// (ALPN "h2", client certificates as the {@link TlsMaterial} says, the new
 * certificate for new connections after a reload). Connections are handed over after
 * the TLS handshake, decrypted; the gRPC server is given them through a connection
 * injector with insecure credentials, as TLS is already done here.
 */
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import type { Logger } from "pino";
import { isTlsUrl } from "../config-urls.js";
import type { TlsMaterial } from "./tls-material.js";

/** What to do with each accepted (and, for https, handshaken) connection. */
export type ConnectionHandler = (socket: Socket) => void;

/**
 * A server for `url` (not yet listening). Throws if the URL is https:// and `tls` is
 * undefined. With `tls.options.allowedCn`, a TLS connection whose verified certificate has
 * another Common Name is closed.
 */
export function createUrlServer(
  url: string,
  tls: TlsMaterial | undefined,
  onConnection: ConnectionHandler,
  logger?: Logger,
): NetServer {
  if (!isTlsUrl(url)) return createNetServer(onConnection);
  if (tls === undefined)
    throw new Error(`${url} uses https:// but no TLS certificate is configured`);
  const allowedCn = tls.options.allowedCn;
  const server = createTlsServer(tls.serverOptions(), (socket: TLSSocket) => {
    if (allowedCn !== undefined) {
      const cn = verifiedCommonName(socket);
      if (cn !== allowedCn) {
        logger?.warn(
          { remote: socket.remoteAddress, cn: cn ?? null, allowedCn },
          "refusing a TLS connection: the certificate's CN is not the allowed one",
        );
        socket.destroy();
        return;
      }
    }
    onConnection(socket);
  });
  server.on("tlsClientError", (err, socket) => {
    logger?.debug({ remote: socket.remoteAddress, err: err.message }, "TLS handshake failed");
    socket.destroy();
  });
  const unsubscribe = tls.onChange(() => server.setSecureContext(tls.secureContextOptions()));
  server.on("close", unsubscribe);
  return server;
}

/** Binds `server` to `url`'s host and port; resolves with the bound URL (real port). */
export async function listenOnUrl(server: NetServer, url: string): Promise<string> {
  const u = new URL(url);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: u.hostname.replace(/^\[(.*)\]$/, "$1"), port: Number(u.port) }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr !== null ? addr.port : Number(u.port);
  return `${u.protocol}//${u.hostname}:${port}`;
}

/**
 * The Common Name of the certificate a TLS peer presented, if the handshake verified it
 * against our trusted CA (`socket.authorized`); undefined otherwise.
 */
export function verifiedCommonName(socket: TLSSocket): string | undefined {
  if (!socket.authorized) return undefined;
  const cn = socket.getPeerCertificate()?.subject?.CN;
  return typeof cn === "string" && cn !== "" ? cn : undefined;
}
