/**
 * The peer transport: the peer port (raw raft lanes and the gRPC peer service on one
 * listener per URL, peer-sniff.ts) plus one {@link PeerConnection} per other member. The raft driver hands it every message of a
 * Ready with {@link Transport.send}; MsgSnap takes the snapshot path (the leader streams a
 * consistent state snapshot with the message, then reports Finish or Failure to raft).
 */

import type { Server as NetServer, Socket } from "node:net";
import type { peerpb, raftpb } from "@chainfire/api";
import { peerpb as peer } from "@chainfire/api";
import { type Message, MessageType, SnapshotStatus } from "@chainfire/raft";
import type { StateSnapshot } from "@chainfire/storage";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { createUrlServer, listenOnUrl } from "../tls/listen.js";
import type { TlsMaterial } from "../tls/tls-material.js";
import { messageToWire } from "./codec.js";
import { PeerConnection, type PeerLinkHost } from "./peer-connection.js";
import { createPeerService, type PeerServiceHost } from "./peer-service.js";
import { type SniffHandlers, sniffConnection } from "./peer-sniff.js";
import { serveRawLane } from "./raw-lane-receiver.js";

/** What the transport needs from the member. */
export interface TransportHost extends PeerLinkHost, Omit<PeerServiceHost, "onPeerHello"> {
  /** Peer TLS: serves the https:// listen URLs and dials https:// peers. */
  readonly peerTls?: TlsMaterial;
  /** A consistent state snapshot of this member, to send with a MsgSnap. */
  createSnapshot(): StateSnapshot;
  reportSnapshot(id: bigint, status: SnapshotStatus): void;
}

/** Server options for the peer port. */
const PEER_SERVER_OPTIONS = {
  "grpc.max_receive_message_length": 64 * 1024 * 1024,
  "grpc.max_send_message_length": 64 * 1024 * 1024,
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.http2.min_ping_interval_without_data_ms": 5_000,
};

export class Transport {
  readonly #host: TransportHost;
  readonly #links = new Map<bigint, PeerConnection>();
  #server: Server | null = null;
  /** Listeners of the peer URLs (gRPC connections go to #server). */
  readonly #listeners: NetServer[] = [];
  /** Raw raft lanes peers opened to us. */
  readonly #rawSockets = new Set<Socket>();
  #closed = false;
  readonly #sending = new Set<Promise<void>>();

  constructor(host: TransportHost) {
    this.#host = host;
  }

  /** Starts serving the peer protocol on `urls`; rejects if a port cannot be bound. */
  async listen(urls: readonly string[]): Promise<void> {
    const server = new Server(PEER_SERVER_OPTIONS);
    server.addService(
      peer.PeerService,
      createPeerService({
        ...this.#host,
        identity: () => this.#host.identity(),
        members: () => this.#host.members(),
        step: (m) => this.#host.step(m),
        stageSnapshot: (d) => this.#host.stageSnapshot(d),
        installSnapshot: (s, m) => this.#host.installSnapshot(s, m),
        logger: this.#host.logger,
        onPeerHello: (id) => this.#links.get(id)?.wake(),
      }),
    );
    this.#server = server;
    // One listener per URL (TLS ends there: reloadable certificates,
    // --peer-cert-allowed-cn); each connection is sniffed: raw raft lanes to
    // serveRawLane, gRPC (Hello, Snapshot, Forward) to the gRPC server.
    const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
    const handlers: SniffHandlers = {
      grpc: (socket) => injector.injectConnection(socket),
      raw: (socket, first) => {
        if (this.#closed) return socket.destroy();
        this.#rawSockets.add(socket);
        socket.once("close", () => this.#rawSockets.delete(socket));
        serveRawLane(socket, first, this.#host);
      },
    };
    for (const url of urls) {
      const listener = createUrlServer(
        url,
        this.#host.peerTls,
        (socket) => sniffConnection(socket, handlers),
        this.#host.logger,
      );
      this.#listeners.push(listener);
      await listenOnUrl(listener, url).catch((err: Error) => {
        throw new Error(`cannot listen for peers on ${url}: ${err.message}`, { cause: err });
      });
    }
    // Say hello to everyone now: peers waiting out a reconnect backoff to us come back at once.
    for (const l of this.#links.values()) l.start();
  }

  /** Sets the peers to talk to (every member but this one). */
  setPeers(peers: ReadonlyArray<{ id: bigint; peerUrls: readonly string[] }>): void {
    if (this.#closed) return;
    const want = new Map(peers.map((p) => [p.id, [...p.peerUrls]]));
    for (const [id, link] of this.#links) {
      if (!want.has(id)) {
        link.close();
        this.#links.delete(id);
      }
    }
    for (const [id, urls] of want) {
      const link = this.#links.get(id);
      if (link) link.updateUrls(urls);
      else {
        const l = new PeerConnection(id, urls, this.#host);
        this.#links.set(id, l);
        if (this.#server !== null) l.start();
      }
    }
  }

  /** Whether the raft stream to `id` is up. */
  isConnected(id: bigint): boolean {
    return this.#links.get(id)?.connected ?? false;
  }

  /** Writes every link's pending batches to its sockets now (see RawLaneStream.flushNow). */
  flushNow(): void {
    for (const link of this.#links.values()) link.flushNow();
  }

  /** Sends raft messages: one batch per peer; MsgSnap by the snapshot path. */
  send(msgs: readonly Message[]): void {
    if (this.#closed) return;
    let groups: Map<bigint, raftpb.Message[]> | undefined;
    for (const m of msgs) {
      if (m.type === MessageType.MsgSnap) {
        this.#sendSnapshot(m);
        continue;
      }
      groups ??= new Map();
      let g = groups.get(m.to);
      if (g === undefined) {
        g = [];
        groups.set(m.to, g);
      }
      g.push(messageToWire(m));
    }
    if (groups === undefined) return;
    for (const [to, list] of groups) {
      const link = this.#links.get(to);
      if (link) link.send(list);
      else this.#host.reportUnreachable(to);
    }
  }

  #sendSnapshot(m: Message): void {
    const link = this.#links.get(m.to);
    if (link === undefined) {
      this.#host.reportSnapshot(m.to, SnapshotStatus.Failure);
      return;
    }
    const log = this.#host.logger;
    let snap: StateSnapshot;
    try {
      snap = this.#host.createSnapshot();
    } catch (err) {
      log.error({ err }, "cannot create a state snapshot for a peer");
      this.#host.reportSnapshot(m.to, SnapshotStatus.Failure);
      return;
    }
    const peerHex = m.to.toString(16);
    log.info(
      {
        peer: peerHex,
        appliedIndex: snap.header.appliedIndex,
        raftSnapshotIndex: m.snapshot?.metadata.index,
      },
      "sending a state snapshot to a peer",
    );
    const started = performance.now();
    const p = link.sendSnapshot(messageToWire(m), snap).then(
      () => {
        log.info(
          { peer: peerHex, ms: Math.round(performance.now() - started) },
          "state snapshot delivered",
        );
        this.#host.reportSnapshot(m.to, SnapshotStatus.Finish);
      },
      (err: unknown) => {
        log.warn({ peer: peerHex, err: (err as Error).message }, "state snapshot transfer failed");
        this.#host.reportSnapshot(m.to, SnapshotStatus.Failure);
      },
    );
    this.#sending.add(p);
    void p.finally(() => this.#sending.delete(p));
  }

  /** The members a Hello answer lists. */
  static memberInfo(m: {
    id: bigint;
    name: string;
    peerURLs: string[];
    clientURLs: string[];
    isLearner: boolean;
  }): peerpb.MemberInfo {
    return {
      id: m.id,
      name: m.name,
      peerUrls: m.peerURLs,
      clientUrls: m.clientURLs,
      isLearner: m.isLearner,
    };
  }

  /** Closes every link and the peer server (in-flight calls get at most `graceMs`). Idempotent. */
  async close(graceMs = 500): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const link of this.#links.values()) link.close();
    this.#links.clear();
    const server = this.#server;
    this.#server = null;
    for (const l of this.#listeners.splice(0)) if (l.listening) l.close();
    for (const s of this.#rawSockets) s.destroy();
    this.#rawSockets.clear();
    if (server) await shutdownServer(server, graceMs);
  }
}

/** tryShutdown with a deadline, then forceShutdown. */
export async function shutdownServer(server: Server, graceMs: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    t.unref();
    server.tryShutdown(() => {
      clearTimeout(t);
      resolve();
    });
  });
}
