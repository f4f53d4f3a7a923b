/**
 * etcdctl's `txn` input: compares, a blank line, the success operations, a blank
 * line, the failure operations.
 *
 * ```
 * mod("key1") > "0"
 * value("key2") = "x"
 *
 * put key1 "new value"
 * get key2
 *
 * del key1
 * ```
 *
 * @module
 */

import { type KeySelector, parseId } from "../bytes.js";
import { type Compare, type CompareOp, type CompareTarget, compare, type Op, op } from "../txn.js";
import { CliError, ExitInvalidInput } from "./exit-codes.js";

/** Splits a line into words; double quotes group words, with \" and \\ escapes. */
export function argify(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2]);
  }
  return out;
}

const targets: Record<string, CompareTarget> = {
  ver: "version",
  version: "version",
  c: "create",
  create: "create",
  m: "mod",
  mod: "mod",
  val: "value",
  value: "value",
  lease: "lease",
};

/** Parses one compare line: `target("key") op "value"`. */
export function parseCompare(line: string): Compare {
  const m = /^\s*(\w+)\("((?:[^"\\]|\\.)*)"\)\s*(==|=|!=|<|>)\s*"((?:[^"\\]|\\.)*)"\s*$/.exec(line);
  if (!m) throw new CliError(`malformed comparison: ${line}`, ExitInvalidInput);
  const target = targets[m[1].toLowerCase()];
  if (!target)
    throw new CliError(`malformed comparison: ${line} (unknown target ${m[1]})`, ExitInvalidInput);
  const key = m[2].replace(/\\(.)/g, "$1");
  const operand = m[4].replace(/\\(.)/g, "$1");
  if (target === "value") return compare.value(key, m[3] as CompareOp, operand);
  if (target === "lease")
    return compare.lease(key, m[3] as CompareOp, operand === "0" ? 0n : parseId(operand));
  if (!/^-?\d+$/.test(operand))
    throw new CliError(`malformed comparison: ${line} (not a number)`, ExitInvalidInput);
  return compare.of(key, target, m[3] as CompareOp, BigInt(operand));
}

/** Parses one operation line: `put key value [--lease=id]`, `get key [end] [--prefix]`, `del key [end] [--prefix]`. */
export function parseOp(line: string): Op {
  const words = argify(line);
  const flags = new Set(words.filter((w) => w.startsWith("--")));
  const args = words.filter((w) => !w.startsWith("--"));
  const [verb, key, third] = args;
  const lease = [...flags].find((f) => f.startsWith("--lease="))?.slice("--lease=".length);
  const selector = (): KeySelector =>
    flags.has("--prefix")
      ? { prefix: key }
      : third !== undefined
        ? { start: key, end: third }
        : key;
  switch (verb) {
    case "put":
      if (key === undefined || third === undefined)
        throw new CliError(`put needs a key and a value: ${line}`, ExitInvalidInput);
      return op.put(key, third, {
        lease: lease ? parseId(lease) : undefined,
        prevKv: flags.has("--prev-kv"),
      });
    case "get":
      if (key === undefined) throw new CliError(`get needs a key: ${line}`, ExitInvalidInput);
      return op.getAll(selector());
    case "del":
    case "delete":
      if (key === undefined) throw new CliError(`del needs a key: ${line}`, ExitInvalidInput);
      return op.delete(selector(), { prevKv: flags.has("--prev-kv") });
    default:
      throw new CliError(`unknown operation: ${line}`, ExitInvalidInput);
  }
}

/** The three sections of a txn request. */
export interface TxnInput {
  compares: Compare[];
  success: Op[];
  failure: Op[];
}

/** Parses the whole input. */
export function parseTxn(text: string): TxnInput {
  const sections: string[][] = [[], [], []];
  let section = 0;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "") {
      section++;
      if (section > 2) break;
      continue;
    }
    sections[section].push(line);
  }
  return {
    compares: sections[0].map(parseCompare),
    success: sections[1].map(parseOp),
    failure: sections[2].map(parseOp),
  };
}
