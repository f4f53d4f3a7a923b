/**
 * The checks a run makes against the live cluster after healing: liveness, HashKV, the
 * lease workload's expiries, and the sentinel write that ends the watch workload.
 */
import type { Cluster } from "../harness/index.js";
import { describeError, pollUntil, StopPolling } from "../harness/wait.js";
import type { Connections } from "./connections.js";
import { errorText, hashKV, put } from "./kv-ops.js";
import { Recorder } from "./recorder.js";
import type { CheckResult } from "./report/report.js";
import type { RunOptions } from "./run.js";
import { checkKeptLease, type LeaseLog, unkeptPresent } from "./workloads/leases.js";
import { REGISTER_PREFIX } from "./workloads/register.js";

/** How long recovery may take after healing. */
export const LIVENESS_BOUND_MS = 30_000;

/** After healing: a leader, and a write that succeeds, within the bound. */
export async function liveness(
  cluster: Cluster,
  connections: Connections,
  recorder: Recorder,
  healedAt: number,
  opTimeoutMs: number,
): Promise<CheckResult> {
  try {
    await cluster.waitForLeader(LIVENESS_BOUND_MS);
    let attempt = 0;
    await pollUntil(
      async () => {
        const member = attempt++ % cluster.size;
        const probe = new Recorder();
        const op = await put(
          {
            client: -1,
            member,
            conn: connections.get(member),
            recorder: probe,
            timeoutMs: opTimeoutMs,
          },
          "/jepsen/liveness",
          `${attempt}`,
        );
        if (op.status !== "ok") throw new Error(op.error);
        return true;
      },
      {
        timeoutMs: Math.max(1000, LIVENESS_BOUND_MS - (recorder.now() - healedAt)),
        what: "a successful write after healing",
      },
    );
    const ms = Math.round(recorder.now() - healedAt);
    return {
      name: "liveness",
      status: "pass",
      detail: `leader and a successful write ${ms} ms after healing (bound ${LIVENESS_BOUND_MS} ms)`,
    };
  } catch (error) {
    return { name: "liveness", status: "fail", detail: describeError(error) };
  }
}

export async function waitAllHealthy(cluster: Cluster): Promise<void> {
  await Promise.all(
    Array.from({ length: cluster.size }, (_, i) => cluster.waitHealthy(i, LIVENESS_BOUND_MS)),
  );
}

/** HashKV at one revision on every member: equal hashes (skipped if unimplemented). */
export async function hashKvCheck(
  cluster: Cluster,
  connections: Connections,
  recorder: Recorder,
): Promise<CheckResult> {
  const status = await connections.get(0).status(5000);
  const revision = Number(status.header?.revision ?? 0n);
  const hashes: string[] = [];
  for (let i = 0; i < cluster.size; i++) {
    try {
      const res = await pollUntil(
        async () => {
          try {
            return await hashKV(connections.get(i), revision, 5000);
          } catch (error) {
            if (/UNIMPLEMENTED|not implemented|unknown method/i.test(errorText(error))) {
              throw new StopPolling(new Unimplemented(errorText(error)));
            }
            throw error;
          }
        },
        { timeoutMs: 15_000, what: `HashKV(${revision}) on n${i + 1}` },
      );
      hashes.push(`${res.hash}@compact${res.compactRevision}`);
    } catch (error) {
      if (error instanceof Unimplemented) {
        const why = `HashKV is not implemented by ${cluster.kind}: ${error.message}`;
        recorder.event(`hashkv skipped: ${why}`);
        return { name: "hashkv", status: "skipped", detail: why };
      }
      return { name: "hashkv", status: "fail", detail: describeError(error) };
    }
  }
  const equal = hashes.every((h) => h === hashes[0]);
  return {
    name: "hashkv",
    status: equal ? "pass" : "fail",
    detail: `HashKV at revision ${revision}: ${hashes.map((h, i) => `n${i + 1}=${h}`).join(", ")}`,
  };
}

class Unimplemented extends Error {}

/** The kept lease never expired early; every unkept lease is gone within a bound. */
export async function leaseCheck(
  cluster: Cluster,
  conns: Connections,
  log: LeaseLog,
  options: Pick<RunOptions, "leaseTtlSec" | "electionMs" | "size" | "clients" | "opTimeoutMs">,
): Promise<CheckResult> {
  const violations = checkKeptLease(log);
  const boundMs = options.leaseTtlSec * 1000 + options.electionMs * 3 + 10_000;
  let left: string[] = [];
  try {
    await pollUntil(
      async () => {
        left = await unkeptPresent(conns, cluster.size, log);
        return left.length === 0 ? true : undefined;
      },
      { timeoutMs: boundMs, intervalMs: 500, what: "every unkept lease to expire" },
    );
  } catch {
    violations.push(
      `unkept leases not expired ${boundMs} ms after the restart: ${left.slice(0, 5).join(", ")}${left.length > 5 ? ", …" : ""}`,
    );
  }
  const answered = log.keepAlives.filter((k) => k.answered !== undefined).length;
  return {
    name: "leases",
    status: violations.length === 0 ? "pass" : "fail",
    detail:
      violations.length === 0
        ? `kept lease (TTL ${log.ttlSec} s): ${answered}/${log.keepAlives.length} keep-alives answered, its key read ${log.reads.length} times, never gone early; ${log.unkept.length} unkept leases all expired`
        : violations.join("\n"),
  };
}

/** Writes the sentinel key (retrying: the cluster is healed); returns its revision. */
export async function sentinel(
  conns: Connections,
  recorder: Recorder,
  options: Pick<RunOptions, "leaseTtlSec" | "electionMs" | "size" | "clients" | "opTimeoutMs">,
): Promise<number> {
  let attempt = 0;
  return pollUntil(
    async () => {
      const member = attempt++ % options.size;
      const s = {
        client: options.clients + 2 * options.size,
        member,
        conn: conns.get(member),
        recorder,
        timeoutMs: options.opTimeoutMs,
      };
      const op = await put(s, `${REGISTER_PREFIX}~end`, `end.${attempt}`);
      return op.status === "ok" ? op.rev : undefined;
    },
    { timeoutMs: LIVENESS_BOUND_MS, what: "the final write" },
  );
}

/** The check a run records when it threw; the members' log tails go to `log`. */
export function runFailed(
  error: unknown,
  cluster: Cluster | undefined,
  log: (line: string) => void,
): CheckResult {
  if (cluster) log(cluster.logTails(30));
  return { name: "run", status: "fail", detail: `the run itself failed: ${describeError(error)}` };
}

/** Closes the cluster, then the network namespaces; a cluster that fails to close is logged. */
export async function closeRun(
  cluster: Cluster | undefined,
  net: { close(): Promise<void> } | undefined,
  log: (line: string) => void,
): Promise<void> {
  await cluster
    ?.close()
    .catch((error: unknown) => log(`closing the cluster: ${describeError(error)}`));
  await net?.close();
}
