/**
 * Linearizability of a KV history, checked key by key (etcd's keys are independent
 * registers, so a history is linearizable iff each key's sub-history is: locality,
 * Herlihy & Wing 1990 §3.3) with the {@link kvModel} and the {@link checkOperations}
 * search.
 *
 * Before the search, each key's history is prepared:
 * - failed operations and reads of unknown outcome are dropped (they changed nothing);
 * - a write of unknown outcome whose (unique) value some read observed certainly took
 *   effect: it gets the revision that read saw, and must be linearized before the
 *   earliest observer returned (its return time becomes that, instead of +∞);
 * - a write of unknown outcome whose value nobody observed is dropped. Every state it
 *   could have produced carries its value, and nobody saw that value, so some
 *   linearization with the write taking effect exists iff one without it does — as long
 *   as no compare-and-set names the revision it would have had, which a client can
 *   only learn by observing the value. This removes the +∞ operations that make the
 *   search exponential after a crash.
 *   Dropping is skipped for a key where some successful compare-and-set expected a
 *   revision that no completed operation reported (the client must have guessed it, or
 *   learned it from a write of unknown outcome).
 * The value rule needs values to be unique per key; when they are not, nothing is
 * dropped or pinned and the search handles the unknown writes as such.
 */
import { describeOp, type Op } from "../history.js";
import type { KvInput, KvOutput } from "./kv-model.js";
import { kvModel } from "./kv-model.js";
import { checkOperations, type Operation, type SearchResult } from "./wgl.js";

/** Verdict of the linearizability check of one key. */
export interface KeyVerdict {
  key: string;
  verdict: SearchResult["verdict"];
  /** Operations searched (after preparation) and dropped. */
  checked: number;
  dropped: number;
  /** Unknown writes pinned by an observation. */
  pinned: number;
  steps: number;
  ms: number;
  /** For illegal/unknown verdicts: what went wrong, readable. */
  explanation?: string;
}

/** Verdict of the whole history. */
export interface LinearizabilityVerdict {
  valid: boolean | "unknown";
  keys: KeyVerdict[];
}

/** Options of {@link checkLinearizable}. */
export interface LinearizableOptions {
  /** Search budget per key (default 30 s). */
  timeoutMs?: number;
}

/** Checks a KV history (get/put/cas/del on any number of keys). */
export function checkLinearizable(
  history: readonly Op[],
  options: LinearizableOptions = {},
): LinearizabilityVerdict {
  const byKey = new Map<string, Op[]>();
  for (const op of history) {
    let ops = byKey.get(op.key);
    if (!ops) byKey.set(op.key, (ops = []));
    ops.push(op);
  }
  const keys = [...byKey.keys()].sort().map((key) => checkKey(key, byKey.get(key)!, options));
  const valid = keys.some((k) => k.verdict === "illegal")
    ? false
    : keys.some((k) => k.verdict === "unknown")
      ? "unknown"
      : true;
  return { valid, keys };
}

interface Prepared {
  operations: Operation<KvInput, KvOutput>[];
  /** The history op behind each operation. */
  source: Op[];
  dropped: number;
  pinned: number;
}

/** Builds the search input of one key (see the module comment). */
export function prepareKey(ops: readonly Op[]): Prepared {
  const writes = ops.filter((op) => op.f === "put" || op.f === "cas");
  const values = writes.map((op) => op.value);
  const unique = new Set(values).size === values.length;
  // value -> (first observed mod_revision, earliest completion of an observer)
  const seen = new Map<string, { modRev: number; by: number }>();
  for (const op of ops) {
    if (op.status !== "ok" || op.complete === undefined) continue;
    const observed = op.f === "get" || (op.f === "cas" && op.succeeded === false);
    if (!observed || op.read === null || op.read === undefined) continue;
    const prior = seen.get(op.read);
    if (!prior || op.complete < prior.by) {
      seen.set(op.read, { modRev: op.readModRev ?? 0, by: op.complete });
    }
  }
  // A successful cas expecting a revision no completed operation reported can only be
  // explained by a write of unknown outcome: keep them all for the search.
  const reported = new Set<number>([0]);
  for (const op of ops) {
    if (op.status !== "ok") continue;
    if (op.readModRev !== undefined) reported.add(op.readModRev);
    if (op.f === "put" || op.succeeded) reported.add(op.rev!);
  }
  const blind = ops.some((op) => op.f === "cas" && op.succeeded && !reported.has(op.expect!));
  const prepared: Prepared = { operations: [], source: [], dropped: 0, pinned: 0 };
  for (const op of ops) {
    const operation = toOperation(op, unique && !blind ? seen : undefined);
    if (operation === "drop") {
      prepared.dropped++;
      continue;
    }
    if (operation.output.f === "wrote" && op.status === "unknown") prepared.pinned++;
    prepared.operations.push(operation);
    prepared.source.push(op);
  }
  return prepared;
}

function toOperation(
  op: Op,
  seen: Map<string, { modRev: number; by: number }> | undefined,
): Operation<KvInput, KvOutput> | "drop" {
  if (op.status === "fail") return "drop";
  const input = inputOf(op);
  if (op.status === "ok") {
    if (op.complete === undefined) throw new Error(`ok operation without completion: #${op.id}`);
    return { call: op.invoke, ret: op.complete, input, output: outputOf(op) };
  }
  // Unknown outcome.
  if (op.f === "get") return "drop";
  if (op.f === "del" || !seen) {
    return { call: op.invoke, ret: Number.POSITIVE_INFINITY, input, output: { f: "unknown" } };
  }
  const observed = seen.get(op.value!);
  if (!observed) return "drop";
  const ret = Math.max(op.invoke, observed.by);
  return { call: op.invoke, ret, input, output: { f: "wrote", rev: observed.modRev } };
}

function inputOf(op: Op): KvInput {
  switch (op.f) {
    case "get":
      return { f: "get" };
    case "put":
      return { f: "put", value: op.value! };
    case "cas":
      return { f: "cas", expect: op.expect!, value: op.value! };
    case "del":
      return { f: "del" };
  }
}

function outputOf(op: Op): KvOutput {
  switch (op.f) {
    case "get":
      return { f: "get", value: op.read ?? null, modRev: op.readModRev ?? 0 };
    case "put":
      return { f: "wrote", rev: op.rev! };
    case "cas":
      return op.succeeded
        ? { f: "wrote", rev: op.rev! }
        : { f: "cas-failed", value: op.read ?? null, modRev: op.readModRev ?? 0 };
    case "del":
      return { f: "del", deleted: op.deleted ?? 0 };
  }
}

function checkKey(key: string, ops: readonly Op[], options: LinearizableOptions): KeyVerdict {
  const started = Date.now();
  const prepared = prepareKey(ops);
  const result = checkOperations(kvModel, prepared.operations, {
    timeoutMs: options.timeoutMs,
  });
  const verdict: KeyVerdict = {
    key,
    verdict: result.verdict,
    checked: prepared.operations.length,
    dropped: prepared.dropped,
    pinned: prepared.pinned,
    steps: result.steps,
    ms: Date.now() - started,
  };
  if (result.verdict === "illegal") {
    verdict.explanation = explainIllegal(key, prepared, result);
  } else if (result.verdict === "unknown") {
    verdict.explanation = `${result.reason}; longest partial linearization: ${result.longest.length} of ${prepared.operations.length} operations`;
  }
  return verdict;
}

function explainIllegal(
  key: string,
  prepared: Prepared,
  result: Extract<SearchResult, { verdict: "illegal" }>,
): string {
  const describe = (i: number) => {
    const op = prepared.source[i];
    const note =
      op.status === "unknown"
        ? ` [unknown outcome; pinned: ${JSON.stringify(prepared.operations[i].output)}]`
        : "";
    return `  ${describeOp(op)}${note}`;
  };
  const tail = result.longest.slice(-8);
  return [
    `key ${JSON.stringify(key)} is not linearizable: linearized ${result.longest.length} of ${prepared.operations.length} operations,`,
    `state then (=exact, >lower bound): ${result.stateKey}`,
    "last operations of the longest linearization:",
    ...tail.map(describe),
    "none of these could go next:",
    ...result.stuck.map(describe),
  ].join("\n");
}
