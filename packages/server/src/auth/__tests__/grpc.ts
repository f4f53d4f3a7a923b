/**
 * Test helpers: etcd gRPC clients to a member with an optional auth token, promisified.
 */
import { etcdserverpb } from "@chainfire/api";
import { type Client, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";

export type ServiceName = "KV" | "Lease" | "Maintenance" | "Cluster" | "Auth" | "Watch";

const CLIENTS = {
  KV: etcdserverpb.KVClient,
  Lease: etcdserverpb.LeaseClient,
  Maintenance: etcdserverpb.MaintenanceClient,
  Cluster: etcdserverpb.ClusterClient,
  Auth: etcdserverpb.AuthClient,
  Watch: etcdserverpb.WatchClient,
};

type MessageType = { fromPartial(p: object): unknown };

/** The request message type of a method ("put" → PutRequest, "userAdd" → AuthUserAddRequest). */
function requestType(method: string): MessageType {
  const special: Record<string, string> = { compact: "Compaction", hashKv: "HashKV" };
  const cap = special[method] ?? method[0].toUpperCase() + method.slice(1);
  const all = etcdserverpb as unknown as Record<string, MessageType | undefined>;
  const t = all[`${cap}Request`] ?? all[`Auth${cap}Request`];
  if (!t) throw new Error(`no request type for ${method}`);
  return t;
}

/** One set of clients to `url` ("http://127.0.0.1:port"); close() them all. */
export class Clients {
  readonly #clients = new Map<ServiceName, Client>();
  constructor(readonly url: string) {}

  get(name: ServiceName): Client {
    let c = this.#clients.get(name);
    if (!c) {
      c = new CLIENTS[name](this.url.replace("http://", ""), credentials.createInsecure());
      this.#clients.set(name, c);
    }
    return c;
  }

  /** Calls a unary method; rejects with the ServiceError. */
  call<T = Record<string, unknown>>(
    service: ServiceName,
    method: string,
    req: object,
    token?: string,
    timeoutMs = 10_000,
  ): Promise<T> {
    const c = this.get(service) as unknown as Record<string, (...a: unknown[]) => unknown>;
    const md = new Metadata();
    if (token !== undefined) md.set("token", token);
    const full = requestType(method).fromPartial(req);
    return new Promise((resolve, reject) => {
      c[method].call(c, full, md, { deadline: Date.now() + timeoutMs }, (e: Error | null, r: T) =>
        e ? reject(e) : resolve(r),
      );
    });
  }

  /** Opens a watch on `key` (prefix when `rangeEnd` given) and returns its first response. */
  watchCreate(
    key: Buffer,
    rangeEnd: Buffer,
    token?: string,
    timeoutMs = 10_000,
  ): Promise<etcdserverpb.WatchResponse> {
    const c = this.get("Watch") as etcdserverpb.WatchClient;
    const md = new Metadata();
    if (token !== undefined) md.set("token", token);
    const s = c.watch(md, { deadline: Date.now() + timeoutMs });
    return new Promise((resolve, reject) => {
      s.once("data", (r: etcdserverpb.WatchResponse) => {
        resolve(r);
        s.cancel();
      });
      s.once("error", (e: ServiceError) => {
        if (e.code !== 1) reject(e); // 1 = CANCELLED by us
      });
      s.write(
        etcdserverpb.WatchRequest.fromPartial({
          requestUnion: { $case: "createRequest", value: { key, rangeEnd } },
        }),
      );
    });
  }

  /** Reads the first chunk of Maintenance.Snapshot, then cancels. */
  snapshotFirst(token?: string, timeoutMs = 10_000): Promise<void> {
    const c = this.get("Maintenance") as etcdserverpb.MaintenanceClient;
    const md = new Metadata();
    if (token !== undefined) md.set("token", token);
    const s = c.snapshot(etcdserverpb.SnapshotRequest.fromPartial({}), md, {
      deadline: Date.now() + timeoutMs,
    });
    return new Promise((resolve, reject) => {
      s.once("data", () => {
        resolve();
        s.cancel();
      });
      s.once("error", (e: ServiceError) => {
        if (e.code !== 1) reject(e);
      });
    });
  }

  close(): void {
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
  }
}

/** The outcome of a call as "OK" or "<code> <message>", for table tests. */
export async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "OK";
  } catch (err) {
    const e = err as ServiceError;
    return `${e.code} ${e.details}`;
  }
}
