/**
 * Judging what the member answered, and probing the member between batches.
 */
import { etcdserverpb } from "@chainfire/api";
import type { Member } from "../harness/index.js";
import type { Method } from "./frames.js";
import { grpcFrame, type RawGrpcConnection, type RawOutcome } from "./raw-grpc.js";

/** Counts of outcomes, by a short label ("OK", "INVALID_ARGUMENT", "reset 7", "open"). */
export class Tally {
  readonly counts = new Map<string, number>();
  readonly problems: string[] = [];

  add(label: string): void {
    this.counts.set(label, (this.counts.get(label) ?? 0) + 1);
  }

  /** One line: `OK=12 INVALID_ARGUMENT=40 ...`, sorted. */
  describe(): string {
    return [...this.counts.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${v}`)
      .join(" ");
  }
}

const CODE_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

/**
 * Records `o` in `tally`; adds a problem when it is not a valid response or a proper
 * gRPC status: a hang of a call that should have ended, a transport error, UNKNOWN (a
 * handler threw something that is not a status), a Chainfire bug answer, or an OK answer
 * whose messages do not decode as the method's response.
 */
export function judge(m: Method, what: string, o: RawOutcome, tally: Tally): void {
  const bidi = m.requestStream && m.responseStream;
  const problem = (p: string) => tally.problems.push(`${m.path} [${what}]: ${p}`);
  switch (o.kind) {
    case "hang":
      if (bidi) tally.add("open");
      else problem(`no answer within ${o.afterMs} ms`);
      return;
    case "error":
      tally.add("error");
      problem(o.error);
      return;
    case "reset":
      tally.add(`reset ${o.rstCode}`);
      return;
  }
  const name = CODE_NAMES[o.code];
  if (name === undefined) {
    problem(`grpc-status ${o.code} is not a gRPC code`);
    return;
  }
  tally.add(name);
  if (name === "UNKNOWN" || /internal error/i.test(o.message)) {
    problem(`${name} "${o.message}"`);
    return;
  }
  if (name !== "OK") return;
  if (!m.responseStream && !o.truncated && o.messages.length !== 1) {
    problem(`OK with ${o.messages.length} messages`);
  }
  for (const msg of o.messages.slice(0, 20)) {
    try {
      m.decodeResponse(msg);
    } catch (e) {
      problem(`OK but the response does not decode: ${e}`);
      return;
    }
  }
}

/** The member's revision and HashKV at that revision, over `conn`. */
export async function revisionAndHash(
  conn: RawGrpcConnection,
): Promise<{ revision: bigint; hash: number; compactRevision: bigint }> {
  const req = Buffer.from(etcdserverpb.HashKVRequest.encode({ revision: 0n }).finish());
  const o = await conn.call("/etcdserverpb.Maintenance/HashKV", [grpcFrame(req)], {
    timeoutMs: 30_000,
  });
  if (o.kind !== "status" || o.code !== 0 || o.messages.length !== 1) {
    throw new Error(`HashKV failed: ${JSON.stringify(o).slice(0, 300)}`);
  }
  const res = etcdserverpb.HashKVResponse.decode(o.messages[0]!);
  return {
    revision: res.header!.revision,
    hash: res.hash,
    compactRevision: res.compactRevision,
  };
}

/** Lines of the member's log at level fatal (pino's "level":"fatal" or 60). */
export function fatalLines(member: Member): string[] {
  return member
    .logTail(1_000_000)
    .split("\n")
    .filter((l) => /"level":("fatal"|60)\b/.test(l));
}

/** RSS in MiB, for printing. */
export function mib(bytes: number | undefined): string {
  return bytes === undefined ? "?" : (bytes / 1024 / 1024).toFixed(0);
}
