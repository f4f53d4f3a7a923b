/**
 * One member's link to one peer:
 *
 * - a gRPC client (one HTTP/2 connection) for a Hello handshake after every (re)connect,
 *   refusing a peer of another cluster or with another id ("etcdserver: cluster ID
 *   mismatch", logged as an error), and for Snapshot streams, one per transfer;
 * - two raw raft lanes (plain TCP or TLS connections, raw-lane-sender.ts, opened after
 *   the Hello to the same URL): control (heartbeats, votes, ReadIndex, TimeoutNow) and
 *   bulk (appends and the rest), so heartbeats never queue behind appends; what the
 *   driver hands over in one call becomes one RaftBatch write per lane (split only past
 *   {@link MAX_BATCH_BYTES}).
 *
 * Flow control like etcd's streamWriter: messages wait in a bounded queue while the
 * lanes connect or while a socket pushes back; past {@link MAX_QUEUED_MESSAGES} in a lane
 * new messages for it are dropped and the peer is reported unreachable (raft slows down
 * and retries; raft's own window of 256 MsgApps in flight per follower keeps the bulk lane
 * far below the bound in normal operation). A failed stream is reported unreachable, both
 * queues dropped, and the link reconnects with exponential backoff and jitter. A lane
 * that hears no PONG for a few seconds counts as failed (raw-lane-sender.ts).
 */
import { createHash } from "node:crypto";
import { once } from "node:events";
import { peerpb, type raftpb } from "@chainfire/api";
import { failpoint, failpointsActive, type StateSnapshot } from "@chainfire/storage";
import {
  type ChannelCredentials,
  type ChannelOptions,
  type ClientWritableStream,
  credentials,
  Metadata,
  type ServiceError,
} from "@grpc/grpc-js";
import type { Logger } from "pino";
import { isMemberRemovedError } from "../member-removal.js";
import type { TlsMaterial } from "../tls/tls-material.js";
import { Backoff } from "./backoff.js";
import { type BatchHeader, isControlMessage, MAX_BATCH_BYTES, PeerLane } from "./peer-lane.js";
import { LaneKind } from "./raw-frame.js";
import { RawLaneStream } from "./raw-lane-sender.js";
import { grpcTarget } from "./urls.js";

/** Queue bound per lane of a peer link (etcd's streamBufSize is 4096). */
export const MAX_QUEUED_MESSAGES = 4096;
export { MAX_BATCH_BYTES };
/** Version of the peer protocol this member speaks (2: raft messages on raw lanes). */
export const PROTOCOL_VERSION = 2;

const HELLO_TIMEOUT_MS = 3_000;

/** gRPC channel options for peer links. */
export const PEER_CHANNEL_OPTIONS: ChannelOptions = {
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.max_receive_message_length": 64 * 1024 * 1024,
  "grpc.max_send_message_length": 64 * 1024 * 1024,
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 2_000,
};

/** Who this member is, as it introduces itself to peers. */
export interface LocalIdentity {
  clusterId: bigint;
  memberId: bigint;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  version: string;
}

/** What a link needs from the transport. */
export interface PeerLinkHost {
  identity(): LocalIdentity;
  reportUnreachable(id: bigint): void;
  /** Credentials to dial a peer URL (default: plaintext; https:// needs peer TLS). */
  dialCredentials?(url: string): ChannelCredentials;
  /** A Hello round trip, in seconds (etcd_network_peer_round_trip_time_seconds). */
  observeRoundTrip?(peerId: bigint, seconds: number): void;
  /** Peer TLS: the raw lanes to https:// peers are dialed with it. */
  readonly peerTls?: TlsMaterial;
  /** The peer refused us as a member removed from the cluster (member-removal.ts). */
  onRemovedByPeer?(peerId: bigint): void;
  readonly logger: Logger;
}

type State = "idle" | "connecting" | "open" | "closed";

export class PeerConnection {
  readonly peerId: bigint;
  #urls: string[];
  readonly #host: PeerLinkHost;
  #client: peerpb.PeerClient | null = null;
  #state: State = "idle";
  readonly #control = new PeerLane();
  readonly #bulk = new PeerLane();
  readonly #header = (): BatchHeader => {
    const id = this.#host.identity();
    return { clusterId: id.clusterId, from: id.memberId, to: this.peerId };
  };
  #timer: NodeJS.Timeout | null = null;
  readonly #backoff = new Backoff();
  #failures = 0;
  #dropped = 0;
  #urlIndex = 0;

  constructor(peerId: bigint, urls: string[], host: PeerLinkHost) {
    this.peerId = peerId;
    this.#urls = urls;
    this.#host = host;
  }

  /** Whether the Raft stream is up. */
  get connected(): boolean {
    return this.#state === "open";
  }

  /** Changes the peer's URLs; reconnects if they changed. */
  updateUrls(urls: string[]): void {
    if (urls.join(",") === this.#urls.join(",")) return;
    this.#urls = urls;
    this.#resetClient();
    if (this.#state !== "closed") this.#fail(new Error("peer URLs changed"), true);
  }

  /** Connects now if the link is idle (not waiting out a backoff). */
  start(): void {
    if (this.#state === "idle" && this.#timer === null) this.#connect();
  }

  /**
   * The peer just contacted us (it restarted, or the network healed): if the link is down
   * and waiting out its backoff, reconnect now.
   */
  wake(): void {
    if (this.#state !== "idle" || this.#timer === null) return;
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#backoff.reset();
    this.#resetClient(); // a fresh channel: grpc-js's own reconnect backoff would delay us
    this.#connect();
  }

  /** Writes what the lanes hold back until the end of the turn now. */
  flushNow(): void {
    this.#control.stream?.flushNow?.();
    this.#bulk.stream?.flushNow?.();
  }

  /** Queues `msgs` (all to this peer) and writes them as one batch as soon as possible. */
  send(msgs: raftpb.Message[]): void {
    if (this.#state === "closed") return;
    if (this.#state === "idle" && this.#timer !== null) {
      // Down and waiting to reconnect: raft learns it and retries later.
      this.#host.reportUnreachable(this.peerId);
      return;
    }
    let control: raftpb.Message[] | undefined;
    let bulk: raftpb.Message[] | undefined;
    for (const m of msgs) {
      if (isControlMessage(m)) (control ??= []).push(m);
      else (bulk ??= []).push(m);
    }
    if (control) this.#enqueue(this.#control, control, "control");
    if (bulk) this.#enqueue(this.#bulk, bulk, "bulk");
    if (this.#state === "open") this.#flush();
    else if (this.#state === "idle") this.#connect();
  }

  #enqueue(lane: PeerLane, msgs: raftpb.Message[], name: string): void {
    if (lane.queued + msgs.length <= MAX_QUEUED_MESSAGES) {
      lane.push(msgs);
      return;
    }
    this.#dropped += msgs.length;
    if (this.#dropped === msgs.length || this.#dropped % 1000 < msgs.length) {
      this.#host.logger.warn(
        { peer: this.peerId.toString(16), lane: name, dropped: this.#dropped },
        "dropping raft messages: the peer's queue is full",
      );
    }
    this.#host.reportUnreachable(this.peerId);
  }

  /**
   * Streams a state snapshot and its MsgSnap to the peer; resolves once the peer has
   * verified and stored it (and will step the message), rejects otherwise.
   */
  async sendSnapshot(msg: raftpb.Message, snap: StateSnapshot): Promise<void> {
    if (this.#state === "closed") throw new Error("peer link closed");
    const client = this.#ensureClient();
    const id = this.#host.identity();
    const base = { clusterId: id.clusterId, from: id.memberId, to: this.peerId };
    let call: ClientWritableStream<peerpb.SnapshotChunk> | undefined;
    const acked = new Promise<peerpb.SnapshotAck>((resolve, reject) => {
      call = client.snapshot((err: ServiceError | null, ack?: peerpb.SnapshotAck) =>
        err ? reject(err) : resolve(ack!),
      );
    });
    const c = call!;
    c.on("error", () => {});
    try {
      const write = async (chunk: peerpb.SnapshotChunk) => {
        if (!c.write(chunk)) await once(c, "drain");
      };
      await write(
        peerpb.SnapshotChunk.fromPartial({ ...base, message: msg, totalSize: 0n, offset: 0n }),
      );
      const hash = createHash("sha256");
      let offset = 0;
      for await (const data of snap.stream) {
        hash.update(data);
        await write(
          peerpb.SnapshotChunk.fromPartial({
            ...base,
            data: Buffer.from(data.buffer, data.byteOffset, data.byteLength),
            offset: BigInt(offset),
          }),
        );
        offset += data.byteLength;
        if (failpointsActive) failpoint("snapshotSendMidway");
      }
      c.write(
        peerpb.SnapshotChunk.fromPartial({
          ...base,
          offset: BigInt(offset),
          last: true,
          sha256: hash.digest(),
        }),
      );
      c.end();
    } catch (err) {
      c.cancel();
      snap.close();
      await acked.catch(() => {});
      throw err;
    }
    await acked;
  }

  /** Ends the stream and the client. Idempotent. */
  close(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#control.close();
    this.#bulk.close();
    this.#resetClient();
  }

  #ensureClient(): peerpb.PeerClient {
    if (this.#client === null) {
      const url = this.#currentUrl();
      this.#client = new peerpb.PeerClient(
        grpcTarget(url),
        this.#host.dialCredentials?.(url) ?? credentials.createInsecure(),
        PEER_CHANNEL_OPTIONS,
      );
    }
    return this.#client;
  }

  #currentUrl(): string {
    return this.#urls[this.#urlIndex % Math.max(1, this.#urls.length)];
  }

  #resetClient(): void {
    const c = this.#client;
    this.#client = null;
    c?.close();
  }

  #connect(): void {
    this.#timer = null;
    if (this.#state === "closed" || this.#urls.length === 0) return;
    this.#state = "connecting";
    let client: peerpb.PeerClient;
    try {
      client = this.#ensureClient();
    } catch (err) {
      this.#fail(err); // an https:// peer and no peer TLS here
      return;
    }
    const url = this.#currentUrl();
    const id = this.#host.identity();
    const req = peerpb.HelloRequest.fromPartial({
      clusterId: id.clusterId,
      memberId: id.memberId,
      name: id.name,
      peerUrls: id.peerUrls,
      clientUrls: id.clientUrls,
      version: id.version,
      protocolVersion: PROTOCOL_VERSION,
    });
    const started = performance.now();
    client.hello(
      req,
      new Metadata(),
      { deadline: Date.now() + HELLO_TIMEOUT_MS },
      (err: ServiceError | null, resp?: peerpb.HelloResponse) => {
        if (this.#state !== "connecting" || this.#client !== client) return;
        if (isMemberRemovedError(err)) this.#host.onRemovedByPeer?.(this.peerId);
        if (err || !resp) return this.#fail(err ?? new Error("empty hello response"));
        if (resp.clusterId !== id.clusterId) {
          this.#host.logger.error(
            {
              peer: this.peerId.toString(16),
              localClusterId: id.clusterId.toString(16),
              remoteClusterId: resp.clusterId.toString(16),
            },
            "etcdserver: cluster ID mismatch: the peer belongs to another cluster; not connecting",
          );
          return this.#fail(new Error("cluster ID mismatch"));
        }
        if (resp.memberId !== this.peerId) {
          this.#host.logger.error(
            { peer: this.peerId.toString(16), answered: resp.memberId.toString(16) },
            "the peer's URL is served by another member; not connecting",
          );
          return this.#fail(new Error("member id mismatch"));
        }
        this.#host.observeRoundTrip?.(this.peerId, (performance.now() - started) / 1000);
        this.#openLanes(url);
      },
    );
  }

  /** Opens both raw lanes to the URL the Hello just went to. */
  #openLanes(url: string): void {
    const id = this.#host.identity();
    const open = (lane: PeerLane, kind: LaneKind) => {
      const hello = {
        protocolVersion: PROTOCOL_VERSION,
        lane: kind,
        clusterId: id.clusterId,
        from: id.memberId,
        to: this.peerId,
      };
      const stream: RawLaneStream = new RawLaneStream(url, this.#host.peerTls, hello, (err) => {
        if (lane.stream !== stream) return;
        if (isMemberRemovedError(err)) this.#host.onRemovedByPeer?.(this.peerId);
        this.#fail(err ?? new Error("raft lane closed"));
      });
      return stream;
    };
    let control: RawLaneStream | undefined;
    let bulk: RawLaneStream;
    try {
      control = open(this.#control, LaneKind.Control);
      bulk = open(this.#bulk, LaneKind.Bulk);
    } catch (err) {
      control?.end();
      this.#fail(err); // an https:// peer and no peer TLS here
      return;
    }
    this.#state = "open";
    this.#control.open(control, this.#header);
    this.#bulk.open(bulk, this.#header);
    if (this.#failures > 0) {
      this.#host.logger.info({ peer: this.peerId.toString(16) }, "peer link restored");
    }
    this.#failures = 0;
    this.#backoff.reset();
  }

  /** Control first: a heartbeat handed over with appends leaves before them. */
  #flush(): void {
    this.#control.flush(this.#header);
    this.#bulk.flush(this.#header);
  }

  #fail(err: unknown, quiet = false): void {
    if (this.#state === "closed") return;
    const wasOpen = this.#state === "open";
    this.#control.close();
    this.#bulk.close();
    this.#state = "idle";
    this.#failures++;
    if (!quiet && (wasOpen || this.#failures === 1)) {
      const e = err as Partial<ServiceError>;
      this.#host.logger.warn(
        { peer: this.peerId.toString(16), err: e.details ?? e.message ?? String(err) },
        wasOpen ? "lost the raft stream to a peer" : "cannot reach a peer",
      );
    }
    if (this.#urls.length > 1) {
      this.#urlIndex++;
      this.#resetClient();
    }
    this.#host.reportUnreachable(this.peerId);
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#connect(), this.#backoff.next());
    this.#timer.unref();
  }
}
