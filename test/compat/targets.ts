/**
 * Which implementations the compatibility suites run against.
 *
 * `CHAINFIRE_COMPAT_TARGETS` = "chainfire" | "etcd" | "both" (or a comma list) chooses
 * explicitly. Without it, the suites run against Chainfire; asking for chainfire before its
 * member is built (`npx tsc -b` → packages/server/dist/cli/main.js) fails loudly.
 */
import { CHAINFIRE_MAIN, kindAvailable, type MemberKind } from "../harness/index.js";

/**
 * Flip to `true` when the Chainfire member serves the KV API: the default target becomes
 * chainfire (whenever packages/server/dist/cli/main.js is built). This is the one line
 * that enables Chainfire in `npm test`.
 */
export const CHAINFIRE_BY_DEFAULT = true;

/** The targets selected for this run, in a stable order. */
export function compatTargets(env: string | undefined = process.env.CHAINFIRE_COMPAT_TARGETS) {
  const requested = parseTargets(env);
  for (const kind of requested) {
    if (!kindAvailable(kind)) {
      throw new Error(
        `CHAINFIRE_COMPAT_TARGETS asks for ${kind}, but ${CHAINFIRE_MAIN} is missing: run npx tsc -b`,
      );
    }
  }
  return requested;
}

function parseTargets(env: string | undefined): MemberKind[] {
  const value = env?.trim() ?? "";
  if (value === "") {
    // No silent fallback: a missing build must fail the suites, not quietly test etcd.
    return CHAINFIRE_BY_DEFAULT ? ["chainfire"] : ["etcd"];
  }
  if (value === "both") return ["etcd", "chainfire"];
  const kinds = value.split(",").map((part) => part.trim());
  for (const kind of kinds) {
    if (kind !== "etcd" && kind !== "chainfire") {
      throw new Error(`CHAINFIRE_COMPAT_TARGETS: unknown target ${JSON.stringify(kind)}`);
    }
  }
  return [...new Set(kinds as MemberKind[])];
}
