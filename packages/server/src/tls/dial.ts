/**
 * gRPC credentials for dialing a peer URL: plaintext for http://, TLS with the peer
 * certificates for https://.
 */
import { type ChannelCredentials, credentials } from "@grpc/grpc-js";
import { isTlsUrl } from "../config-urls.js";
import type { TlsMaterial } from "./tls-material.js";

/** Credentials to dial `url`; throws if it is https:// and there is no peer TLS. */
export function peerDialCredentials(tls: TlsMaterial | undefined, url: string): ChannelCredentials {
  if (!isTlsUrl(url)) return credentials.createInsecure();
  if (tls === undefined) {
    throw new Error(
      `cannot dial ${url}: it uses https:// but this member has no peer TLS ` +
        "(--peer-cert-file/--peer-key-file or --peer-auto-tls)",
    );
  }
  return tls.channelCredentials();
}
