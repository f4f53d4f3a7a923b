/**
 * The Wing–Gong linearizability search with Lowe's memoisation, as porcupine does it
 * (anishathalye/porcupine `checker.go`), for a possibly nondeterministic model.
 *
 * Call and return events of every operation sit in one doubly linked list in time order.
 * The search walks the list: at a call it tries to linearize that operation next (the
 * model must accept it from the current state); a successful step lifts the call and its
 * return out of the list and restarts from the front. Reaching a return means the
 * operation it belongs to should already have been linearized: backtrack. A cache of
 * (set of linearized operations, model state) pairs prunes configurations already seen,
 * which turns the exponential search into one that is fast on real histories.
 *
 * An operation whose outcome is unknown has its return at +∞: it may be linearized at
 * any point after its call, including after everything else (then it has no visible
 * effect), which is exactly "may or may not have taken effect".
 */

/** A sequential specification. `step` lists every state the operation may lead to. */
export interface Model<S, I, O> {
  init(): S;
  /** Next states after `input` produced `output` in `state`; empty when impossible. */
  step(state: S, input: I, output: O): S[];
  /** Canonical text of a state: equal states must give equal keys. */
  key(state: S): string;
}

/** One operation as the search sees it. */
export interface Operation<I, O> {
  /** Invocation time. */
  call: number;
  /** Response time; `Infinity` when the outcome is unknown. */
  ret: number;
  input: I;
  output: O;
}

/** Options of {@link checkOperations}. */
export interface SearchOptions {
  /** Give up (verdict "unknown") after this many milliseconds (default 30 s). */
  timeoutMs?: number;
}

/** The verdict of one search. */
export type SearchResult =
  | { verdict: "ok"; order: number[]; steps: number }
  | {
      verdict: "illegal";
      /** The longest partial linearization found (operation indexes, in order). */
      longest: number[];
      /** State after {@link longest}. */
      stateKey: string;
      /** Operations that were candidates next and none of which the model accepted. */
      stuck: number[];
      steps: number;
    }
  | { verdict: "unknown"; reason: string; longest: number[]; steps: number };

interface Entry {
  /** Operation index. */
  id: number;
  isCall: boolean;
  /** For a call: its return entry. */
  match: Entry | undefined;
  prev: Entry | undefined;
  next: Entry | undefined;
  time: number;
}

interface Frame<S> {
  entry: Entry;
  before: S;
  choices: S[];
  choice: number;
}

/** Checks whether `operations` are linearizable with respect to `model`. */
export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  operations: readonly Operation<I, O>[],
  options: SearchOptions = {},
): SearchResult {
  const n = operations.length;
  if (n === 0) return { verdict: "ok", order: [], steps: 0 };
  const head = buildList(operations);
  const words = Math.ceil(n / 32);
  const bits = new Uint32Array(words);
  const zobrist = zobristTable(n);
  let hash = 0;
  const cache = new Map<string, Uint32Array[]>();
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const stack: Frame<S>[] = [];
  let state = model.init();
  let entry = head.next;
  let steps = 0;
  let longest: number[] = [];
  let longestState = model.key(state);
  let stuck = candidates(head);

  const flip = (id: number) => {
    bits[id >>> 5] ^= 1 << (id & 31);
    hash = (hash ^ zobrist[id]) >>> 0;
  };

  /** Records (bits, state) in the cache; false when it was already there. */
  const remember = (stateKey: string): boolean => {
    const key = `${hash}:${stateKey}`;
    const seen = cache.get(key);
    if (seen) {
      for (const other of seen) if (equalBits(other, bits)) return false;
      seen.push(bits.slice());
    } else {
      cache.set(key, [bits.slice()]);
    }
    return true;
  };

  /** Tries choices[from..] for `at`; on success linearizes it and returns true. */
  const attempt = (at: Entry, before: S, choices: S[], from: number): boolean => {
    for (let c = from; c < choices.length; c++) {
      const next = choices[c];
      flip(at.id);
      if (remember(model.key(next))) {
        stack.push({ entry: at, before, choices, choice: c });
        state = next;
        lift(at);
        if (stack.length > longest.length) {
          longest = stack.map((f) => f.entry.id);
          longestState = model.key(state);
          stuck = candidates(head);
        }
        return true;
      }
      flip(at.id);
    }
    return false;
  };

  while (head.next) {
    if (++steps % 4096 === 0 && Date.now() > deadline) {
      return {
        verdict: "unknown",
        reason: `search gave up after ${options.timeoutMs ?? 30_000} ms (${steps} steps, ${cache.size} cached states)`,
        longest,
        steps,
      };
    }
    if (!entry) throw new Error("linearizability search walked off the list (bug)");
    if (entry.isCall) {
      const op = operations[entry.id];
      const choices = model.step(state, op.input, op.output);
      if (attempt(entry, state, choices, 0)) {
        entry = head.next;
      } else {
        entry = entry.next;
      }
      continue;
    }
    // A return: its operation had to be linearized before this point. Backtrack.
    const frame = stack.pop();
    if (!frame) {
      return { verdict: "illegal", longest, stateKey: longestState, stuck, steps };
    }
    state = frame.before;
    flip(frame.entry.id);
    unlift(frame.entry);
    entry = attempt(frame.entry, frame.before, frame.choices, frame.choice + 1)
      ? head.next
      : frame.entry.next;
  }
  return { verdict: "ok", order: stack.map((f) => f.entry.id), steps };
}

/** Calls before the first return in the list: the operations that could go next. */
function candidates(head: Entry): number[] {
  const ids: number[] = [];
  for (let e = head.next; e?.isCall; e = e.next) ids.push(e.id);
  const first = head.next;
  if (first && !first.isCall) ids.push(first.id);
  return ids;
}

function buildList<I, O>(operations: readonly Operation<I, O>[]): Entry {
  const events: Entry[] = [];
  operations.forEach((op, id) => {
    if (!(op.ret >= op.call)) throw new Error(`operation ${id} returns before it is called`);
    const ret: Entry = {
      id,
      isCall: false,
      match: undefined,
      prev: undefined,
      next: undefined,
      time: op.ret,
    };
    const call: Entry = {
      id,
      isCall: true,
      match: ret,
      prev: undefined,
      next: undefined,
      time: op.call,
    };
    events.push(call, ret);
  });
  // Time order; at equal times calls first (the operations count as concurrent).
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1));
  const head: Entry = {
    id: -1,
    isCall: false,
    match: undefined,
    prev: undefined,
    next: undefined,
    time: -Infinity,
  };
  let last = head;
  for (const e of events) {
    last.next = e;
    e.prev = last;
    last = e;
  }
  return head;
}

/** Removes a call and its return from the list. */
function lift(call: Entry): void {
  const ret = call.match!;
  call.prev!.next = call.next;
  if (call.next) call.next.prev = call.prev;
  ret.prev!.next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

/** Undoes {@link lift} (in reverse order, so the neighbours are right again). */
function unlift(call: Entry): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next) call.next.prev = call;
}

function equalBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Deterministic per-operation hash words (xorshift), so runs are reproducible. */
function zobristTable(n: number): Uint32Array {
  const table = new Uint32Array(n);
  let x = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    table[i] = x >>> 0;
  }
  return table;
}
