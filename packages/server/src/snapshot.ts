/**
 * Installing a state snapshot received from the leader (the follower side of InstallSnapshot,
 * thesis §5, chapter 5 of the Raft paper).
 *
 * The transport has already staged and verified the state next to the database
 * (storage's stageStateSnapshot: `<db>.restored`, with the raft log reset to start at the
 * snapshot's applied index). Installing it swaps the whole database, so:
 *
 * 1. The Ready loop is paused (the Ready in flight finishes) and ticks stop; nothing reads
 *    or writes the old stores from here on (peer messages are dropped meanwhile).
 * 2. The HardState is captured: the staged one may be older (the stage started earlier),
 *    and a term or vote must never go backwards (DESIGN rule 1).
 * 3. The database is closed, the staged copy installed (atomic renames; a crash at any
 *    point is finished or rolled back by recoverDbDir at the next open), and reopened.
 * 4. A newer captured HardState is written back (synced), a new RawNode is created on the
 *    new log (applied = the snapshot's applied index), the loop resumes with it.
 * 5. The MsgSnap is stepped: raft sees its index at or below the commit index and answers
 *    the leader with an append response at our new index, so replication continues from
 *    there.
 *
 * A snapshot not newer than what is applied already is discarded (and the message stepped).
 */
import { ErrClusterIdMismatch, ErrStopped, EtcdError } from "@chainfire/api";
import type { Message } from "@chainfire/raft";
import {
  failpoint,
  failpointsActive,
  type StagedSnapshot,
  stageStateSnapshot,
} from "@chainfire/storage";
import { status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { closeStorage, type MemberStorage, openStorage } from "./bootstrap.js";
import { formatId } from "./ids.js";
import type { DriverState, RaftDriver } from "./raft-driver.js";

/** What an install needs from the member. */
export interface SnapshotInstallHost {
  storage(): MemberStorage;
  readonly dbDir: string;
  readonly logger: Logger;
  driver(): RaftDriver;
  readonly clusterId: bigint;
  pauseTicks(): void;
  resumeTicks(): void;
  /** A driver state (with a new RawNode) on `s`. */
  newDriverState(s: MemberStorage): DriverState;
  /** The member now uses `s` (update references, fail waiters, notify readers). */
  swapped(s: MemberStorage): void;
}

/** Installs `staged` and steps `msg`; resolves with the applied index. See the module comment. */
export async function installSnapshot(
  staged: StagedSnapshot,
  msg: Message,
  host: SnapshotInstallHost,
): Promise<bigint> {
  const old = host.storage();
  const h = staged.header;
  if (h.appliedIndex <= old.meta.appliedIndex) {
    await staged.discard();
    host.logger.info(
      { snapshotIndex: h.appliedIndex, appliedIndex: old.meta.appliedIndex },
      "ignoring a snapshot not newer than the applied state",
    );
    host.driver().step(msg);
    return BigInt(old.meta.appliedIndex);
  }
  const started = performance.now();
  host.pauseTicks();
  await host.driver().pause();
  let resumed = false;
  try {
    const hs = old.log.hardState;
    await closeStorage(old);
    if (failpointsActive) failpoint("raftBeforeApplySnap");
    await staged.install();
    const s = await openStorage(host.dbDir, host.logger);
    if (s.meta.clusterId !== host.clusterId) {
      host.logger.error(
        { local: formatId(host.clusterId), snapshot: formatId(s.meta.clusterId) },
        "installed a snapshot of another cluster",
      );
      throw new EtcdError(ErrClusterIdMismatch);
    }
    const rhs = s.log.hardState;
    if (hs.term > rhs.term || (hs.term === rhs.term && hs.vote !== 0n && rhs.vote !== hs.vote)) {
      const b = s.engine.batch();
      try {
        s.log.save(b, { hardState: { term: hs.term, vote: hs.vote, commit: rhs.commit } });
        await s.engine.write(b, { sync: true });
        s.log.commit(b);
      } finally {
        b.close();
      }
    }
    if (failpointsActive) failpoint("raftAfterApplySnap");
    const state = host.newDriverState(s);
    host.swapped(s);
    host.driver().resume(state);
    resumed = true;
    host.resumeTicks();
    host.driver().step(msg);
    host.logger.info(
      {
        appliedIndex: h.appliedIndex,
        revision: h.revision.toString(),
        pairs: staged.pairCount,
        ms: Math.round(performance.now() - started),
      },
      "installed a state snapshot from the leader",
    );
    return BigInt(h.appliedIndex);
  } finally {
    if (!resumed) host.resumeTicks();
  }
}

/** What a {@link SnapshotReceiver} needs beyond an install. */
export interface SnapshotReceiverHost extends SnapshotInstallHost {
  readonly memberId: bigint;
  /** Whether the member is shutting down (new transfers are refused). */
  closing(): boolean;
  /** An install failed in a way that leaves the member unusable. */
  onFatal(err: unknown): void;
}

/**
 * The follower side of snapshot transfers: one staged at a time (they share the staging
 * directory; a second transfer meanwhile is refused and the leader retries later), then
 * installed with {@link installSnapshot}.
 */
export class SnapshotReceiver {
  readonly #host: SnapshotReceiverHost;
  #receiving = false;
  #installing: Promise<bigint> | null = null;
  /** Snapshots installed (or found stale) since start. */
  installed = 0;

  constructor(host: SnapshotReceiverHost) {
    this.#host = host;
  }

  /** Whether an install is swapping the database right now. */
  get installing(): boolean {
    return this.#installing !== null;
  }

  /** Resolves when no install is running. */
  async settled(): Promise<void> {
    while (this.#installing) await this.#installing.catch(() => {});
  }

  /** Stages and verifies a received state snapshot next to the database (no effect yet). */
  async stage(data: AsyncIterable<Uint8Array>): Promise<StagedSnapshot> {
    const h = this.#host;
    if (this.#receiving || h.closing()) {
      throw Object.assign(new Error("another snapshot is being received"), {
        code: status.UNAVAILABLE,
      });
    }
    this.#receiving = true;
    let staged: StagedSnapshot;
    try {
      if (failpointsActive) failpoint("raftBeforeSaveSnap");
      staged = await stageStateSnapshot(data, h.dbDir, {
        memberId: h.memberId,
        hardState: h.storage().log.hardState,
      });
      if (failpointsActive) failpoint("raftAfterSaveSnap");
    } catch (err) {
      this.#receiving = false;
      throw err;
    }
    const done = () => {
      this.#receiving = false;
    };
    return {
      header: staged.header,
      sha256: staged.sha256,
      pairCount: staged.pairCount,
      dir: staged.dir,
      install: () => staged.install().finally(done),
      discard: () => staged.discard().finally(done),
    };
  }

  /** Installs `staged` and steps `msg`; a failure other than an EtcdError is fatal. */
  async install(staged: StagedSnapshot, msg: Message): Promise<bigint> {
    await this.settled();
    if (this.#host.closing()) {
      await staged.discard();
      throw new EtcdError(ErrStopped);
    }
    const p = installSnapshot(staged, msg, this.#host);
    this.#installing = p;
    try {
      const index = await p;
      this.installed++;
      return index;
    } catch (err) {
      if (!(err instanceof EtcdError)) this.#host.onFatal(err);
      throw err;
    } finally {
      this.#installing = null;
    }
  }
}
