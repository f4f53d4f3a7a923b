/**
 * Lease calls for the fault tests: grant, time-to-live, revoke (unary, with deadlines)
 * and a keep-alive loop over the bidirectional LeaseKeepAlive stream that reopens the
 * stream when it breaks, as client libraries do.
 */
import { etcdserverpb } from "@chainfire/api";
import { credentials, Metadata } from "@grpc/grpc-js";
import type { EtcdGrpcClient } from "../harness/index.js";
import { delay } from "../harness/wait.js";

function leaseClient(conn: EtcdGrpcClient): etcdserverpb.LeaseClient {
  const address = conn.endpoint.replace(/^https?:\/\//, "");
  return new etcdserverpb.LeaseClient(address, credentials.createInsecure(), {
    channelOverride: conn.kv.getChannel(),
  });
}

function unary<Req, Res>(
  call: (
    req: Req,
    md: Metadata,
    opts: { deadline: number },
    cb: (e: Error | null, r: Res) => void,
  ) => unknown,
  req: Req,
  timeoutMs: number,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    call(req, new Metadata(), { deadline: Date.now() + timeoutMs }, (error, response) => {
      if (error) reject(error);
      else resolve(response);
    });
  });
}

export async function leaseGrant(
  conn: EtcdGrpcClient,
  ttlSec: number,
  timeoutMs = 5000,
): Promise<bigint> {
  const client = leaseClient(conn);
  const res = await unary<etcdserverpb.LeaseGrantRequest, etcdserverpb.LeaseGrantResponse>(
    client.leaseGrant.bind(client),
    etcdserverpb.LeaseGrantRequest.fromPartial({ TTL: BigInt(ttlSec) }),
    timeoutMs,
  );
  return res.ID;
}

/** Remaining TTL in seconds; -1 when the lease does not exist. */
export async function leaseTimeToLive(
  conn: EtcdGrpcClient,
  id: bigint,
  timeoutMs = 5000,
): Promise<number> {
  const client = leaseClient(conn);
  const res = await unary<
    etcdserverpb.LeaseTimeToLiveRequest,
    etcdserverpb.LeaseTimeToLiveResponse
  >(
    client.leaseTimeToLive.bind(client),
    etcdserverpb.LeaseTimeToLiveRequest.fromPartial({ ID: id }),
    timeoutMs,
  );
  return Number(res.TTL);
}

export async function leaseRevoke(
  conn: EtcdGrpcClient,
  id: bigint,
  timeoutMs = 5000,
): Promise<void> {
  const client = leaseClient(conn);
  await unary<etcdserverpb.LeaseRevokeRequest, etcdserverpb.LeaseRevokeResponse>(
    client.leaseRevoke.bind(client),
    etcdserverpb.LeaseRevokeRequest.fromPartial({ ID: id }),
    timeoutMs,
  );
}

/**
 * Sends a keep-alive for `id` every `intervalMs` until `signal` aborts, each on a fresh
 * LeaseKeepAlive stream with a deadline of `intervalMs` (a keep-alive stuck on a member
 * that forwards to a frozen leader must not hold back the next one); returns the times
 * (Date.now()) of answers with TTL > 0, and of answers with TTL <= 0 (the lease was gone).
 */
export async function keepAlive(
  conn: EtcdGrpcClient,
  id: bigint,
  intervalMs: number,
  signal: AbortSignal,
): Promise<{ alive: number[]; gone: number[] }> {
  const result = { alive: [] as number[], gone: [] as number[] };
  const client = leaseClient(conn);
  while (!signal.aborted) {
    const call = client.leaseKeepAlive({ deadline: Date.now() + intervalMs });
    const answered = new Promise<void>((resolve) => {
      call.on("data", (res: etcdserverpb.LeaseKeepAliveResponse) => {
        (res.TTL > 0n ? result.alive : result.gone).push(Date.now());
        resolve();
      });
      call.on("error", () => resolve());
      call.on("end", () => resolve());
    });
    call.write(etcdserverpb.LeaseKeepAliveRequest.fromPartial({ ID: id }));
    const started = Date.now();
    await answered;
    call.cancel();
    try {
      await delay(Math.max(0, intervalMs - (Date.now() - started)), signal);
    } catch {
      break;
    }
  }
  return result;
}
