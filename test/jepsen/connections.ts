/**
 * One gRPC connection per member for a run's clients, reconnecting fast: grpc-js's
 * default reconnect backoff grows to two minutes, which would turn a member's two-second
 * restart into a minute-long silence and hide what the member does after it.
 */
import { EtcdGrpcClient } from "../harness/index.js";

export class Connections {
  private readonly open = new Map<number, EtcdGrpcClient>();

  /** @param endpoint the client URL of member `i` (http://host:port or unix:///path). */
  constructor(private readonly endpoint: (member: number) => string) {}

  get(member: number): EtcdGrpcClient {
    let conn = this.open.get(member);
    if (!conn) {
      conn = new EtcdGrpcClient(this.endpoint(member), {
        channelOptions: {
          "grpc.initial_reconnect_backoff_ms": 100,
          "grpc.min_reconnect_backoff_ms": 100,
          "grpc.max_reconnect_backoff_ms": 500,
        },
      });
      this.open.set(member, conn);
    }
    return conn;
  }

  /** Closes every connection; idempotent. */
  close(): void {
    for (const conn of this.open.values()) conn.close();
    this.open.clear();
  }
}
