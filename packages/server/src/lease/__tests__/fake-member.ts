/**
 * A fake member for lessor unit tests: one replicated lease table shared by every fake
 * member of a "cluster", proposals that the test applies (or fails) explicitly with a
 * chosen entry term, leadership the test sets, a read barrier it can hold back, and one
 * FakeClock. No raft, no storage, no timers.
 */
import type { internalpb } from "@chainfire/api";
import type { LeaseRecord } from "@chainfire/storage";
import { silentLogger } from "../../log.js";
import { Lessor, type LessorHost } from "../lessor.js";
import { FakeClock, type LessorOptions } from "../options.js";

/** The replicated state: what every member has applied. */
export class FakeTable {
  readonly records = new Map<bigint, LeaseRecord>();
  readonly keys = new Map<bigint, string[]>();
  /** Every member's lessor, told of grants and revocations as the applier would. */
  readonly lessors: Lessor[] = [];

  grant(id: bigint, ttl: number): void {
    this.records.set(id, { id, ttl, remainingTtl: 0 });
    for (const l of this.lessors) l.granted(id, ttl);
  }

  revoke(id: bigint): boolean {
    if (!this.records.delete(id)) return false;
    this.keys.delete(id);
    for (const l of this.lessors) l.revoked(id);
    return true;
  }

  /** applyLessorRequest's effects, with its term rule; returns what it revoked. */
  applyLessor(req: internalpb.LessorRequest, entryTerm: bigint): bigint[] | "skipped" {
    if (req.term !== entryTerm) return "skipped";
    const revoked = req.expired.filter((id) => this.revoke(id));
    for (const cp of req.checkpoints) {
      const r = this.records.get(cp.ID);
      if (r) this.records.set(cp.ID, { ...r, remainingTtl: Number(cp.remainingTTL) });
    }
    return revoked;
  }
}

interface Proposal {
  req: internalpb.LessorRequest;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

export class FakeMember implements LessorHost {
  readonly id: bigint;
  readonly clusterId = 0xc1n;
  readonly logger = silentLogger();
  readonly #stop = new AbortController();
  readonly stopping = this.#stop.signal;
  readonly options = { heartbeatIntervalMs: 100, electionTimeoutMs: 1000 };
  readonly lessor: Lessor;
  readonly proposals: Proposal[] = [];
  #leader = false;
  #term = 1n;
  #lead = 0n;
  #listeners = new Set<(e: { isLeader: boolean }) => void>();
  /** While set, readBarrier waits for it. */
  barrier: Promise<void> | null = null;

  constructor(
    readonly table: FakeTable,
    readonly clock: FakeClock,
    id: bigint,
    options: Partial<LessorOptions> = {},
  ) {
    this.id = id;
    this.lessor = new Lessor(this, { clock, ...options });
    table.lessors.push(this.lessor);
  }

  get leases() {
    const t = this.table;
    return {
      get: (id: bigint) => {
        const r = t.records.get(id);
        return r ? { ...r } : undefined;
      },
      list: () =>
        [...t.records.values()].sort((a, b) => (a.id < b.id ? -1 : 1)).map((r) => ({ ...r })),
    };
  }

  get store() {
    return {
      keysOfLease: (id: bigint) => (this.table.keys.get(id) ?? []).map((k) => Buffer.from(k)),
    };
  }

  isLeader(): boolean {
    return this.#leader;
  }
  leader(): bigint {
    return this.#lead;
  }
  term(): bigint {
    return this.#term;
  }
  members() {
    return [{ id: this.id, peerUrls: [] as string[] }];
  }
  readBarrier(): Promise<void> {
    return this.barrier ?? Promise.resolve();
  }
  propose(request: { $case: "lessor"; value: internalpb.LessorRequest }): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.proposals.push({ req: request.value, resolve, reject });
    });
  }
  onLeaderChange(listener: (e: { isLeader: boolean }) => void) {
    this.#listeners.add(listener);
    return { dispose: () => this.#listeners.delete(listener) };
  }

  /**
   * Leadership as raft reports it; fires onLeaderChange (the lessor is not started in
   * unit tests — no timers — so it is told directly).
   */
  setLeadership(isLeader: boolean, term: bigint, lead: bigint): void {
    this.#leader = isLeader;
    this.#term = term;
    this.#lead = lead;
    for (const l of this.#listeners) l({ isLeader });
    this.lessor.checkLeadership();
  }

  /**
   * Commits and applies this member's oldest proposal in an entry of `entryTerm` (default:
   * the term it was decided in), answers it and lets the lessor react.
   */
  async applyNext(entryTerm?: bigint): Promise<bigint[] | "skipped"> {
    const p = this.proposals.shift();
    if (p === undefined) throw new Error(`member ${this.id}: nothing proposed`);
    const out = this.table.applyLessor(p.req, entryTerm ?? p.req.term);
    if (out === "skipped") p.reject(new Error("etcdserver: leader changed"));
    else p.resolve({ revoked: out });
    await settle();
    return out;
  }

  /** Fails this member's oldest proposal (not applied). */
  async failNext(): Promise<void> {
    const p = this.proposals.shift();
    if (p === undefined) throw new Error(`member ${this.id}: nothing proposed`);
    p.reject(new Error("etcdserver: request timed out"));
    await settle();
  }

  stop(): void {
    this.#stop.abort();
  }
}

/** Lets promises settle (promotion after the barrier, renewals after an apply). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

/** A cluster of fake members sharing one table and clock. */
export function fakeCluster(n: number, options: Partial<LessorOptions> = {}) {
  const table = new FakeTable();
  const clock = new FakeClock();
  const members = Array.from(
    { length: n },
    (_, i) => new FakeMember(table, clock, BigInt(i + 1), options),
  );
  return { table, clock, members };
}
