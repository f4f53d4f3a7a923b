/**
 * The backend quota (etcd `--quota-backend-bytes`) and the NOSPACE alarm.
 *
 * Backend size is the on-disk size of the member's RocksDB directory: SST files, the
 * RocksDB WAL, MANIFEST and OPTIONS files — the number Maintenance.Status reports as
 * `dbSize`. Like etcd's bolt file it includes space not yet reclaimed after deletes and
 * compaction (until RocksDB compacts, or Defragment reopens the database); unlike etcd it
 * also includes the raft log, which lives in the same database (Defragment compacts it).
 * The binding offers no per-column-family size, so nothing finer is available.
 *
 * As in etcd, the quota is checked twice:
 * 1. Before proposing (this member's view): a request that grows the store (Put, a Txn
 *    with a put in either branch, LeaseGrant) is refused with ErrNoSpace when the size
 *    plus its cost would pass the quota, or when a NOSPACE alarm is active; the member
 *    then raises its NOSPACE alarm through the log (a replicated AlarmRequest).
 * 2. At apply (every member, deterministically): while any NOSPACE alarm is active, such
 *    requests are refused with ErrNoSpace (apply/applier.ts, etcd's capped applier). After
 *    each applied batch the member checks its size and raises the alarm when it is over.
 *
 * Reads, deletes, compaction, lease revocation and Alarm DEACTIVATE are never refused.
 * The alarm stays until an operator disarms it (`etcdctl alarm disarm`), after freeing
 * space (delete, compact, defrag).
 */
import { ErrNoSpace, EtcdError, etcdserverpb } from "@chainfire/api";
import type { ProposalRequest } from "./member-context.js";

/** etcd's per-key cost overhead in the quota (kvOverhead). */
export const KV_OVERHEAD = 256;
/** etcd's per-lease cost (leaseOverhead). */
export const LEASE_OVERHEAD = 64;

/** Bytes a request adds to the store by the quota's reckoning; 0 if it cannot grow it. */
export function requestCost(req: ProposalRequest): number {
  switch (req.$case) {
    case "put":
      return putCost(req.value);
    case "txn":
      return txnCost(req.value);
    case "leaseGrant":
      return LEASE_OVERHEAD;
    default:
      return 0;
  }
}

function putCost(p: etcdserverpb.PutRequest): number {
  return p.key.length + p.value.length + KV_OVERHEAD;
}

/** The larger of the two branches' put costs (nested txns included). */
export function txnCost(t: etcdserverpb.TxnRequest): number {
  const branch = (ops: readonly etcdserverpb.RequestOp[]) => {
    let n = 0;
    for (const op of ops) {
      const r = op.request;
      if (r?.$case === "requestPut") n += putCost(r.value);
      else if (r?.$case === "requestTxn") n += txnCost(r.value);
    }
    return n;
  };
  return Math.max(branch(t.success ?? []), branch(t.failure ?? []));
}

/** What {@link BackendQuota} reads. */
export interface QuotaHost {
  /** The backend size in bytes now (a directory scan: not free, hence cached). */
  backendSize(): number;
  /** Clock in milliseconds (performance.now()). */
  now(): number;
}

/**
 * The quota of one member, with the backend size cached for `refreshMs` so that the
 * per-request check stays cheap. A quota of 0 or less disables it.
 */
export class BackendQuota {
  readonly #host: QuotaHost;
  readonly #quotaBytes: number;
  readonly #refreshMs: number;
  #size = 0;
  #at = Number.NEGATIVE_INFINITY;

  constructor(host: QuotaHost, quotaBytes: number, refreshMs = 200) {
    this.#host = host;
    this.#quotaBytes = quotaBytes;
    this.#refreshMs = refreshMs;
  }

  /** The backend size, at most `refreshMs` old. */
  size(): number {
    const now = this.#host.now();
    if (now - this.#at >= this.#refreshMs) {
      try {
        this.#size = this.#host.backendSize();
      } catch {
        // the database is being reopened or swapped: keep the last size
      }
      this.#at = now;
    }
    return this.#size;
  }

  /** Forgets the cached size (after a defragment). */
  invalidate(): void {
    this.#at = Number.NEGATIVE_INFINITY;
  }

  /** Whether a request of `cost` bytes fits. Requests of cost 0 always fit. */
  available(cost: number): boolean {
    if (cost === 0 || this.#quotaBytes <= 0) return true;
    return this.size() + cost <= this.#quotaBytes;
  }

  /** Whether the backend is over the quota now. */
  exceeded(): boolean {
    return this.#quotaBytes > 0 && this.size() > this.#quotaBytes;
  }
}

/** What {@link NoSpaceGuard} needs from the member. */
export interface NoSpaceHost {
  readonly id: bigint;
  /** Active alarms of a type (the member's applied alarm store). */
  alarms(type: etcdserverpb.AlarmType): etcdserverpb.AlarmMember[];
  /** Replicates the alarm request (resolves once applied here). */
  proposeAlarm(req: etcdserverpb.AlarmRequest, signal: AbortSignal): Promise<unknown>;
  readonly stopping: AbortSignal;
  readonly logger: { warn(o: object, m: string): void };
}

/** The member side of the quota: the check before proposing and raising NOSPACE. */
export class NoSpaceGuard {
  readonly #host: NoSpaceHost;
  readonly quota: BackendQuota;
  readonly #quotaBytes: number;
  #raising: Promise<void> | null = null;

  constructor(host: NoSpaceHost, quota: BackendQuota, quotaBytes: number) {
    this.#host = host;
    this.quota = quota;
    this.#quotaBytes = quotaBytes;
  }

  /**
   * The check before proposing `request`: undefined if it may be proposed, otherwise a
   * promise rejecting with ErrNoSpace — after this member's NOSPACE alarm is applied when
   * the request does not fit (as etcd, which raises the alarm before answering).
   */
  check(request: ProposalRequest): Promise<never> | undefined {
    const cost = requestCost(request);
    if (cost === 0) return undefined;
    if (!this.quota.available(cost)) {
      return this.raise().then(() => Promise.reject(new EtcdError(ErrNoSpace)));
    }
    if (this.#host.alarms(etcdserverpb.AlarmType.NOSPACE).length > 0) {
      return Promise.reject(new EtcdError(ErrNoSpace));
    }
    return undefined;
  }

  /** After applied entries: raises the alarm if the backend is over the quota. */
  afterApply(): void {
    if (this.quota.exceeded()) void this.raise();
  }

  /**
   * Proposes this member's NOSPACE alarm unless it is active or being proposed; resolves
   * once it is applied here (or the proposal failed, which is logged).
   */
  raise(): Promise<void> {
    const h = this.#host;
    const NOSPACE = etcdserverpb.AlarmType.NOSPACE;
    if (this.#raising) return this.#raising;
    if (h.stopping.aborted || h.alarms(NOSPACE).some((a) => a.memberID === h.id)) {
      return Promise.resolve();
    }
    h.logger.warn(
      { size: this.quota.size(), quota: this.#quotaBytes },
      "backend quota exceeded; raising the NOSPACE alarm",
    );
    const req = etcdserverpb.AlarmRequest.fromPartial({
      action: etcdserverpb.AlarmRequest_AlarmAction.ACTIVATE,
      memberID: h.id,
      alarm: NOSPACE,
    });
    const p = h
      .proposeAlarm(req, h.stopping)
      .then(() => {})
      .catch((err: unknown) => {
        h.logger.warn({ err: (err as Error).message }, "raising the NOSPACE alarm failed");
      })
      .finally(() => {
        this.#raising = null;
      });
    this.#raising = p;
    return p;
  }
}
