/**
 * Verified client-certificate names of client connections that grpc-js cannot see
 * through: connections served through the :authority-repairing stream
 * (client-listener.ts) reach grpc-js as a plain Duplex (wrapped by Node in a socket
 * without addresses), so `call.getAuthContext()` is empty for them and `getPeer()` is
 * "unknown".
 *
 * For such a connection the listener registers its verified Common Name under a random
 * token and the repair stream appends the header {@link IDENTITY_HEADER}: token to every
 * request's header block (an HPACK literal without indexing, so the dynamic table is
 * untouched). The service finds the token in the call's metadata.
 *
 * Invariant: a token is 128 random bits, never sent to the client, and forgotten when
 * its connection closes; a client that sends the header itself names no registered
 * token (or at most its own), so it cannot borrow another connection's identity.
 */
import { randomBytes } from "node:crypto";
import type { TLSSocket } from "node:tls";
import { verifiedCommonName } from "./listen.js";

/** The request header carrying a repaired TLS connection's token. */
export const IDENTITY_HEADER = "x-chainfire-tls-conn";

const byToken = new Map<string, string | undefined>();

/**
 * Registers `socket`'s verified CN (if any) until it closes; returns the HPACK header
 * field to append to the connection's header blocks.
 */
export function rememberTlsIdentity(socket: TLSSocket): Buffer {
  const token = randomBytes(16).toString("hex");
  byToken.set(token, verifiedCommonName(socket));
  socket.once("close", () => byToken.delete(token));
  const name = Buffer.from(IDENTITY_HEADER, "latin1");
  const value = Buffer.from(token, "latin1");
  // Literal Header Field without Indexing, New Name (RFC 7541 §6.2.2); lengths < 127.
  return Buffer.concat([
    Buffer.from([0x00, name.length]),
    name,
    Buffer.from([value.length]),
    value,
  ]);
}

/** The CN registered under one of `tokens` (the call's header values), if any. */
export function tlsIdentityOf(tokens: ReadonlyArray<string | Buffer>): string | undefined {
  const found = new Set<string | undefined>();
  for (const t of tokens) {
    const key = t.toString();
    if (byToken.has(key)) found.add(byToken.get(key));
  }
  return found.size === 1 ? [...found][0] : undefined;
}
