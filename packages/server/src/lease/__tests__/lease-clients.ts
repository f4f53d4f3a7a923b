/**
 * Raw gRPC helpers for the lease tests: promisified Lease calls, one-shot keep-alives, a
 * keep-alive loop that fails over to another member like a client does, and the events
 * of a key range read back from history with a Watch.
 */
import { etcdserverpb, mvccpb } from "@chainfire/api";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import type { TestCluster } from "../../__tests__/cluster.js";

const b = (s: string) => Buffer.from(s);

/** One Lease client per member URL, closed by {@link closeLeaseClients}. */
const clients = new Map<string, etcdserverpb.LeaseClient>();

export function leaseClient(c: TestCluster, i: number): etcdserverpb.LeaseClient {
  const url = c.slots[i].clientUrl;
  let client = clients.get(url);
  if (client === undefined) {
    client = new etcdserverpb.LeaseClient(url.replace("http://", ""), credentials.createInsecure());
    clients.set(url, client);
  }
  return client;
}

export function closeLeaseClients(): void {
  for (const client of clients.values()) client.close();
  clients.clear();
}

type Cb<Res> = (e: ServiceError | null, r?: Res) => void;
type Fn<Req, Res> = (req: Req, md: Metadata, opts: { deadline: number }, cb: Cb<Res>) => unknown;

function unary<Req, Res>(
  client: etcdserverpb.LeaseClient,
  fn: Fn<Req, Res>,
  req: Req,
  timeoutMs: number,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn.call(client, req, new Metadata(), { deadline: Date.now() + timeoutMs }, (e, r) =>
      e ? reject(e) : resolve(r as Res),
    );
  });
}

/** Promisified Lease calls against member `i`. */
export function lease(c: TestCluster, i: number, timeoutMs = 5_000) {
  const client = leaseClient(c, i);
  return {
    grant: (TTL: bigint, ID = 0n) =>
      unary<etcdserverpb.LeaseGrantRequest, etcdserverpb.LeaseGrantResponse>(
        client,
        client.leaseGrant as never,
        { TTL, ID },
        timeoutMs,
      ),
    revoke: (ID: bigint) =>
      unary<etcdserverpb.LeaseRevokeRequest, etcdserverpb.LeaseRevokeResponse>(
        client,
        client.leaseRevoke as never,
        { ID },
        timeoutMs,
      ),
    timeToLive: (ID: bigint, keys = false) =>
      unary<etcdserverpb.LeaseTimeToLiveRequest, etcdserverpb.LeaseTimeToLiveResponse>(
        client,
        client.leaseTimeToLive as never,
        { ID, keys },
        timeoutMs,
      ),
    leases: () =>
      unary<etcdserverpb.LeaseLeasesRequest, etcdserverpb.LeaseLeasesResponse>(
        client,
        client.leaseLeases as never,
        {},
        timeoutMs,
      ),
    /** One keep-alive on a fresh stream: the TTL answered. */
    keepAliveOnce: (ID: bigint) => keepAliveOnce(client, ID, timeoutMs),
  };
}

/** Opens a keep-alive stream, sends one request, returns the answer and half-closes. */
export function keepAliveOnce(
  client: etcdserverpb.LeaseClient,
  ID: bigint,
  timeoutMs: number,
): Promise<etcdserverpb.LeaseKeepAliveResponse> {
  return new Promise((resolve, reject) => {
    const call = client.leaseKeepAlive(new Metadata(), { deadline: Date.now() + timeoutMs });
    let done = false;
    call.on("data", (r: etcdserverpb.LeaseKeepAliveResponse) => {
      if (done) return;
      done = true;
      call.end();
      resolve(r);
    });
    call.on("error", (e) => {
      if (!done) reject(e);
      done = true;
    });
    call.on("end", () => {
      if (!done) reject(new Error("keep-alive stream ended without an answer"));
      done = true;
    });
    call.write({ ID });
  });
}

/**
 * Keeps lease `id` alive every `intervalMs` through member `start`, moving on to the
 * next running member whenever a keep-alive fails (as clients do). Records every TTL
 * answered and every failure.
 */
export function keeper(c: TestCluster, id: bigint, start: number, intervalMs: number) {
  const ttls: bigint[] = [];
  const failures: string[] = [];
  let stopped = false;
  let at = start;
  const loop = (async () => {
    while (!stopped) {
      const up = c.running();
      if (up.length === 0) break; // the cluster is gone (a failed test's teardown)
      if (!up.includes(at)) at = up[0];
      try {
        const r = await keepAliveOnce(leaseClient(c, at), id, 2_000);
        ttls.push(r.TTL);
      } catch (err) {
        failures.push(`${c.slots[at]?.name ?? at}: ${(err as Error).message}`);
        at = up[(up.indexOf(at) + 1) % up.length];
        continue; // retry at once on the next member
      }
      // Pacing a client, not synchronisation.
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    ttls,
    failures,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** The events of [key, rangeEnd) from `startRevision` on, read back with a Watch. */
export function historyEvents(
  c: TestCluster,
  i: number,
  key: string,
  rangeEnd: string,
  startRevision: bigint,
  count: number,
  timeoutMs = 5_000,
): Promise<{ type: "PUT" | "DELETE"; key: string; revision: bigint }[]> {
  const client = new etcdserverpb.WatchClient(
    c.slots[i].clientUrl.replace("http://", ""),
    credentials.createInsecure(),
  );
  return new Promise((resolve, reject) => {
    const call = client.watch(new Metadata(), { deadline: Date.now() + timeoutMs });
    const events: { type: "PUT" | "DELETE"; key: string; revision: bigint }[] = [];
    const finish = (err?: Error) => {
      call.cancel();
      client.close();
      if (err) reject(err);
      else resolve(events);
    };
    call.on("data", (r: etcdserverpb.WatchResponse) => {
      for (const e of r.events) {
        events.push({
          type: e.type === mvccpb.Event_EventType.DELETE ? "DELETE" : "PUT",
          key: e.kv?.key.toString() ?? "",
          revision: e.kv?.modRevision ?? 0n,
        });
      }
      if (events.length >= count) finish();
    });
    call.on("error", (e) => {
      if (events.length < count) finish(e);
    });
    call.write(
      etcdserverpb.WatchRequest.fromPartial({
        requestUnion: {
          $case: "createRequest",
          value: { key: b(key), rangeEnd: b(rangeEnd), startRevision },
        },
      }),
    );
  });
}
