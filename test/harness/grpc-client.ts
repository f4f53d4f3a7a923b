/**
 * A small etcd v3 gRPC client for tests and benchmarks, built on @chainfire/api's
 * generated grpc-js clients. It adds promises, per-call deadlines and byte helpers, and
 * nothing else: requests are the protocol's own messages, so tests can send exactly the
 * bytes they mean (including invalid ones).
 */
import { etcdserverpb } from "@chainfire/api";
import {
  type CallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  type ClientUnaryCall,
  credentials,
  Metadata,
  type ServiceError,
} from "@grpc/grpc-js";

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

/** Options of {@link EtcdGrpcClient}. */
export interface EtcdGrpcClientOptions {
  /** Per-call deadline in milliseconds (default 5000). */
  timeoutMs?: number;
  /**
   * Open a connection of its own instead of sharing grpc-js's process-wide subchannel
   * for the same address (the load generator needs N distinct TCP connections).
   */
  ownConnection?: boolean;
  /** Extra grpc-js channel options. */
  channelOptions?: ChannelOptions;
  /** TLS credentials (default plaintext). */
  credentials?: ChannelCredentials;
}

/** A thin promise wrapper around the KV, Maintenance and Cluster services of one endpoint. */
export class EtcdGrpcClient {
  readonly kv: etcdserverpb.KVClient;
  readonly maintenance: etcdserverpb.MaintenanceClient;
  readonly cluster: etcdserverpb.ClusterClient;
  readonly timeoutMs: number;
  private closed = false;

  /** @param endpoint `host:port` or `http://host:port`. */
  constructor(
    readonly endpoint: string,
    options: EtcdGrpcClientOptions = {},
  ) {
    const address = endpoint.replace(/^https?:\/\//, "");
    const channelOptions: ChannelOptions = {
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
      ...(options.ownConnection ? { "grpc.use_local_subchannel_pool": 1 } : {}),
      ...options.channelOptions,
    };
    const creds = options.credentials ?? credentials.createInsecure();
    this.kv = new etcdserverpb.KVClient(address, creds, channelOptions);
    // The other services share the KV client's channel (one connection per client).
    const channel = { channelOverride: this.kv.getChannel() };
    this.maintenance = new etcdserverpb.MaintenanceClient(address, creds, channel);
    this.cluster = new etcdserverpb.ClusterClient(address, creds, channel);
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  range(
    request: Partial<etcdserverpb.RangeRequest>,
    timeoutMs?: number,
  ): Promise<etcdserverpb.RangeResponse> {
    return this.call(
      this.kv,
      this.kv.range,
      etcdserverpb.RangeRequest.fromPartial(request),
      timeoutMs,
    );
  }

  put(
    request: Partial<etcdserverpb.PutRequest>,
    timeoutMs?: number,
  ): Promise<etcdserverpb.PutResponse> {
    return this.call(this.kv, this.kv.put, etcdserverpb.PutRequest.fromPartial(request), timeoutMs);
  }

  deleteRange(
    request: Partial<etcdserverpb.DeleteRangeRequest>,
    timeoutMs?: number,
  ): Promise<etcdserverpb.DeleteRangeResponse> {
    const message = etcdserverpb.DeleteRangeRequest.fromPartial(request);
    return this.call(this.kv, this.kv.deleteRange, message, timeoutMs);
  }

  /** Sends `request` as given: build nested messages with `fromPartial` or {@link op}. */
  txn(request: etcdserverpb.TxnRequest, timeoutMs?: number): Promise<etcdserverpb.TxnResponse> {
    return this.call(this.kv, this.kv.txn, request, timeoutMs);
  }

  compact(
    request: Partial<etcdserverpb.CompactionRequest>,
    timeoutMs?: number,
  ): Promise<etcdserverpb.CompactionResponse> {
    const message = etcdserverpb.CompactionRequest.fromPartial(request);
    return this.call(this.kv, this.kv.compact, message, timeoutMs);
  }

  status(timeoutMs?: number): Promise<etcdserverpb.StatusResponse> {
    const message = etcdserverpb.StatusRequest.fromPartial({});
    return this.call(this.maintenance, this.maintenance.status, message, timeoutMs);
  }

  hash(timeoutMs?: number): Promise<etcdserverpb.HashResponse> {
    const message = etcdserverpb.HashRequest.fromPartial({});
    return this.call(this.maintenance, this.maintenance.hash, message, timeoutMs);
  }

  hashKv(revision = 0n, timeoutMs?: number): Promise<etcdserverpb.HashKVResponse> {
    const message = etcdserverpb.HashKVRequest.fromPartial({ revision });
    return this.call(this.maintenance, this.maintenance.hashKv, message, timeoutMs);
  }

  memberList(timeoutMs?: number): Promise<etcdserverpb.MemberListResponse> {
    const message = etcdserverpb.MemberListRequest.fromPartial({});
    return this.call(this.cluster, this.cluster.memberList, message, timeoutMs);
  }

  /** Closes the channel; idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.kv.close();
  }

  private call<Req, Res>(
    client: object,
    method: (...args: never[]) => ClientUnaryCall,
    request: Req,
    timeoutMs = this.timeoutMs,
  ): Promise<Res> {
    const fn = method as unknown as UnaryMethod<Req, Res>;
    return new Promise<Res>((resolve, reject) => {
      fn.call(
        client,
        request,
        new Metadata(),
        { deadline: Date.now() + timeoutMs },
        (error: ServiceError | null, response: Res) => {
          if (error) reject(error);
          else resolve(response);
        },
      );
    });
  }
}

/** UTF-8 bytes of `text`. */
export function bytes(text: string): Buffer {
  return Buffer.from(text, "utf8");
}

/** The range end that selects every key starting with `prefix` (etcd's GetPrefixRangeEnd). */
export function prefixEnd(prefix: string | Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** Builders for transaction parts, so tests read like etcdctl's txn syntax. */
export const op = {
  put(key: string, value: string, extra: Partial<etcdserverpb.PutRequest> = {}) {
    return etcdserverpb.RequestOp.fromPartial({
      request: {
        $case: "requestPut",
        value: { key: bytes(key), value: bytes(value), ...extra },
      },
    });
  },
  get(key: string, extra: Partial<etcdserverpb.RangeRequest> = {}) {
    return etcdserverpb.RequestOp.fromPartial({
      request: { $case: "requestRange", value: { key: bytes(key), ...extra } },
    });
  },
  del(key: string, extra: Partial<etcdserverpb.DeleteRangeRequest> = {}) {
    return etcdserverpb.RequestOp.fromPartial({
      request: { $case: "requestDeleteRange", value: { key: bytes(key), ...extra } },
    });
  },
  txn(request: Partial<etcdserverpb.TxnRequest>) {
    return etcdserverpb.RequestOp.fromPartial({
      request: { $case: "requestTxn", value: request },
    });
  },
};

/** A gRPC error with its status code and message, as tests assert them. */
export function isServiceError(error: unknown): error is ServiceError {
  return (
    error instanceof Error &&
    typeof (error as Partial<ServiceError>).code === "number" &&
    typeof (error as Partial<ServiceError>).details === "string"
  );
}
