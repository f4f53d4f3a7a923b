/**
 * Synthetic histories for the checkers' own tests: clients run sequential operations
 * with random durations against a simulated etcd (global revision, per-key value and
 * mod_revision); each operation takes effect at a random instant inside its interval,
 * so the history is linearizable by construction — unless a fault is switched on.
 */
import type { Op, OpKind } from "../history.js";
import { rng } from "../random.js";

/** Options of {@link simulate}. */
export interface SimulateOptions {
  seed: number;
  clients: number;
  opsPerClient: number;
  keys: number;
  /** Probability that a write's outcome is unknown (it then takes effect half the time). */
  unknown?: number;
  /**
   * A bug: with this probability a read answers from a stale snapshot (the key's
   * previous write), as a member that lost its leadership without noticing would.
   */
  staleReads?: number;
  /** A bug: with this probability an acknowledged write is silently not applied. */
  lostWrites?: number;
}

/** What the simulation did, for asserting on the checker's verdict. */
export interface Simulated {
  history: Op[];
  /** Stale reads that were observable (issued after the hidden write completed). */
  visibleStaleReads: number;
  /** Lost writes that a read invoked after their acknowledgement missed. */
  lostWrites: number;
}

interface Planned {
  op: Op;
  at: number;
  /** An unknown write that does take effect. */
  applies: boolean;
}

/** Runs the simulation. */
export function simulate(options: SimulateOptions): Simulated {
  const random = rng(options.seed);
  const planned: Planned[] = [];
  let id = 0;
  for (let c = 0; c < options.clients; c++) {
    let t = random() * 5;
    for (let i = 0; i < options.opsPerClient; i++) {
      const duration = 0.5 + random() * 10;
      const roll = random();
      const f: OpKind = roll < 0.45 ? "get" : roll < 0.75 ? "put" : "cas";
      const op: Op = {
        id: id++,
        client: c,
        member: c % 3,
        f,
        key: `k${Math.floor(random() * options.keys)}`,
        invoke: t,
        complete: t + duration,
        status: "ok",
      };
      if (f !== "get") op.value = `v${op.id}`;
      const unknown = f !== "get" && random() < (options.unknown ?? 0);
      if (unknown) {
        op.status = "unknown";
        op.complete = undefined;
      }
      planned.push({ op, at: t + random() * duration, applies: !unknown || random() < 0.5 });
      t += duration + random() * 3;
    }
  }
  planned.sort((a, b) => a.at - b.at);
  const store = new Map<
    string,
    { value: string; modRev: number; prev?: { value: string; modRev: number }; writtenBy: Op }
  >();
  const lastSeen = new Map<string, number>(); // `${client}/${key}` -> mod_revision seen
  let revision = 1;
  let visibleStaleReads = 0;
  const lost: Op[] = [];
  for (const { op, applies } of planned) {
    const current = store.get(op.key);
    const memory = `${op.client}/${op.key}`;
    if (op.f === "get") {
      let shown = current ? { value: current.value, modRev: current.modRev } : undefined;
      if (current?.prev && random() < (options.staleReads ?? 0)) {
        shown = current.prev;
        if (current.writtenBy.complete !== undefined && current.writtenBy.complete < op.invoke) {
          visibleStaleReads++;
        }
      }
      op.rev = revision;
      op.read = shown?.value ?? null;
      op.readModRev = shown?.modRev ?? 0;
      lastSeen.set(memory, op.readModRev);
      continue;
    }
    if (op.f === "cas") op.expect = lastSeen.get(memory) ?? 0;
    const matches = op.f === "put" || (current?.modRev ?? 0) === op.expect;
    if (op.f === "cas" && !matches) {
      if (op.status === "unknown") continue; // its client never learns what it read
      op.succeeded = false;
      op.rev = revision;
      op.read = current?.value ?? null;
      op.readModRev = current?.modRev ?? 0;
      lastSeen.set(memory, op.readModRev);
      continue;
    }
    if (!applies) continue;
    revision++;
    if (op.status === "ok") {
      op.rev = revision;
      if (op.f === "cas") op.succeeded = true;
    }
    if (op.status === "ok" && random() < (options.lostWrites ?? 0)) {
      lost.push(op);
      continue;
    }
    const prev = current ? { value: current.value, modRev: current.modRev } : undefined;
    store.set(op.key, { value: op.value!, modRev: revision, prev, writtenBy: op });
  }
  const history = planned.map((p) => p.op).sort((a, b) => a.invoke - b.invoke);
  const lostWrites = lost.filter((w) =>
    history.some(
      (r) =>
        r.f === "get" && r.key === w.key && r.invoke > w.complete! && (r.readModRev ?? 0) < w.rev!,
    ),
  ).length;
  return { history, visibleStaleReads, lostWrites };
}
