/**
 * Verified client-certificate names of client connections that grpc-js cannot see
 * through: connections served through the :authority-repairing stream
 * (client-listener.ts) reach grpc-js as a plain Duplex, so its
 * `call.getAuthContext()` is empty for them. The listener records such a connection's
 * verified Common Name here under the peer address grpc-js reports for it
 * (`remoteAddress:remotePort`), for as long as the connection is open.
 *
 * Invariant: a lookup answers only when exactly one open connection with that address
 * is recorded (members in one process could share a client's source port); otherwise it
 * answers undefined, never another connection's name.
 */
import type { TLSSocket } from "node:tls";
import { verifiedCommonName } from "./listen.js";

const byPeer = new Map<string, Set<string | undefined>>();
const entries = new Map<string, number>();

/** Records `socket`'s verified CN (if any) until the socket closes. */
export function rememberTlsIdentity(socket: TLSSocket): void {
  const key = `${socket.remoteAddress}:${socket.remotePort}`;
  const cn = verifiedCommonName(socket);
  let names = byPeer.get(key);
  if (names === undefined) {
    names = new Set();
    byPeer.set(key, names);
  }
  names.add(cn);
  entries.set(key, (entries.get(key) ?? 0) + 1);
  socket.once("close", () => {
    const n = (entries.get(key) ?? 1) - 1;
    if (n > 0) {
      entries.set(key, n);
      return;
    }
    entries.delete(key);
    byPeer.delete(key);
  });
}

/** The verified CN of the one open recorded connection from `peer`, if exactly one. */
export function tlsIdentityOf(peer: string): string | undefined {
  if (entries.get(peer) !== 1) return undefined;
  const names = byPeer.get(peer);
  return names?.size === 1 ? [...names][0] : undefined;
}
