/**
 * LeaderForwarder: hands requests that only the leader can serve (lease keep-alives and
 * TimeToLive) to the leader over the peer protocol's ForwardStream (peer.proto): one
 * long-lived stream to the current leader multiplexes every forwarded request of this
 * member, matched by id. The leader side is transport/forward.ts.
 *
 * Failures all reject with an EtcdError: the leader's own answer keeps its code and text
 * (for example "etcdserver: request timed out"); anything on the way (no address for the
 * leader, connection refused, the stream broken, the leader changed while waiting) is
 * UNAVAILABLE, which the lessor retries until its deadline.
 */
import { ErrCanceled, ErrLeaderChanged, ErrStopped, EtcdError, peerpb } from "@chainfire/api";
import { type ChannelCredentials, type ClientDuplexStream, status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { PEER_CHANNEL_OPTIONS } from "../transport/peer-connection.js";
import { grpcTarget } from "../transport/urls.js";

/** What the forwarder needs from the member. */
export interface ForwarderHost {
  readonly id: bigint;
  readonly clusterId: bigint;
  members(): ReadonlyArray<{ id: bigint; peerUrls: readonly string[] }>;
  /** Credentials to dial a peer URL; throws when it cannot be dialed (https, no TLS). */
  dialCredentials(url: string): ChannelCredentials;
  readonly logger: Logger;
}

interface Pending {
  resolve(response: Uint8Array): void;
  reject(err: Error): void;
}

interface Link {
  leader: bigint;
  url: string;
  client: peerpb.PeerClient;
  stream: ClientDuplexStream<peerpb.ForwardRequest, peerpb.ForwardResponse> | null;
  pending: Map<bigint, Pending>;
}

/** A transport-level failure: retryable. */
function unavailable(what: string): EtcdError {
  return new EtcdError(status.UNAVAILABLE, `chainfire: cannot reach the leader: ${what}`);
}

export class LeaderForwarder {
  readonly #host: ForwarderHost;
  #link: Link | null = null;
  #nextId = 1n;
  #urlIndex = 0;
  #closed = false;

  constructor(host: ForwarderHost) {
    this.#host = host;
  }

  /**
   * Sends `request` for `method` to `leader` and resolves with its serialized answer.
   * `timeoutMs` tells the leader how long this member will wait.
   */
  forward(
    leader: bigint,
    method: string,
    request: Uint8Array,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new EtcdError(ErrStopped));
    if (signal.aborted) return Promise.reject(new EtcdError(ErrCanceled));
    let link: Link;
    try {
      link = this.#linkTo(leader);
    } catch (err) {
      return Promise.reject(err);
    }
    const stream = this.#stream(link);
    const id = this.#nextId++;
    return new Promise<Uint8Array>((resolve, reject) => {
      const onAbort = () => {
        link.pending.delete(id);
        reject(new EtcdError(ErrCanceled));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      link.pending.set(id, {
        resolve: (r) => {
          signal.removeEventListener("abort", onAbort);
          resolve(r);
        },
        reject: (e) => {
          signal.removeEventListener("abort", onAbort);
          reject(e);
        },
      });
      stream.write(
        peerpb.ForwardRequest.fromPartial({
          id,
          clusterId: this.#host.clusterId,
          from: this.#host.id,
          method,
          request: Buffer.from(request),
          timeoutMs: Math.max(1, Math.min(0xffff_ffff, Math.ceil(timeoutMs))),
        }),
      );
    });
  }

  /** Fails everything in flight and closes the connection. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#drop(new EtcdError(ErrStopped));
  }

  #linkTo(leader: bigint): Link {
    if (this.#link?.leader === leader) return this.#link;
    this.#drop(new EtcdError(ErrLeaderChanged));
    const urls = this.#host.members().find((m) => m.id === leader)?.peerUrls ?? [];
    if (urls.length === 0) throw unavailable(`no peer URL known for ${leader.toString(16)}`);
    const url = urls[this.#urlIndex++ % urls.length];
    let creds: ChannelCredentials;
    try {
      creds = this.#host.dialCredentials(url);
    } catch (err) {
      throw unavailable((err as Error).message);
    }
    const client = new peerpb.PeerClient(grpcTarget(url), creds, PEER_CHANNEL_OPTIONS);
    this.#link = { leader, url, client, stream: null, pending: new Map() };
    return this.#link;
  }

  #stream(link: Link): ClientDuplexStream<peerpb.ForwardRequest, peerpb.ForwardResponse> {
    if (link.stream !== null) return link.stream;
    const stream = link.client.forwardStream();
    link.stream = stream;
    const broken = (why: string) => {
      if (link.stream !== stream) return;
      link.stream = null;
      const err = unavailable(why);
      for (const p of link.pending.values()) p.reject(err);
      link.pending.clear();
      // Another URL of the leader next time, and a fresh channel (no grpc-js backoff).
      if (this.#link === link) {
        this.#link = null;
        link.client.close();
      }
    };
    stream.on("data", (res: peerpb.ForwardResponse) => {
      const p = link.pending.get(res.id);
      if (p === undefined) return;
      link.pending.delete(res.id);
      if (res.error !== undefined) p.reject(new EtcdError(res.error.code, res.error.message));
      else p.resolve(res.response);
    });
    stream.on("error", (err: Error & { details?: string }) => {
      this.#host.logger.debug(
        { leader: link.leader.toString(16), url: link.url, err: err.details ?? err.message },
        "forward stream to the leader failed",
      );
      broken(err.details ?? err.message);
    });
    stream.on("end", () => broken("the leader ended the forward stream"));
    return stream;
  }

  #drop(err: Error): void {
    const link = this.#link;
    this.#link = null;
    if (link === null) return;
    for (const p of link.pending.values()) p.reject(err);
    link.pending.clear();
    const stream = link.stream;
    link.stream = null;
    stream?.cancel();
    link.client.close();
  }
}
