/**
 * The TLS material of a member: client side and peer side, loaded at start from
 * {@link MemberOptions} (auto-TLS certificates go to `<data-dir>/fixtures/{client,peer}`,
 * as with etcd).
 */
import { join } from "node:path";
import type { ChannelCredentials } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { MemberOptions } from "../member-options.js";
import { peerDialCredentials } from "./dial.js";
import { TlsMaterial } from "./tls-material.js";

/** A member's loaded TLS; close() stops watching the files. */
export interface MemberTls {
  client?: TlsMaterial;
  peer?: TlsMaterial;
  /** Credentials to dial a peer URL (plaintext for http://). */
  dial(url: string): ChannelCredentials;
  close(): void;
}

const hostsOf = (urls: readonly string[]) => urls.map((u) => new URL(u).hostname);

/** Loads both sides' certificates; rejects (nothing left open) if one does not load. */
export async function loadMemberTls(o: MemberOptions, logger: Logger): Promise<MemberTls> {
  let client: TlsMaterial | undefined;
  let peer: TlsMaterial | undefined;
  try {
    if (o.clientTls) {
      client = await TlsMaterial.load(o.clientTls, {
        fixturesDir: join(o.dataDir, "fixtures", "client"),
        hosts: hostsOf([...o.listenClientUrls, ...o.advertiseClientUrls]),
        logger: logger.child({ component: "client-tls" }),
      });
    }
    if (o.peerTls) {
      peer = await TlsMaterial.load(o.peerTls, {
        fixturesDir: join(o.dataDir, "fixtures", "peer"),
        hosts: hostsOf([...o.listenPeerUrls, ...o.initialAdvertisePeerUrls]),
        logger: logger.child({ component: "peer-tls" }),
      });
    }
  } catch (err) {
    client?.close();
    throw err;
  }
  return {
    ...(client ? { client } : {}),
    ...(peer ? { peer } : {}),
    dial: (url) => peerDialCredentials(peer, url),
    close() {
      client?.close();
      peer?.close();
    },
  };
}
