/**
 * Opening a member's data directory and bootstrapping it.
 *
 * Layout: `<data-dir>/member/db` is the RocksDB database (with `db.restoring`,
 * `db.restored`, `db.old` next to it during a snapshot install, see storage's restore).
 *
 * New cluster (--initial-cluster-state new, empty data dir). Every member of
 * --initial-cluster writes the SAME initial state, so all logs are identical from the
 * start: the membership (ids from ids.ts, etcd's scheme) and a ConfState with every
 * initial member as a voter in the meta store, applied index 1 (term 1), and a raft log
 * that starts after an (empty-data) snapshot at index 1, term 1 with that ConfState, with
 * HardState {term 1, commit 1}. The first election is in term 2. A member added later
 * (empty log) is behind the first index 2, so the leader sends it a state snapshot that
 * carries the membership: nobody ever has to replay a bootstrap from the log.
 *
 * Joining (--initial-cluster-state existing, empty data dir): the member asks the peers in
 * --initial-cluster (Hello) for the cluster id and membership, finds itself by its peer
 * URLs (it must have been added with `member add` first), and starts with an empty log and
 * configuration; the leader brings it up to date with a snapshot.
 *
 * Restart (data dir exists): --initial-cluster is ignored; HardState, log, snapshot and
 * meta are reloaded. A member that was removed from the cluster is refused
 * (member-removal.ts). A data dir that plainly belongs to another cluster (neither its
 * cluster id nor its member id match what the flags describe) is refused.
 */

import path from "node:path";
import { peerpb } from "@chainfire/api";
import { type ConfState, emptyConfState } from "@chainfire/raft";
import {
  Engine,
  type EngineOptions,
  LeaseStore,
  type Member,
  MetaStore,
  MvccStore,
  RaftLogStore,
  recoverDbDir,
} from "@chainfire/storage";
import { type ChannelCredentials, credentials, Metadata } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { AlarmStore } from "./apply/alarms.js";
import { AuthStore } from "./auth/auth-store.js";
import { computeClusterId, computeMemberId, formatId } from "./ids.js";
import type { MemberOptions } from "./member-options.js";
import { MemberRemovedError, readRemovalMarker } from "./member-removal.js";
import { PEER_CHANNEL_OPTIONS, PROTOCOL_VERSION } from "./transport/peer-connection.js";
import { grpcTarget } from "./transport/urls.js";

/** The index and term of the bootstrap snapshot every new cluster's log starts after. */
export const BOOTSTRAP_INDEX = 1;
export const BOOTSTRAP_TERM = 1;

/** The member cannot start with these options and this data dir (a clear message). */
export class BootstrapError extends Error {
  override readonly name = "BootstrapError";
}

/** A member's open storage. */
export interface MemberStorage {
  readonly engine: Engine;
  readonly log: RaftLogStore;
  readonly meta: MetaStore;
  readonly leases: LeaseStore;
  readonly store: MvccStore;
  readonly alarms: AlarmStore;
  /** Users, roles, auth on/off (auth/auth-store.ts). */
  readonly auth: AuthStore;
}

/** The database directory of a data dir. */
export function dbDirOf(dataDir: string): string {
  return path.join(dataDir, "member", "db");
}

/**
 * RocksDB knobs for diagnosis and A/B runs, from the environment (not flags: an operator
 * should not need them): `CHAINFIRE_ROCKSDB_LOG=debug|info|warn|error` writes RocksDB's
 * own LOG file in the database directory (flushes, compactions, write stalls);
 * `CHAINFIRE_ROCKSDB_THREADS=N` (1-64) sets its background threads (default 2). A value
 * outside those is ignored, with a warning in `warnings`.
 */
export function engineOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): {
  options: EngineOptions;
  warnings: string[];
} {
  const options: EngineOptions = {};
  const warnings: string[] = [];
  const level = env.CHAINFIRE_ROCKSDB_LOG;
  if (level === "debug" || level === "info" || level === "warn" || level === "error") {
    options.infoLogLevel = level;
  } else if (level !== undefined) {
    warnings.push(`CHAINFIRE_ROCKSDB_LOG=${level} ignored (debug, info, warn or error)`);
  }
  const raw = env.CHAINFIRE_ROCKSDB_THREADS;
  const threads = Number(raw);
  if (raw !== undefined && Number.isInteger(threads) && threads >= 1 && threads <= 64) {
    options.backgroundThreads = threads;
  } else if (raw !== undefined) {
    warnings.push(`CHAINFIRE_ROCKSDB_THREADS=${raw} ignored (a whole number from 1 to 64)`);
  }
  return { options, warnings };
}

/** Opens (creating if needed) the database of `dbDir` and every store on it. */
export async function openStorage(dbDir: string, logger: Logger): Promise<MemberStorage> {
  const recovered = await recoverDbDir(dbDir);
  if (recovered !== "none")
    logger.warn({ dbDir, recovered }, "finished an interrupted snapshot install");
  const { options, warnings } = engineOptionsFromEnv();
  for (const w of warnings) logger.warn(w);
  const engine = await Engine.open(dbDir, options);
  try {
    const meta = await MetaStore.open(engine);
    const log = RaftLogStore.open(engine, { appliedConfState: () => meta.confState });
    const leases = await LeaseStore.open(engine);
    const store = MvccStore.open(engine, { leaseExists: (id) => leases.has(id) });
    const alarms = AlarmStore.load(engine);
    const auth = AuthStore.load(engine);
    return { engine, log, meta, leases, store, alarms, auth };
  } catch (err) {
    await engine.close().catch(() => {});
    throw err;
  }
}

/** Closes the stores and the database. */
export async function closeStorage(s: MemberStorage): Promise<void> {
  s.log.close();
  await s.engine.close();
}

/** The initial members described by --initial-cluster, sorted by id. */
export function initialMembers(o: MemberOptions): Member[] {
  const members: Member[] = [];
  const seen = new Map<bigint, string>();
  for (const [name, urls] of o.initialCluster) {
    if (urls.length === 0)
      throw new BootstrapError(`--initial-cluster: member ${name} has no peer URLs`);
    const id = computeMemberId(urls, o.initialClusterToken);
    const dup = seen.get(id);
    if (dup !== undefined) {
      throw new BootstrapError(
        `--initial-cluster: members ${dup} and ${name} have the same peer URLs`,
      );
    }
    seen.set(id, name);
    members.push({ id, name, peerURLs: [...urls].sort(), clientURLs: [], isLearner: false });
  }
  return members.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function sameUrls(a: readonly string[], b: readonly string[]): boolean {
  const x = [...a].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((u, i) => u === y[i]);
}

/** The result of {@link bootstrap}. */
export interface BootstrapResult {
  memberId: bigint;
  clusterId: bigint;
  /** "new": a new cluster's member; "join": joined an existing cluster; "restart". */
  how: "new" | "join" | "restart";
}

/** Bootstraps an empty data dir or checks an existing one; see the module comment. */
export async function bootstrap(
  s: MemberStorage,
  o: MemberOptions,
  logger: Logger,
  dial: (url: string) => ChannelCredentials = () => credentials.createInsecure(),
): Promise<BootstrapResult> {
  const { meta } = s;
  if (!meta.isNew) return checkRestart(s, o, logger);
  if (o.initialClusterState === "existing") return join(s, o, logger, dial);
  const members = initialMembers(o);
  const self = members.find((m) => m.name === o.name);
  if (self === undefined) {
    throw new BootstrapError(
      `--initial-cluster has no member named ${JSON.stringify(o.name)} (--name)`,
    );
  }
  if (!sameUrls(self.peerURLs, o.initialAdvertisePeerUrls)) {
    throw new BootstrapError(
      `--initial-advertise-peer-urls (${o.initialAdvertisePeerUrls.join(",")}) do not match ` +
        `--initial-cluster for ${o.name} (${self.peerURLs.join(",")})`,
    );
  }
  const clusterId = computeClusterId(members.map((m) => m.id));
  const confState: ConfState = { ...emptyConfState(), voters: members.map((m) => m.id) };
  const batch = s.engine.batch();
  try {
    meta.bootstrap(batch, { clusterId, memberId: self.id, members, confState });
    meta.setApplied(batch, BOOTSTRAP_INDEX, BOOTSTRAP_TERM);
    s.log.save(batch, {
      snapshot: {
        metadata: { index: BOOTSTRAP_INDEX, term: BOOTSTRAP_TERM, confState },
        data: new Uint8Array(0),
      },
      hardState: { term: BOOTSTRAP_TERM, vote: 0n, commit: BOOTSTRAP_INDEX },
    });
    await s.engine.write(batch, { sync: true });
    s.log.commit(batch);
    meta.commit(batch);
  } finally {
    batch.close();
  }
  logger.info(
    {
      memberId: formatId(self.id),
      clusterId: formatId(clusterId),
      members: members.map((m) => `${m.name}=${formatId(m.id)}`),
    },
    "bootstrapped a new cluster member",
  );
  return { memberId: self.id, clusterId, how: "new" };
}

function checkRestart(s: MemberStorage, o: MemberOptions, logger: Logger): BootstrapResult {
  const { meta } = s;
  const memberId = meta.memberId;
  const clusterId = meta.clusterId;
  if (memberId === 0n || clusterId === 0n) {
    throw new BootstrapError(
      "the data dir has no member or cluster id (an interrupted bootstrap?)",
    );
  }
  // A removed member never comes back on the same data dir (member-removal.ts).
  if (meta.isRemoved(memberId) || readRemovalMarker(o.dataDir) !== undefined) {
    throw new MemberRemovedError(memberId, clusterId, o.dataDir);
  }
  if (o.initialClusterState === "new" && o.initialCluster.size > 0) {
    let flagsCluster: bigint | undefined;
    let flagsMember: bigint | undefined;
    try {
      const members = initialMembers(o);
      flagsCluster = computeClusterId(members.map((m) => m.id));
      flagsMember = members.find((m) => m.name === o.name)?.id;
    } catch {
      // flags that do not describe a cluster are simply ignored on restart
    }
    if (flagsCluster !== undefined && flagsCluster !== clusterId && flagsMember !== memberId) {
      throw new BootstrapError(
        `the data dir belongs to cluster ${formatId(clusterId)} (member ${formatId(memberId)}), ` +
          `but --initial-cluster/--initial-cluster-token describe cluster ${formatId(flagsCluster)}` +
          (flagsMember !== undefined ? ` (member ${formatId(flagsMember)})` : "") +
          "; refusing to start (use the right --data-dir, or an empty one for a new member)",
      );
    }
  }
  logger.info(
    {
      memberId: formatId(memberId),
      clusterId: formatId(clusterId),
      appliedIndex: meta.appliedIndex,
      lastIndex: s.log.lastIndex(),
    },
    "restarting member from its data dir (--initial-cluster ignored)",
  );
  return { memberId, clusterId, how: "restart" };
}

async function join(
  s: MemberStorage,
  o: MemberOptions,
  logger: Logger,
  dial: (url: string) => ChannelCredentials,
): Promise<BootstrapResult> {
  const peers = [...o.initialCluster]
    .filter(([name]) => name !== o.name)
    .flatMap(([, urls]) => urls);
  if (peers.length === 0) {
    throw new BootstrapError(
      "--initial-cluster-state existing needs the other members in --initial-cluster",
    );
  }
  let answer: peerpb.HelloResponse | undefined;
  const errors: string[] = [];
  for (const url of peers) {
    try {
      answer = await hello(url, o, dial);
      break;
    } catch (err) {
      errors.push(`${url}: ${(err as Error).message}`);
    }
  }
  if (answer === undefined) {
    throw new BootstrapError(
      `cannot reach any member of the existing cluster (${errors.join("; ")})`,
    );
  }
  const self = answer.members.find((m) => sameUrls(m.peerUrls, o.initialAdvertisePeerUrls));
  if (self === undefined) {
    throw new BootstrapError(
      `this member (peer URLs ${o.initialAdvertisePeerUrls.join(",")}) is not a member of cluster ` +
        `${formatId(answer.clusterId)}; add it with "member add" first`,
    );
  }
  const batch = s.engine.batch();
  try {
    // The membership as the peer knows it, so the transport can reach everyone until the
    // leader's snapshot (which a joining member always gets: its log is empty) replaces it.
    s.meta.bootstrap(batch, {
      clusterId: answer.clusterId,
      memberId: self.id,
      members: answer.members.map((m) => ({
        id: m.id,
        name: m.name,
        peerURLs: m.peerUrls,
        clientURLs: m.clientUrls,
        isLearner: m.isLearner,
      })),
      confState: emptyConfState(),
    });
    await s.engine.write(batch, { sync: true });
    s.meta.commit(batch);
  } finally {
    batch.close();
  }
  logger.info(
    { memberId: formatId(self.id), clusterId: formatId(answer.clusterId) },
    "joining an existing cluster; waiting for the leader's snapshot",
  );
  return { memberId: self.id, clusterId: answer.clusterId, how: "join" };
}

async function hello(
  url: string,
  o: MemberOptions,
  dial: (url: string) => ChannelCredentials,
): Promise<peerpb.HelloResponse> {
  const client = new peerpb.PeerClient(grpcTarget(url), dial(url), PEER_CHANNEL_OPTIONS);
  return new Promise<peerpb.HelloResponse>((resolve, reject) => {
    client.hello(
      peerpb.HelloRequest.fromPartial({
        clusterId: 0n,
        memberId: 0n,
        name: o.name,
        peerUrls: o.initialAdvertisePeerUrls,
        clientUrls: o.advertiseClientUrls,
        protocolVersion: PROTOCOL_VERSION,
      }),
      new Metadata(),
      { deadline: Date.now() + 3_000 },
      (err, resp) => (err || !resp ? reject(err ?? new Error("no answer")) : resolve(resp)),
    );
  }).finally(() => client.close());
}
