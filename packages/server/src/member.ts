/**
 * Member: one running Chainfire member — storage, raft (driven by {@link RaftDriver}), the
 * peer transport, the client gRPC server — and the {@link MemberContext} its services use.
 *
 * ```ts
 * const member = await Member.start(options, { logger });   // listening, raft running
 * await member.ready;                                      // published, serving
 * await member.close();                                    // graceful, idempotent
 * ```
 *
 * See docs/architecture.md ("The member process") for the design; the pieces:
 * bootstrap.ts (data dir), raft-driver.ts (the Ready loop), raft-driver-proposer.ts
 * (proposals and waiters), apply/ (entries → state), read-index.ts (linearizable reads),
 * transport/ (peers), snapshot.ts (installing a leader's snapshot), services/kv.ts.
 */
import {
  ErrBadLeaderTransferee,
  ErrCanceled,
  ErrNotLeader,
  ErrStopped,
  ErrTimeout,
  EtcdError,
  type etcdserverpb,
} from "@chainfire/api";
import {
  BugIndicatingError,
  type Message,
  ProposalDroppedError,
  type SoftState,
  StateType,
  StepLocalMessageError,
  StepPeerNotFoundError,
} from "@chainfire/raft";
import {
  createStateSnapshot,
  hashState,
  type LeaseStore,
  type MvccStore,
  type StateSnapshot,
} from "@chainfire/storage";
import { type ChannelCredentials, Server } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { applyEntriesSteps } from "./apply/applier.js";
import { type CertificateCommonName, MemberAuth } from "./auth/member-auth.js";
import { parseTokenOption, TokenManager } from "./auth/tokens.js";
import { runAutoPromote } from "./auto-promote.js";
import {
  type BootstrapResult,
  bootstrap,
  closeStorage,
  dbDirOf,
  type MemberStorage,
  openStorage,
} from "./bootstrap.js";
import { type ClientListener, listenForClients } from "./client-listener.js";
import { formatId } from "./ids.js";
import { Lessor } from "./lease/lessor.js";
import { type LessorOptions, minLeaseTtl } from "./lease/options.js";
import { createLogger } from "./log.js";
import type {
  AppliedEvent,
  ApplyResultOf,
  Event,
  LeaderChangeEvent,
  MemberContext,
  MemberInfo,
  MemberStatus,
  ProposalRequest,
} from "./member-context.js";
import { defragment, logCompactTarget } from "./member-defrag.js";
import { delay, Emitter, sameUrls } from "./member-events.js";
import { FORWARD_AUTO_PROMOTE, FORWARD_PROMOTE, Membership } from "./member-membership.js";
import type { MemberOptions } from "./member-options.js";
import { writeRemovalMarker } from "./member-removal.js";
import { MemberMetrics } from "./metrics.js";
import { BackendQuota, NoSpaceGuard } from "./quota.js";
import { type DriverState, RaftDriver, walSyncInlineMaxEntries } from "./raft-driver.js";
import { electionTicks, newRawNode, seededRandom } from "./raft-driver-config.js";
import { Proposer } from "./raft-driver-proposer.js";
import { ReadIndexBatcher } from "./read-index.js";
import { withUnaryFastPath } from "./services/fast-unary.js";
import { clientServerOptions, registerClientServices } from "./services/index.js";
import { type CallWithPeer, certificateCommonName } from "./services/tls-identity.js";
import { SnapshotReceiver } from "./snapshot.js";
import { loadMemberTls, type MemberTls } from "./tls/member-tls.js";
import { shutdownServer, Transport } from "./transport/transport.js";
import { CHAINFIRE_VERSION } from "./version.js";

/** Optional collaborators and tuning of {@link Member.start} (tests set these). */
export interface MemberDeps {
  logger?: Logger;
  metrics?: MemberMetrics;
  /** raft's random source (election timeouts). Default: seeded from the member id and time. */
  random?: () => number;
  /** Entries kept behind a raft snapshot for slow followers. Default 5000 (etcd). */
  snapshotCatchUpEntries?: number;
  /** Applied entry bytes between raft snapshots, and entry bytes kept behind one for slow
   * followers (log-retention.ts). Default 64 MiB each. */
  snapshotBytes?: number;
  snapshotCatchUpBytes?: number;
  /** Request timeout. Default 5 s + 2 election timeouts (etcd). */
  requestTimeoutMs?: number;
  /** Bound on the graceful parts of close(). Default 5 s. */
  closeTimeoutMs?: number;
  /** Lessor tuning (lease/options.ts): checkpoint interval, clock, ... */
  lessor?: Partial<LessorOptions>;
  /**
   * The common name of a call's verified client certificate (TLS --client-cert-auth);
   * used as the user when a call carries no token. Default: none.
   */
  certificateCommonName?: CertificateCommonName;
  /** Revision-log entries per physical compaction step. Default 10 000 (storage). */
  compactionStepEntries?: number;
}

/** etcd's SnapshotCatchUpEntries. */
export const DEFAULT_CATCH_UP_ENTRIES = 5000;

export class Member implements MemberContext {
  readonly id: bigint;
  readonly clusterId: bigint;
  readonly name: string;
  readonly options: MemberOptions;
  readonly logger: Logger;
  readonly metrics: MemberMetrics;
  readonly lessor: Lessor;
  readonly auth: MemberAuth;
  readonly ready: Promise<void>;
  readonly stopping: AbortSignal;
  /** Resolves when the member has stopped (closed, or failed fatally). */
  readonly closed: Promise<void>;
  /** How the data dir was opened. */
  readonly bootstrapped: BootstrapResult["how"];

  readonly #stop = new AbortController();
  readonly #deps: MemberDeps;
  readonly #electionTick: number;
  readonly #requestTimeoutMs: number;
  readonly #random: () => number;
  #storage: MemberStorage;
  readonly #driver: RaftDriver;
  readonly #transport: Transport;
  readonly #readIndex: ReadIndexBatcher;
  readonly #proposer: Proposer;
  /** The last committed index raft reported (for the apply-lag backpressure). */
  #committedIndex = 0;
  readonly #membership: Membership;
  readonly #tls: MemberTls;
  #clientServer: Server | null = null;
  #services: { dispose(): void } | null = null;
  #clientListener: ClientListener | null = null;
  #tickTimer: NodeJS.Timeout | null = null;
  #lead = 0n;
  #isLeader = false;
  #term = 0;
  #leaderElectedAt = 0;
  readonly #snapshots: SnapshotReceiver;
  /** Physical compactions and defragments, one at a time, in order. */
  #compaction: Promise<void> = Promise.resolve();
  #defragmenting = false;
  readonly #noSpace: NoSpaceGuard;
  #closing: Promise<void> | null = null;
  #fatal: unknown;
  #removed: string | undefined;
  #resolveReady!: () => void;
  #resolveClosed!: () => void;
  readonly #leaderChange: Emitter<LeaderChangeEvent>;
  readonly #applied: Emitter<AppliedEvent>;
  readonly onLeaderChange: Event<LeaderChangeEvent>;
  readonly onApplied: Event<AppliedEvent>;

  /**
   * Opens the data dir (bootstrapping it if empty), starts raft, the peer transport and
   * the client server. Resolves once listening; {@link ready} resolves once the member has
   * published itself to the cluster. Rejects (with everything closed) on a bad data dir or
   * a port that cannot be bound.
   */
  static async start(options: MemberOptions, deps: MemberDeps = {}): Promise<Member> {
    const logger =
      deps.logger ??
      createLogger({ level: options.logLevel, format: "json", base: { name: options.name } });
    // A bad --auth-token (unknown type, unreadable or mismatched keys) refuses to start.
    const tokens = new TokenManager(parseTokenOption(options.authToken), options.authTokenTtl);
    const tls = await loadMemberTls(options, logger);
    const dbDir = dbDirOf(options.dataDir);
    let storage: MemberStorage;
    let boot: BootstrapResult;
    try {
      storage = await openStorage(dbDir, logger);
    } catch (err) {
      tls.close();
      throw err;
    }
    try {
      boot = await bootstrap(storage, options, logger, tls.dial);
    } catch (err) {
      tls.close();
      await closeStorage(storage).catch(() => {});
      throw err;
    }
    const m = new Member(options, deps, logger, storage, boot, dbDir, tls, tokens);
    try {
      await m.#listen();
    } catch (err) {
      await m.close();
      throw err;
    }
    return m;
  }

  private constructor(
    options: MemberOptions,
    deps: MemberDeps,
    logger: Logger,
    storage: MemberStorage,
    boot: BootstrapResult,
    dbDir: string,
    tls: MemberTls,
    tokens: TokenManager,
  ) {
    this.options = options;
    this.#tls = tls;
    this.#deps = deps;
    this.logger = logger;
    this.id = boot.memberId;
    this.clusterId = boot.clusterId;
    this.name = options.name;
    this.bootstrapped = boot.how;
    this.#storage = storage;
    this.stopping = this.#stop.signal;
    this.metrics =
      deps.metrics ?? new MemberMetrics({ memberId: this.id, version: CHAINFIRE_VERSION });
    this.#leaderChange = new Emitter(logger);
    this.#applied = new Emitter(logger);
    this.onLeaderChange = this.#leaderChange.event;
    this.onApplied = this.#applied.event;
    this.ready = new Promise((r) => {
      this.#resolveReady = r;
    });
    this.closed = new Promise((r) => {
      this.#resolveClosed = r;
    });
    const hb = options.heartbeatIntervalMs;
    this.#electionTick = electionTicks(options.electionTimeoutMs, hb);
    this.#requestTimeoutMs = deps.requestTimeoutMs ?? 5_000 + 2 * options.electionTimeoutMs;
    this.lessor = new Lessor(this, {
      requestTimeoutMs: this.#requestTimeoutMs,
      ...(options.leaseCheckpointIntervalMs !== undefined
        ? { checkpointIntervalMs: options.leaseCheckpointIntervalMs }
        : {}),
      ...deps.lessor,
    });
    this.auth = new MemberAuth({
      store: () => this.#storage.auth,
      tokens,
      bcryptCost: options.bcryptCost,
      appliedIndex: () => BigInt(this.#storage.meta.appliedIndex),
      onApplied: this.onApplied,
      waitTimeoutMs: this.#requestTimeoutMs,
      // etcd: with --client-cert-auth, a verified client certificate's CN is the user
      // when the request carries no token.
      certificateCommonName:
        deps.certificateCommonName ??
        (options.clientTls?.clientCertAuth
          ? (call) => certificateCommonName(call as unknown as CallWithPeer)
          : undefined),
    });
    this.#random =
      deps.random ?? seededRandom(Number(this.id & 0xffffffffn) ^ (Date.now() & 0x7fffffff));
    this.metrics.quotaBackendBytes.set(options.quotaBackendBytes);
    this.#noSpace = new NoSpaceGuard(
      {
        id: this.id,
        alarms: (type) => this.#storage.alarms.list(type),
        proposeAlarm: (value, signal) => this.propose({ $case: "alarm", value }, signal),
        stopping: this.stopping,
        logger,
      },
      new BackendQuota(
        { backendSize: () => this.#storage.engine.approximateSize(), now: () => performance.now() },
        options.quotaBackendBytes,
      ),
      options.quotaBackendBytes,
    );

    this.#proposer = new Proposer(
      {
        driver: () => this.#driver,
        canPropose: () => this.#driver.accepting && this.#lead !== 0n,
        leaderElectedAt: () => this.#leaderElectedAt,
        onFailed: () => this.metrics.proposalsFailed.inc(),
        applyLag: () => this.#committedIndex - this.#storage.meta.appliedIndex,
        writeStall: () => {
          const engine = this.#storage.engine;
          return engine.closed ? { stopped: false, delayedRate: 0 } : engine.writeStall();
        },
      },
      {
        memberId: this.id,
        requestTimeoutMs: this.#requestTimeoutMs,
        electionTimeoutMs: options.electionTimeoutMs,
        maxRequestBytes: options.maxRequestBytes,
        maxPending: options.maxPendingProposals,
        maxPendingBytes: options.maxPendingProposalBytes,
      },
    );
    this.#membership = new Membership({
      id: this.id,
      dialCredentials: (url) => this.dialCredentials(url),
      clusterId: this.clusterId,
      logger: logger.child({ component: "membership" }),
      meta: () => this.#storage.meta,
      token: options.initialClusterToken,
      requestTimeoutMs: this.#requestTimeoutMs,
      stopping: this.stopping,
      proposeConfChange: (cc, signal) => this.#proposer.proposeConfChange(cc, signal),
      leader: () => this.#lead,
      progress: () => {
        if (!this.#isLeader) return undefined;
        const st = this.#driver.node.status();
        return st.progress.size > 0 ? st.progress : undefined;
      },
      readBarrier: (signal) => this.readBarrier(signal),
    });
    this.#readIndex = new ReadIndexBatcher(
      {
        readIndex: (ctx) => this.#driver.readIndex(ctx),
        appliedIndex: () => this.#storage.meta.appliedIndex,
        leader: () => this.#lead,
      },
      {
        timeoutMs: this.#requestTimeoutMs,
        retryMs: Math.max(2 * hb, Math.min(500, options.electionTimeoutMs)),
      },
    );
    this.#snapshots = new SnapshotReceiver({
      memberId: this.id,
      clusterId: this.clusterId,
      dbDir,
      logger,
      storage: () => this.#storage,
      driver: () => this.#driver,
      closing: () => this.#closing !== null || this.#defragmenting,
      pauseTicks: () => this.#stopTicking(),
      resumeTicks: () => this.#startTicking(),
      newDriverState: (st) => this.#driverState(st),
      swapped: (st) => {
        this.#storage = st;
        this.#proposer.failAll(new EtcdError(ErrTimeout));
        this.#updatePeers();
        if (this.#lead !== 0n) this.#setLeader(0n);
        this.#term = st.log.hardState.term;
        this.#readIndex.onApplied(st.meta.appliedIndex);
        this.#readIndex.onRaftReset();
        this.#applied.fire({ index: BigInt(st.meta.appliedIndex), revision: st.store.revision });
      },
      onFatal: (err) => this.#onFatal(err),
    });
    this.#transport = new Transport({
      logger: logger.child({ component: "transport" }),
      identity: () => ({
        clusterId: this.clusterId,
        memberId: this.id,
        name: this.name,
        peerUrls: options.initialAdvertisePeerUrls,
        clientUrls: options.advertiseClientUrls,
        version: CHAINFIRE_VERSION,
      }),
      members: () => this.#storage.meta.members().map((m) => Transport.memberInfo(m)),
      reportUnreachable: (id) => this.#driver.reportUnreachable(id),
      reportSnapshot: (id, s) => this.#driver.reportSnapshot(id, s),
      observeRoundTrip: (id, s) => this.metrics.peerRoundTrip.observe({ To: formatId(id) }, s),
      step: (m) => this.#step(m),
      createSnapshot: () => createStateSnapshot(this.#storage.engine),
      stageSnapshot: (data) => this.#snapshots.stage(data),
      installSnapshot: (staged, msg) => this.#snapshots.install(staged, msg),
      forward: (method, request, signal) =>
        method === FORWARD_PROMOTE || method === FORWARD_AUTO_PROMOTE
          ? this.#membership.handleForward(method, request, signal)
          : this.lessor.handleForward(method, request, signal),
      isRemoved: (id) => this.#storage.meta.isRemoved(id),
      onRemovedByPeer: (peer) => this.#onRemoved(`peer ${formatId(peer)} says it was removed`),
      ...(tls.peer ? { peerTls: tls.peer } : {}),
      dialCredentials: tls.dial,
    });
    this.#driver = new RaftDriver(this.#driverState(storage), {
      snapshotCount: Math.max(1, options.snapshotCount),
      catchUpEntries: deps.snapshotCatchUpEntries ?? DEFAULT_CATCH_UP_ENTRIES,
      ...(deps.snapshotBytes !== undefined ? { snapshotBytes: deps.snapshotBytes } : {}),
      ...(deps.snapshotCatchUpBytes !== undefined
        ? { catchUpBytes: deps.snapshotCatchUpBytes }
        : {}),
      inlineSyncMaxEntries: walSyncInlineMaxEntries(),
      logger: logger.child({ component: "raft" }),
      metrics: {
        walFsyncSeconds: (s) => this.metrics.walFsync.observe(s),
        backendCommitSeconds: (s) => this.metrics.backendCommit.observe(s),
        committedIndex: (i) => {
          this.#committedIndex = i;
          this.metrics.proposalsCommitted.set(i);
        },
        appliedIndex: (i) => this.metrics.proposalsApplied.set(i),
      },
      hooks: {
        send: (msgs) => this.#transport.send(msgs),
        flushSends: () => this.#transport.flushNow(),
        apply: (w, entries) =>
          applyEntriesSteps(
            {
              meta: this.#storage.meta,
              leases: this.#storage.leases,
              alarms: this.#storage.alarms,
              header: (rev) => this.header(rev),
              applyConfChange: (cc) => this.#driver.node.applyConfChange(cc),
              warn: (o, msg) => this.logger.warn(o, msg),
              minLeaseTtl: minLeaseTtl(options.heartbeatIntervalMs, options.electionTimeoutMs),
              leaseHooks: this.lessor,
              auth: {
                store: this.#storage.auth,
                tokens,
                log: (o, msg) => this.logger.info(o, msg),
              },
            },
            w,
            entries,
          ),
        onSoftState: (ss) => this.#onSoftState(ss),
        onApplied: (out, applied) => {
          if (out) {
            this.#proposer.onApplied(out.outcomes);
            if (out.membershipChanged) {
              this.#updatePeers();
              if (this.#storage.meta.isRemoved(this.id)) this.#onRemoved("applied its own removal");
            }
            if (out.compacted) this.#startCompaction();
          }
          this.#readIndex.onApplied(applied);
          this.#applied.fire({ index: BigInt(applied), revision: this.#storage.store.revision });
          this.#noSpace.afterApply();
        },
        onReadStates: (rs) => this.#readIndex.onReadStates(rs),
        afterReady: () => {
          this.#term = this.#driver.node.basicStatus().hardState.term;
          this.#proposer.flush();
          this.metrics.proposalsPending.set(this.#proposer.pending);
        },
        onFatal: (err) => this.#onFatal(err),
      },
    });
    this.#term = storage.log.hardState.term;
    this.metrics.hasLeader.set(0);
    this.metrics.isLeader.set(0);
  }

  #driverState(s: MemberStorage): DriverState {
    return {
      ...s,
      node: newRawNode({
        id: this.id,
        electionTick: this.#electionTick,
        storage: s.log,
        applied: s.meta.appliedIndex,
        random: this.#random,
        logger: this.logger.child({ component: "raft-core" }),
      }),
    };
  }

  async #listen(): Promise<void> {
    const o = this.options;
    this.#updatePeers();
    await this.#transport.listen(o.listenPeerUrls);
    const serverOptions = clientServerOptions(o);
    const server = new Server({
      ...serverOptions,
      "grpc.keepalive_time_ms": 2 * 60 * 60 * 1000,
      "grpc.keepalive_timeout_ms": 20_000,
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.http2.min_ping_interval_without_data_ms": 5_000,
    });
    const maxReceive = serverOptions["grpc.max_receive_message_length"] ?? -1;
    this.#services = registerClientServices(
      withUnaryFastPath(server, maxReceive, this.logger),
      this,
    );
    this.#clientServer = server;
    // Not server.bindAsync: the listener repairs etcdctl 3.4's :authority (client-listener.ts).
    this.#clientListener = await listenForClients(server, o.listenClientUrls, {
      logger: this.logger.child({ component: "client-listener" }),
      ...(this.#tls.client ? { tls: this.#tls.client } : {}),
    });
    this.#startTicking();
    this.#driver.schedule();
    this.lessor.start();
    this.logger.info(
      {
        memberId: formatId(this.id),
        clusterId: formatId(this.clusterId),
        clientUrls: o.listenClientUrls,
        peerUrls: o.listenPeerUrls,
        electionTick: this.#electionTick,
        heartbeatMs: o.heartbeatIntervalMs,
      },
      "member started",
    );
    void this.#publish();
  }

  #startTicking(): void {
    if (this.#tickTimer) return;
    this.#tickTimer = setInterval(() => this.#driver.tick(), this.options.heartbeatIntervalMs);
    this.#tickTimer.unref();
  }

  #stopTicking(): void {
    if (this.#tickTimer) clearInterval(this.#tickTimer);
    this.#tickTimer = null;
  }

  /** Publishes name and client URLs through the log (etcd's publish), then resolves ready. */
  async #publish(): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      const me = this.#storage.meta.member(this.id);
      if (
        me &&
        me.name === this.name &&
        sameUrls(me.clientURLs, this.options.advertiseClientUrls)
      ) {
        this.logger.info(
          { memberId: formatId(this.id) },
          "published to the cluster; ready to serve",
        );
        this.#resolveReady();
        if (this.options.autoPromote) void this.#autoPromote();
        return;
      }
      if (me === undefined || this.#lead === 0n) {
        await delay(this.options.heartbeatIntervalMs, signal);
        continue;
      }
      try {
        await this.propose(
          {
            $case: "memberAttrSet",
            value: {
              memberId: this.id,
              name: this.name,
              clientUrls: this.options.advertiseClientUrls,
            },
          },
          signal,
        );
      } catch (err) {
        if (signal.aborted) return;
        this.logger.debug(
          { err: (err as Error).message },
          "publishing member attributes failed; retrying",
        );
        await delay(this.options.electionTimeoutMs, signal);
      }
    }
  }

  // ---- raft callbacks ----

  #step(m: Message): void {
    if (this.#snapshots.installing || this.#stop.signal.aborted) return;
    try {
      this.#driver.step(m);
    } catch (err) {
      if (err instanceof StepLocalMessageError || err instanceof StepPeerNotFoundError) return;
      // A proposal forwarded to us while we cannot take it (e.g. transferring leadership):
      // the proposing member times out or retries, as with etcd.
      if (err instanceof ProposalDroppedError) return;
      if (err instanceof BugIndicatingError) {
        this.#onFatal(err);
        return;
      }
      this.logger.warn({ err, from: formatId(m.from) }, "dropping a raft message raft refused");
    }
  }

  #onSoftState(ss: SoftState): void {
    this.#isLeader = ss.raftState === StateType.Leader;
    this.metrics.isLeader.set(this.#isLeader ? 1 : 0);
    if (ss.lead !== this.#lead) this.#setLeader(ss.lead);
  }

  #setLeader(lead: bigint): void {
    const previous = this.#lead;
    this.#lead = lead;
    if (lead !== 0n) {
      this.#leaderElectedAt = performance.now();
      this.metrics.leaderChanges.inc();
    }
    this.metrics.hasLeader.set(lead !== 0n ? 1 : 0);
    this.#term = this.#driver.node.basicStatus().hardState.term;
    this.logger.info(
      {
        leader: formatId(lead),
        previous: formatId(previous),
        term: this.#term,
        isLeader: this.#isLeader,
      },
      lead === 0n ? "lost the leader" : "leader changed",
    );
    this.#readIndex.onLeaderChange(lead);
    this.#leaderChange.fire({
      leader: lead,
      previous,
      term: BigInt(this.#term),
      isLeader: this.#isLeader,
    });
  }

  #updatePeers(): void {
    const peers = this.#storage.meta
      .members()
      .filter((m) => m.id !== this.id)
      .map((m) => ({ id: m.id, peerUrls: m.peerURLs }));
    this.#transport.setPeers(peers);
    this.metrics.isLearner.set(this.isLearner() ? 1 : 0);
  }

  #startCompaction(): void {
    const store = this.#storage.store;
    const prev = this.#compaction;
    this.#compaction = prev
      .then(() =>
        store.runCompaction({
          signal: this.#stop.signal,
          ...(this.#deps.compactionStepEntries
            ? { stepEntries: this.#deps.compactionStepEntries }
            : {}),
        }),
      )
      .catch((err: unknown) => {
        this.logger.error({ err }, "physical compaction failed");
      });
  }

  #autoPromote(): Promise<void> {
    return runAutoPromote({
      id: this.id,
      logger: this.logger,
      stopping: this.stopping,
      isLearner: () => this.isLearner(),
      isVoter: () => this.#storage.meta.confState.voters.includes(this.id),
      promoteSelf: (signal) => this.#membership.promote(this.id, signal, true),
      intervalMs: this.options.electionTimeoutMs,
    });
  }

  /** Why this member stopped as removed from the cluster (member-removal.ts), if it did. */
  get removed(): string | undefined {
    return this.#removed;
  }

  /** This member was removed from the cluster: record it in the data dir and stop. */
  #onRemoved(how: string): void {
    if (this.#removed !== undefined || this.#closing !== null) return;
    this.#removed = how;
    this.logger.error(
      { memberId: formatId(this.id), clusterId: formatId(this.clusterId), how },
      "this member has been permanently removed from the cluster; stopping",
    );
    try {
      writeRemovalMarker(this.options.dataDir, {
        memberId: formatId(this.id),
        clusterId: formatId(this.clusterId),
        at: new Date().toISOString(),
        how,
      });
    } catch (err) {
      this.logger.error({ err }, "cannot write the removal marker into the data dir");
    }
    // Not from inside the Ready loop's callback.
    setImmediate(() => void this.close());
  }

  #onFatal(err: unknown): void {
    this.#fatal = err;
    this.logger.fatal({ err }, "the raft loop failed; stopping the member");
    void this.close();
  }

  // ---- snapshots from the leader ----

  /** State snapshots received from a leader and installed (or found stale) since start. */
  get snapshotsInstalled(): number {
    return this.#snapshots.installed;
  }

  /** The first index still in this member's raft log (after compaction). */
  get firstLogIndex(): number {
    return this.#storage.log.firstIndex();
  }

  /** The driver's counters (Readies, entries written, synced writes): batching factor. */
  get driverStats(): Readonly<RaftDriver["stats"]> {
    return { ...this.#driver.stats };
  }

  /** Credentials to dial a peer URL (the lessor's leader forwarder uses them). */
  dialCredentials(url: string): ChannelCredentials {
    return this.#tls.dial(url);
  }

  // ---- MemberContext ----

  get store(): MvccStore {
    return this.#storage.store;
  }

  get leases(): LeaseStore {
    return this.#storage.leases;
  }

  header(revision?: bigint): etcdserverpb.ResponseHeader {
    return {
      clusterId: this.clusterId,
      memberId: this.id,
      revision: revision ?? this.#storage.store.revision,
      raftTerm: BigInt(this.#term),
    };
  }

  status(): MemberStatus {
    const s = this.#storage;
    let size = 0;
    let storage: MemberStatus["storage"];
    try {
      size = s.engine.approximateSize();
      const stall = s.engine.writeStall();
      storage = {
        ...s.engine.backgroundJobs(),
        writeStall: stall.stopped ? 2 : stall.delayedRate > 0 ? 1 : 0,
      };
    } catch {
      // the directory is being swapped by a snapshot install
    }
    return {
      leader: this.#lead,
      raftIndex: BigInt(s.log.lastIndex()),
      raftTerm: BigInt(this.#term),
      raftAppliedIndex: BigInt(s.meta.appliedIndex),
      dbSize: BigInt(size),
      dbSizeInUse: BigInt(size),
      isLearner: this.isLearner(),
      errors: s.alarms.list().map((a) => `memberID:${a.memberID} alarm:${a.alarm}`),
      ...(storage ? { storage } : {}),
    };
  }

  members(): MemberInfo[] {
    return this.#storage.meta.members().map((m) => ({
      id: m.id,
      name: m.name,
      peerUrls: m.peerURLs,
      clientUrls: m.clientURLs,
      isLearner: m.isLearner,
    }));
  }

  leader(): bigint {
    return this.#lead;
  }

  isLeader(): boolean {
    return this.#isLeader;
  }

  hasLeader(): boolean {
    return this.#lead !== 0n;
  }

  isLearner(): boolean {
    return this.#storage.meta.confState.learners.includes(this.id);
  }

  alarms(): etcdserverpb.AlarmMember[] {
    return this.#storage.alarms.list();
  }

  term(): bigint {
    return BigInt(this.#term);
  }

  appliedIndex(): bigint {
    return BigInt(this.#storage.meta.appliedIndex);
  }

  readBarrier(signal?: AbortSignal): Promise<void> {
    return this.#readIndex.wait(signal);
  }

  propose<R extends ProposalRequest>(request: R, signal?: AbortSignal): Promise<ApplyResultOf<R>> {
    // The quota check before proposing (quota.ts); the apply checks the alarm again.
    const refused = this.#noSpace.check(request);
    if (refused) return refused;
    let req: ProposalRequest = request;
    if (req.$case === "leaseGrant" && req.value.ID === 0n) {
      // The proposer picks the id, so every member applies the same one (etcd does this too).
      req = {
        $case: "leaseGrant",
        value: { ...req.value, ID: this.#proposer.nextId() & ((1n << 63n) - 1n) },
      };
    }
    return this.#proposer.propose(req, signal) as Promise<ApplyResultOf<R>>;
  }

  waitPhysicalCompaction(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(new EtcdError(ErrCanceled));
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(new EtcdError(ErrCanceled));
      signal?.addEventListener("abort", onAbort, { once: true });
      void this.#compaction.then(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
    });
  }

  snapshot(): StateSnapshot {
    return createStateSnapshot(this.#storage.engine);
  }

  async hash(): Promise<{ hash: number; revision: bigint }> {
    const s = this.#storage;
    const revision = s.store.revision; // the iterators below read this same state
    return { hash: await hashState(s.engine), revision };
  }

  defragment(signal?: AbortSignal): Promise<void> {
    const run = this.#compaction.then(async () => {
      if (this.#stop.signal.aborted) throw new EtcdError(ErrStopped);
      this.#defragmenting = true;
      try {
        await defragment(
          {
            driver: () => this.#driver,
            engine: () => this.#storage.engine,
            snapshotsSettled: () => this.#snapshots.settled(),
            compactTarget: () =>
              logCompactTarget(
                this.#storage.meta.appliedIndex,
                this.#isLeader ? this.#driver.node.status().progress : undefined,
                (id) => id !== this.id && this.#transport.isConnected(id),
              ),
            resumed: () => {
              for (const m of this.#driver.takeHeldMessages()) this.#step(m);
              this.#proposer.flush();
            },
            logger: this.logger,
          },
          this.#requestTimeoutMs,
          signal,
        );
      } finally {
        this.#defragmenting = false;
        this.#noSpace.quota.invalidate();
      }
    });
    this.#compaction = run.catch(() => {});
    return run;
  }

  async moveLeader(transferee: bigint, signal?: AbortSignal): Promise<void> {
    if (!this.#isLeader) throw new EtcdError(ErrNotLeader);
    const cs = this.#storage.meta.confState;
    if (!cs.voters.includes(transferee)) throw new EtcdError(ErrBadLeaderTransferee);
    if (transferee === this.id) return;
    this.#driver.transferLeadership(transferee);
    await this.#waitLeader((l) => l === transferee, this.#requestTimeoutMs, signal);
  }

  /** Resolves once the leader satisfies `pred`; rejects ErrTimeout / ErrCanceled / ErrStopped. */
  #waitLeader(
    pred: (leader: bigint) => boolean,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    if (pred(this.#lead)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const finish = (err: Error | null) => {
        clearTimeout(timer);
        sub.dispose();
        signal?.removeEventListener("abort", onAbort);
        this.#stop.signal.removeEventListener("abort", onStop);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(() => finish(new EtcdError(ErrTimeout)), timeoutMs);
      timer.unref();
      const onAbort = () => finish(new EtcdError(ErrCanceled));
      const onStop = () => finish(new EtcdError(ErrStopped));
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#stop.signal.addEventListener("abort", onStop, { once: true });
      const sub = this.onLeaderChange((e) => {
        if (pred(e.leader)) finish(null);
      });
    });
  }

  addMember(peerUrls: string[], isLearner: boolean, signal?: AbortSignal): Promise<MemberInfo> {
    return this.#membership.add(peerUrls, isLearner, signal);
  }

  removeMember(id: bigint, signal?: AbortSignal): Promise<void> {
    return this.#membership.remove(id, signal);
  }

  updateMember(id: bigint, peerUrls: string[], signal?: AbortSignal): Promise<void> {
    return this.#membership.update(id, peerUrls, signal);
  }

  promoteMember(id: bigint, signal?: AbortSignal): Promise<void> {
    return this.#membership.promote(id, signal);
  }

  // ---- shutdown ----

  /**
   * Stops the member: stops accepting client calls, hands leadership to the most caught-up
   * follower (if leader), lets in-flight proposals finish (bounded), then stops raft, the
   * transport and the database. Idempotent.
   */
  close(): Promise<void> {
    if (!this.#closing) {
      // Keep the process alive until closed: some phases wait on unref'd timers, and a
      // process whose last handle closed mid-shutdown would exit 0 without finishing.
      const keepAlive = setInterval(() => {}, 1_000);
      this.#closing = this.#doClose().finally(() => {
        clearInterval(keepAlive);
        this.#resolveClosed();
      });
    }
    return this.#closing;
  }

  async #doClose(): Promise<void> {
    const bound = this.#deps.closeTimeoutMs ?? 5_000;
    const deadline = performance.now() + bound;
    const left = () => Math.max(0, deadline - performance.now());
    const graceful = this.#fatal === undefined && this.#driver.accepting;
    /** Runs one shutdown phase; a slow one is logged (a hang shows where it is). */
    const phase = async (name: string, p: Promise<unknown> | undefined) => {
      const t0 = performance.now();
      const slow = setTimeout(
        () => this.logger.warn({ phase: name }, "shutdown phase is slow"),
        2_000,
      );
      slow.unref();
      try {
        await p;
      } finally {
        clearTimeout(slow);
        this.logger.debug(
          { phase: name, ms: Math.round(performance.now() - t0) },
          "shutdown phase done",
        );
      }
    };
    // 1. No new client calls (in-flight ones continue). The listener stops accepting at
    // once; its close resolves only when every connection has ended (after the server's
    // shutdown below), so it is awaited last.
    const listenerClosed = this.#clientListener?.close();
    const server = this.#clientServer;
    const serverDone = server ? shutdownServer(server, bound) : Promise.resolve();
    if (graceful) {
      // 2. Hand leadership over (a removed leader's raft is doing so already).
      if (this.#isLeader && this.#removed !== undefined) {
        await phase(
          "leadership hand-off after removal",
          this.#waitLeader(
            (l) => l !== this.id,
            Math.min(left(), 2 * this.options.electionTimeoutMs),
          ).catch(() => {}),
        );
      } else if (this.#isLeader) {
        await phase(
          "leadership transfer",
          this.#transferLeadership(Math.min(left(), 3 * this.options.electionTimeoutMs)),
        );
      }
      // 3. Let in-flight proposals finish.
      const until = performance.now() + Math.min(left(), 2_000);
      while (this.#proposer.pending > 0 && performance.now() < until) {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    this.#stop.abort();
    this.#membership.close();
    this.#proposer.close();
    this.#readIndex.close();
    this.#stopTicking();
    await phase("snapshot install", this.#snapshots.settled());
    await phase("raft loop", this.#driver.stop());
    await phase("peer transport", this.#transport.close());
    server?.forceShutdown();
    await phase("client server", serverDone);
    await phase(
      "client listener",
      Promise.race([listenerClosed, new Promise((r) => setTimeout(r, 1_000).unref())]),
    );
    this.#services?.dispose();
    this.#tls.close();
    await phase("compaction", this.#compaction);
    await phase(
      "database",
      closeStorage(this.#storage).catch((err: unknown) => {
        this.logger.error({ err }, "closing the database failed");
      }),
    );
    this.logger.info({ memberId: formatId(this.id) }, "member stopped");
  }

  async #transferLeadership(timeoutMs: number): Promise<void> {
    const st = this.#driver.node.status();
    let best: bigint | undefined;
    let bestMatch = -1;
    for (const [id, pr] of st.progress) {
      if (id === this.id || pr.isLearner || !st.config.voters.includes(id)) continue;
      if (!this.#transport.isConnected(id)) continue;
      if (pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    if (best === undefined) return;
    this.logger.info({ transferee: formatId(best) }, "transferring leadership before stopping");
    this.#driver.transferLeadership(best);
    const target = best;
    await this.#waitLeader((l) => l === target, timeoutMs).catch(() => {
      this.logger.warn(
        { transferee: formatId(target) },
        "leadership transfer did not finish in time",
      );
    });
  }
}
