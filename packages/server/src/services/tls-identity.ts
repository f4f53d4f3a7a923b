/**
 * The identity a client proved with its TLS certificate, for auth (etcd uses the verified
 * client certificate's Common Name as the user name when --client-cert-auth is on).
 */
import type { PeerCertificate } from "node:tls";
import { IDENTITY_HEADER, tlsIdentityOf } from "../tls/connection-identity.js";

/** grpc-js's AuthContext (not exported by its index). */
export interface CallAuthContext {
  transportSecurityType?: string;
  sslPeerCertificate?: PeerCertificate;
}

/** The parts of a grpc-js server call this needs (every ServerSurfaceCall has them). */
export interface CallWithPeer {
  getPeer(): string;
  getAuthContext?(): CallAuthContext;
  readonly metadata?: { get(key: string): Array<string | Buffer> };
}

/**
 * The Common Name of the client certificate of `call`'s connection, when the client
 * presented one and it was verified against --trusted-ca-file (which happens only with
 * --client-cert-auth: without it no certificate is asked for). Undefined for plaintext
 * connections, connections without a verified certificate, and certificates without a
 * CN.
 */
export function certificateCommonName(call: CallWithPeer): string | undefined {
  const ctx = call.getAuthContext?.();
  if (ctx?.transportSecurityType === "ssl") {
    const cn = ctx.sslPeerCertificate?.subject?.CN;
    return typeof cn === "string" && cn !== "" ? cn : undefined;
  }
  // Connections of etcd 3.4 clients pass through the :authority repair stream, which
  // grpc-js does not see as TLS; the client listener recorded their certificate.
  return tlsIdentityOf(call.metadata?.get(IDENTITY_HEADER) ?? []);
}
