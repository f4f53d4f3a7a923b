/**
 * The health checks behind GET /health, /livez and /readyz, as etcd 3.5.11+ defines them
 * (server/etcdserver/api/etcdhttp/health.go):
 *
 * - /health: `{"health":"true","reason":""}` (200) or `{"health":"false","reason":"..."}`
 *   (503). Fails on an active alarm (`?exclude=NOSPACE` skips one; reason "ALARM
 *   NOSPACE"), without a leader ("RAFT NO LEADER"; skipped with `?serializable=true`),
 *   and when a read fails within the deadline ("RANGE ERROR:<etcd error>"); a
 *   linearizable read (ReadIndex round + wait for apply) unless `?serializable=true`.
 * - /livez: `serializable_read` — the member's local store answers.
 * - /readyz: `data_corruption` (no CORRUPT alarm), `serializable_read`,
 *   `linearizable_read` — and, ours, `started` (the member finished starting).
 *   Both answer "ok" (200) or, on failure, one "[+]name ok" / "[-]name failed: reason"
 *   line per check (503); `?verbose` lists the checks on success too, `?exclude=name`
 *   skips one, and `/readyz/<name>` runs one check.
 */
import { ErrTimeout, EtcdError, etcdserverpb } from "@chainfire/api";
import type { MemberContext } from "./member-context.js";

/** The body of GET /health. */
export interface HealthBody {
  health: "true" | "false";
  reason: string;
}

/** One named check: resolves when it passes, rejects with the reason otherwise. */
export type HealthCheck = (signal: AbortSignal) => Promise<void>;

const ALARM_REASONS: Record<number, string> = {
  [etcdserverpb.AlarmType.NOSPACE]: "ALARM NOSPACE",
  [etcdserverpb.AlarmType.CORRUPT]: "ALARM CORRUPT",
};

/** The health logic of one member; `timeoutMs` bounds each read check. */
export class MemberHealth {
  #started = false;

  constructor(
    private readonly ctx: MemberContext,
    readonly timeoutMs: number,
  ) {
    ctx.ready.then(
      () => {
        this.#started = true;
      },
      () => {},
    );
  }

  /** GET /health. */
  async health(query: URLSearchParams, signal?: AbortSignal): Promise<HealthBody> {
    const excluded = new Set(query.getAll("exclude"));
    const serializable = query.get("serializable") === "true";
    for (const a of this.ctx.alarms()) {
      const name = etcdserverpb.alarmTypeToJSON(a.alarm);
      if (excluded.has(name)) continue;
      return { health: "false", reason: ALARM_REASONS[a.alarm] ?? "ALARM UNKNOWN" };
    }
    if (!serializable && !this.ctx.hasLeader()) {
      return { health: "false", reason: "RAFT NO LEADER" };
    }
    try {
      await (serializable ? this.localRead() : this.linearizableRead(signal));
    } catch (err) {
      return { health: "false", reason: `RANGE ERROR:${(err as Error).message}` };
    }
    return { health: "true", reason: "" };
  }

  /** The /livez checks, in order. */
  livez(): Map<string, HealthCheck> {
    return new Map([["serializable_read", () => this.localRead()]]);
  }

  /** The /readyz checks, in order. */
  readyz(): Map<string, HealthCheck> {
    return new Map<string, HealthCheck>([
      ["started", async () => this.checkStarted()],
      [
        "data_corruption",
        async () => {
          if (this.ctx.alarms().some((a) => a.alarm === etcdserverpb.AlarmType.CORRUPT)) {
            throw new Error("alarm activated: CORRUPT");
          }
        },
      ],
      ["serializable_read", () => this.localRead()],
      ["linearizable_read", (signal) => this.linearizableRead(signal)],
    ]);
  }

  private checkStarted(): void {
    if (!this.#started) throw new Error("member is still starting");
    if (this.ctx.stopping.aborted) throw new Error("member is stopping");
  }

  /** A read of the local store (etcd: a serializable Range of one key). */
  private async localRead(): Promise<void> {
    this.checkStarted();
    this.ctx.store.range({ key: Buffer.from("health"), limit: 1n, keysOnly: true });
  }

  /** A ReadIndex round and a local read, within {@link timeoutMs}. */
  private async linearizableRead(signal?: AbortSignal): Promise<void> {
    this.checkStarted();
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const both = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    await raceAbort(this.ctx.readBarrier(both), both);
    this.ctx.store.range({ key: Buffer.from("health"), limit: 1n, keysOnly: true });
  }
}

/** `p`, or ErrTimeout once `signal` aborts (should the barrier not honor the signal). */
function raceAbort(p: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(new EtcdError(ErrTimeout));
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(new EtcdError(ErrTimeout));
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        // An abort surfaces as ErrCanceled/AbortError from the barrier: report a timeout.
        reject(signal.aborted ? new EtcdError(ErrTimeout) : err);
      },
    );
  });
}

/** Runs `checks` (minus `excluded`) and renders etcd's text body. */
export async function runChecks(
  checks: ReadonlyMap<string, HealthCheck>,
  excluded: ReadonlySet<string>,
  signal: AbortSignal,
): Promise<{ ok: boolean; report: string }> {
  let ok = true;
  let report = "";
  for (const [name, check] of checks) {
    if (excluded.has(name)) continue;
    try {
      await check(signal);
      report += `[+]${name} ok\n`;
    } catch (err) {
      ok = false;
      report += `[-]${name} failed: ${(err as Error).message}\n`;
    }
  }
  return { ok, report };
}
