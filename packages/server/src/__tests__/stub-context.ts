/**
 * A MemberContext for service and HTTP tests: no raft, no storage; every answer is a
 * field the test sets. Methods not needed by a test reject with a clear error.
 */
import { etcdserverpb } from "@chainfire/api";
import type { MvccStore, StateSnapshot } from "@chainfire/storage";
import { AuthStore } from "../auth/auth-store.js";
import { MemberAuth } from "../auth/member-auth.js";
import { TokenManager } from "../auth/tokens.js";
import { silentLogger } from "../log.js";
import type {
  Disposable,
  LeaderChangeEvent,
  MemberContext,
  MemberInfo,
  MemberStatus,
} from "../member-context.js";
import { DEFAULT_MEMBER_OPTIONS, type MemberOptions } from "../member-options.js";
import { MemberMetrics } from "../metrics.js";
import { NotImplementedError } from "../services/errors.js";

export interface StubState {
  leader: bigint;
  learner: boolean;
  alarms: etcdserverpb.AlarmMember[];
  members: MemberInfo[];
  status: Partial<MemberStatus>;
  /** What readBarrier does; default resolves at once. */
  readBarrier: (signal?: AbortSignal) => Promise<void>;
  /** Bytes ctx.snapshot() streams. */
  snapshotChunks: Buffer[];
  revision: bigint;
  /** Calls made, by method name. */
  calls: { method: string; args: unknown[] }[];
}

export interface StubContext extends MemberContext {
  readonly state: StubState;
  /** Resolves `ready`. */
  markReady(): void;
  /** Fires onLeaderChange with the new leader. */
  setLeader(leader: bigint): void;
  /** Aborts `stopping`. */
  stop(): void;
  /** Whether a snapshot handed out was closed. */
  snapshotClosed: boolean;
}

export function stubContext(
  init: Partial<StubState> = {},
  options: Partial<MemberOptions> = {},
): StubContext {
  const state: StubState = {
    leader: 0x1n,
    learner: false,
    alarms: [],
    members: [
      {
        id: 0x1n,
        name: "n1",
        peerUrls: ["http://127.0.0.1:2380"],
        clientUrls: ["http://127.0.0.1:2379"],
        isLearner: false,
      },
    ],
    status: {},
    readBarrier: async () => {},
    snapshotChunks: [Buffer.from("snapshot-bytes")],
    revision: 7n,
    calls: [],
    ...init,
  };
  let markReady!: () => void;
  const ready = new Promise<void>((r) => {
    markReady = r;
  });
  const stopping = new AbortController();
  const leaderListeners = new Set<(e: LeaderChangeEvent) => void>();
  const record = (method: string, ...args: unknown[]) => state.calls.push({ method, args });
  const header = (revision?: bigint) =>
    etcdserverpb.ResponseHeader.fromPartial({
      clusterId: 0xc1n,
      memberId: 0x1n,
      revision: revision ?? state.revision,
      raftTerm: 3n,
    });
  const store = {
    range: () => ({ kvs: [], count: 0n, more: false, revision: state.revision }),
    hashKV: async (revision: bigint) => ({
      hash: 0xdeadbeef,
      compactRevision: -1n,
      hashRevision: revision === 0n ? state.revision : revision,
      header: { revision: state.revision },
    }),
    get revision() {
      return state.revision;
    },
  } as unknown as MvccStore;
  const authStore = new AuthStore();

  const ctx: StubContext = {
    state,
    snapshotClosed: false,
    id: 0x1n,
    clusterId: 0xc1n,
    name: "n1",
    options: {
      ...DEFAULT_MEMBER_OPTIONS,
      name: "n1",
      dataDir: "/nonexistent",
      initialCluster: new Map([["n1", ["http://127.0.0.1:2380"]]]),
      logLevel: "silent",
      ...options,
    },
    logger: silentLogger(),
    metrics: new MemberMetrics({ memberId: 0x1n, version: "3.5.13", defaultMetrics: false }),
    ready,
    stopping: stopping.signal,
    store,
    leases: {} as MemberContext["leases"],
    lessor: {
      keepAlive: () => Promise.reject(new NotImplementedError("stub Lessor")),
      timeToLive: () => Promise.reject(new NotImplementedError("stub Lessor")),
    } as unknown as MemberContext["lessor"],
    // Auth off: an empty store (no users), simple tokens.
    auth: new MemberAuth({
      store: () => authStore,
      tokens: new TokenManager({ type: "simple" }, 300),
      bcryptCost: 4,
      appliedIndex: () => 11n,
      onApplied: () => ({ dispose() {} }),
      waitTimeoutMs: 1000,
    }),
    header,
    status: () => ({
      leader: state.leader,
      raftIndex: 12n,
      raftTerm: 3n,
      raftAppliedIndex: 11n,
      dbSize: 4096n,
      dbSizeInUse: 2048n,
      isLearner: state.learner,
      errors: [],
      ...state.status,
    }),
    members: () => state.members,
    leader: () => state.leader,
    isLeader: () => state.leader === 0x1n,
    hasLeader: () => state.leader !== 0n,
    isLearner: () => state.learner,
    alarms: () => state.alarms,
    term: () => 3n,
    appliedIndex: () => 11n,
    readBarrier: (signal) => {
      record("readBarrier");
      return state.readBarrier(signal);
    },
    propose: async (request) => {
      record("propose", request);
      if (request.$case === "alarm") {
        return etcdserverpb.AlarmResponse.fromPartial({ header: header(), alarms: [] }) as never;
      }
      throw new Error(`stub: propose ${request.$case} not supported`);
    },
    onLeaderChange: (listener) => {
      leaderListeners.add(listener);
      return { dispose: () => leaderListeners.delete(listener) } satisfies Disposable;
    },
    onApplied: () => ({ dispose() {} }),
    snapshot: () => {
      const chunks = state.snapshotChunks;
      const snap = {
        header: {} as StateSnapshot["header"],
        stream: (async function* () {
          for (const c of chunks) yield c;
        })(),
        sha256: Promise.resolve(""),
        close: () => {
          ctx.snapshotClosed = true;
        },
      };
      return snap as StateSnapshot;
    },
    moveLeader: async (to) => {
      record("moveLeader", to);
    },
    hash: async () => {
      record("hash");
      return { hash: 0x1234, revision: state.revision };
    },
    defragment: async () => {
      record("defragment");
    },
    addMember: async (peerUrls, isLearner) => {
      record("addMember", peerUrls, isLearner);
      const m: MemberInfo = { id: 0x2n, name: "", peerUrls, clientUrls: [], isLearner };
      state.members = [...state.members, m];
      return m;
    },
    removeMember: async (id) => {
      record("removeMember", id);
      state.members = state.members.filter((m) => m.id !== id);
    },
    updateMember: async (id, peerUrls) => {
      record("updateMember", id, peerUrls);
    },
    promoteMember: async (id) => {
      record("promoteMember", id);
    },
    markReady: () => markReady(),
    setLeader: (leader) => {
      const previous = state.leader;
      state.leader = leader;
      for (const l of leaderListeners) l({ leader, previous, term: 4n, isLeader: leader === 0x1n });
    },
    stop: () => stopping.abort(),
  };
  return ctx;
}
