/**
 * Helpers of membership.test.ts: members started after the cluster (`member add` then
 * --initial-cluster-state existing), etcdctl's membership commands, a background writer.
 */
import { join } from "node:path";
import { etcdctl, parseJsonBig } from "../compat/etcdctl.js";
import {
  allocatePorts,
  bytes,
  type Cluster,
  EtcdGrpcClient,
  Member,
  pollUntil,
  prefixEnd,
  StopPolling,
} from "../harness/index.js";

/** etcdctl against every running member of `c` (and the extra members given). */
export function endpointsOf(c: Cluster, extra: readonly Member[] = []): string[] {
  return [...c.members, ...extra].filter((m) => m.state === "running").map((m) => m.clientUrl);
}

/** `etcdctl member add`: the new member's id and etcdctl's ETCD_INITIAL_CLUSTER line. */
export async function memberAdd(
  endpoints: readonly string[],
  name: string,
  peerUrl: string,
  learner: boolean,
): Promise<{ id: string; initialCluster: string }> {
  const args = ["member", "add", name, `--peer-urls=${peerUrl}`];
  if (learner) args.push("--learner");
  const r = await etcdctl(endpoints, args);
  if (r.code !== 0) throw new Error(`etcdctl member add failed: ${r.errorText}`);
  const id = /Member\s+([0-9a-f]+) added to cluster/.exec(r.stdout)?.[1];
  const initialCluster = /ETCD_INITIAL_CLUSTER="([^"]*)"/.exec(r.stdout)?.[1];
  if (id === undefined || initialCluster === undefined) {
    throw new Error(`unexpected etcdctl member add output: ${r.stdout}`);
  }
  if (!r.stdout.includes('ETCD_INITIAL_CLUSTER_STATE="existing"')) {
    throw new Error(`etcdctl member add did not print the existing state: ${r.stdout}`);
  }
  return { id, initialCluster };
}

/** `etcdctl member list -w json`: members by hex id. */
export async function memberList(
  endpoints: readonly string[],
): Promise<Map<string, { name: string; peerURLs: string[]; isLearner: boolean }>> {
  const r = await etcdctl(endpoints, ["member", "list", "-w", "json"]);
  if (r.code !== 0) throw new Error(`etcdctl member list failed: ${r.errorText}`);
  const body = JSON.parse(r.stdout.replace(/("ID":)(\d+)/g, '$1"$2"')) as {
    members: Array<{ ID: string; name?: string; peerURLs?: string[]; isLearner?: boolean }>;
  };
  return new Map(
    body.members.map((m) => [
      BigInt(m.ID).toString(16),
      { name: m.name ?? "", peerURLs: m.peerURLs ?? [], isLearner: m.isLearner === true },
    ]),
  );
}

/**
 * A member process for a member added at runtime: same token and timing flags as the
 * cluster, its own ports and data dir under the cluster's dir (removed with it).
 */
export async function newMember(
  c: Cluster,
  index: number,
  name: string,
  extraArgs: string[] = [],
): Promise<Member> {
  const [clientPort, peerPort, metricsPort] = await allocatePorts(3);
  const base = c.member(0).config;
  return new Member(index, {
    kind: "chainfire",
    name,
    dataDir: join(c.dir, name, "data"),
    logFile: join(c.dir, `${name}.log`),
    clientPort,
    peerPort,
    metricsPort,
    initialCluster: "",
    initialClusterState: "existing",
    initialClusterToken: base.initialClusterToken,
    heartbeatMs: base.heartbeatMs,
    electionMs: base.electionMs,
    snapshotCount: base.snapshotCount,
    extraArgs,
    nodeArgs: [],
  });
}

/** The same member (data dir, client and metrics ports) on another peer port. */
export function movedMember(m: Member, peerPort: number): Member {
  return new Member(m.index, { ...m.config, peerPort });
}

/** Writers over the given clients; records the keys whose put was acknowledged. */
export function writeLoad(c: Cluster, members: readonly number[], prefix: string) {
  const acked: string[] = [];
  let stop = false;
  let seq = 0;
  const loops = Array.from({ length: 4 }, async (_, w) => {
    while (!stop) {
      const i = members[(seq + w) % members.length];
      const key = `${prefix}/${w}/${String(seq++).padStart(6, "0")}`;
      try {
        await c.client(i).put({ key: bytes(key), value: bytes(key) }, 5_000);
        acked.push(key);
      } catch {
        // not acknowledged: it may or may not exist; the check only needs acknowledged ones
      }
    }
  });
  return {
    acked,
    /** Waits until `n` more puts have been acknowledged. */
    async more(n: number, timeoutMs = 60_000) {
      const target = acked.length + n;
      await pollUntil(() => (acked.length >= target ? true : undefined), {
        timeoutMs,
        what: `${n} more acknowledged writes`,
      });
    },
    async stop() {
      stop = true;
      await Promise.all(loops);
    },
  };
}

/** Polls until the member's log has a line containing `text`. */
export function waitLog(m: Member, text: string, timeoutMs = 30_000): Promise<true> {
  return pollUntil(
    () => {
      if (m.logTail(400).includes(text)) return true;
      if (m.state === "exited") {
        throw new StopPolling(new Error(`${m.name} exited:\n${m.logTail(20)}`));
      }
      return undefined;
    },
    {
      timeoutMs,
      what: `"${text}" in ${m.name}'s log`,
    },
  );
}

/** The leader's id (hex) as `etcdctl endpoint status` reports it; undefined if none agree. */
export async function leaderOf(endpoints: readonly string[]): Promise<string | undefined> {
  const r = await etcdctl(endpoints, ["endpoint", "status", "-w", "json"]);
  if (r.code !== 0) return undefined;
  const rows = parseJsonBig(r.stdout) as Array<{ Status: { leader: number | string } }>;
  const leaders = new Set(rows.map((x) => BigInt(x.Status.leader).toString(16)));
  if (leaders.size !== 1) return undefined;
  const [leader] = leaders;
  return leader === "0" ? undefined : leader;
}

/** Polls {@link leaderOf} until every endpoint names the same leader. */
export function waitLeader(endpoints: readonly string[], timeoutMs = 30_000): Promise<string> {
  return pollUntil(() => leaderOf(endpoints), { timeoutMs, what: "an agreed leader" });
}

/** Polls until `m` has every key of `acked` (all under `prefix`), read serializably. */
export async function expectAcked(m: Member, prefix: string, acked: readonly string[]) {
  const client = new EtcdGrpcClient(m.clientUrl);
  const missing: string[] = [];
  try {
    await pollUntil(
      async () => {
        missing.length = 0;
        const all = await client.range(
          { key: bytes(prefix), rangeEnd: prefixEnd(bytes(prefix)), serializable: true },
          10_000,
        );
        const have = new Set(all.kvs.map((kv) => kv.key.toString()));
        for (const k of acked) if (!have.has(k)) missing.push(k);
        return missing.length === 0 ? true : undefined;
      },
      { timeoutMs: 30_000, what: `every acknowledged write on ${m.name}` },
    );
  } catch {
    throw new Error(
      `${m.name} lacks ${missing.length} acknowledged writes: ${missing.slice(0, 5)}`,
    );
  } finally {
    client.close();
  }
}

/** Polls until every endpoint reports HashKV at one revision; the hashes must agree. */
export async function expectSameHashKV(endpoints: readonly string[]) {
  const hashes = await pollUntil(
    async () => {
      const r = await etcdctl(endpoints, ["endpoint", "hashkv", "-w", "json"]);
      if (r.code !== 0) return undefined;
      const rows = parseJsonBig(r.stdout) as Array<{
        HashKV: { header: { revision: number | string }; hash: number | string };
      }>;
      if (rows.length !== endpoints.length) return undefined;
      const revs = new Set(rows.map((x) => String(x.HashKV.header.revision)));
      return revs.size === 1 ? rows.map((x) => String(x.HashKV.hash)) : undefined;
    },
    { timeoutMs: 30_000, what: "HashKV of every member at one revision" },
  );
  if (new Set(hashes).size !== 1) throw new Error(`HashKV differs: ${hashes.join(", ")}`);
}
