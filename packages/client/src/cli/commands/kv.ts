/**
 * get, put, del, txn and compaction.
 *
 * @module
 */
import type { KeySelector } from "../../bytes.js";
import { parseId } from "../../bytes.js";
import type { KeyValue } from "../../key-value.js";
import type { DeleteResult, PutResult, RangeResult, SortOrder, SortTarget } from "../../kv.js";
import type { OpResult, TxnResult } from "../../txn.js";
import type { Register } from "../command.js";
import type { Context } from "../context.js";
import { CliError, ExitBadArgs, ExitInvalidInput } from "../exit-codes.js";
import { readAll } from "../io.js";
import { headerJson, kvJson } from "../output.js";
import { parseTxn } from "../txn-syntax.js";

function selector(
  key: string,
  rangeEnd: string | undefined,
  prefix?: boolean,
  fromKey?: boolean,
): KeySelector {
  if (prefix) return { prefix: key };
  if (fromKey) return { fromKey: key };
  if (rangeEnd !== undefined) return { start: key, end: rangeEnd };
  return key;
}

function printKvs(
  ctx: Context,
  kvs: KeyValue[],
  opts: { keysOnly?: boolean; valueOnly?: boolean } = {},
): void {
  for (const kv of kvs) {
    if (!opts.valueOnly) ctx.printer.bytes(kv.key);
    if (!opts.keysOnly) ctx.printer.bytes(kv.value);
    else ctx.printer.line();
  }
}

function printRange(
  ctx: Context,
  r: RangeResult,
  opts: { keysOnly?: boolean; valueOnly?: boolean; countOnly?: boolean } = {},
): void {
  if (ctx.format === "json") {
    ctx.printer.json({
      header: headerJson(r.header),
      kvs: r.kvs.map(kvJson),
      more: r.more || undefined,
      count: r.count,
    });
  } else if (ctx.format === "table") {
    ctx.printer.table(
      ["KEY", "VALUE"],
      r.kvs.map((kv) => [kv.keyString(), kv.string()]),
    );
  } else if (opts.countOnly) {
    ctx.printer.line(r.count.toString());
  } else {
    printKvs(ctx, r.kvs, opts);
  }
}

function printPut(ctx: Context, r: PutResult): void {
  if (ctx.format === "json") {
    ctx.printer.json({
      header: headerJson(r.header),
      prev_kv: r.prevKv ? kvJson(r.prevKv) : undefined,
    });
    return;
  }
  ctx.printer.line("OK");
  if (r.prevKv) printKvs(ctx, [r.prevKv]);
}

function printDelete(ctx: Context, r: DeleteResult): void {
  if (ctx.format === "json") {
    ctx.printer.json({
      header: headerJson(r.header),
      deleted: r.deleted,
      prev_kvs: r.prevKvs.map(kvJson),
    });
    return;
  }
  ctx.printer.line(r.deleted.toString());
  printKvs(ctx, r.prevKvs);
}

function opJson(r: OpResult): Record<string, unknown> {
  switch (r.type) {
    case "get":
      return {
        response_range: {
          header: headerJson(r.header),
          kvs: r.kvs.map(kvJson),
          more: r.more || undefined,
          count: r.count,
        },
      };
    case "put":
      return {
        response_put: {
          header: headerJson(r.header),
          prev_kv: r.prevKv ? kvJson(r.prevKv) : undefined,
        },
      };
    case "delete":
      return {
        response_delete_range: {
          header: headerJson(r.header),
          deleted: r.deleted,
          prev_kvs: r.prevKvs.map(kvJson),
        },
      };
    case "txn":
      return { response_txn: txnJson(r) };
  }
}

function txnJson(r: TxnResult): Record<string, unknown> {
  return {
    header: headerJson(r.header),
    succeeded: r.succeeded,
    responses: r.responses.map(opJson),
  };
}

function printTxn(ctx: Context, r: TxnResult): void {
  if (ctx.format === "json") {
    ctx.printer.json(txnJson(r));
    return;
  }
  ctx.printer.line(r.succeeded ? ctx.printer.green("SUCCESS") : ctx.printer.red("FAILURE"));
  for (const resp of r.responses) {
    ctx.printer.line();
    if (resp.type === "get") printKvs(ctx, resp.kvs);
    else if (resp.type === "put") printPut(ctx, resp);
    else if (resp.type === "delete") printDelete(ctx, resp);
    else printTxn(ctx, resp);
  }
}

const sortTargets: Record<string, SortTarget> = {
  KEY: "key",
  CREATE: "create",
  MODIFY: "mod",
  VALUE: "value",
  VERSION: "version",
};

interface GetArgs {
  key: string;
  range_end?: string;
  prefix?: boolean;
  fromKey?: boolean;
  limit?: number;
  order?: string;
  sortBy?: string;
  rev?: number;
  keysOnly?: boolean;
  countOnly?: boolean;
  printValueOnly?: boolean;
  consistency: string;
}

interface PutArgs {
  key: string;
  value?: string;
  lease?: string;
  prevKv?: boolean;
  ignoreValue?: boolean;
  ignoreLease?: boolean;
}

interface DelArgs {
  key: string;
  range_end?: string;
  prefix?: boolean;
  fromKey?: boolean;
  prevKv?: boolean;
}

/** Registers get, put, del, txn and compaction. */
export const registerKv: Register = (y, wrap) =>
  y
    .command(
      "get <key> [range_end]",
      "Gets the key or a range of keys",
      (c) =>
        c
          .positional("key", { type: "string", demandOption: true })
          .positional("range_end", { type: "string" })
          .option("prefix", { type: "boolean", describe: "Get keys with matching prefix" })
          .option("from-key", {
            type: "boolean",
            describe: "Get keys that are greater than or equal to the given key",
          })
          .option("limit", { type: "number", describe: "Maximum number of results" })
          .option("order", {
            type: "string",
            choices: ["ASCEND", "DESCEND"],
            describe: "Order of results",
          })
          .option("sort-by", {
            type: "string",
            choices: ["CREATE", "KEY", "MODIFY", "VALUE", "VERSION"],
            describe: "Sort target",
          })
          .option("rev", { type: "number", describe: "Specify the kv revision" })
          .option("keys-only", { type: "boolean", describe: "Get only the keys" })
          .option("count-only", { type: "boolean", describe: "Get only the count" })
          .option("print-value-only", {
            type: "boolean",
            describe: "Only write values when using the simple output format",
          })
          .option("consistency", {
            type: "string",
            choices: ["l", "s"],
            default: "l",
            describe: "Linearizable(l) or Serializable(s)",
          }),
      wrap<GetArgs>(async (ctx, a) => {
        const order: SortOrder | undefined =
          a.order === "ASCEND" ? "ascend" : a.order === "DESCEND" ? "descend" : undefined;
        const target = a.sortBy ? sortTargets[a.sortBy] : undefined;
        const r = await ctx.client().getAll(selector(a.key, a.range_end, a.prefix, a.fromKey), {
          ...ctx.call,
          limit: a.limit,
          revision: a.rev,
          keysOnly: a.keysOnly,
          countOnly: a.countOnly,
          serializable: a.consistency === "s",
          sort: order || target ? { order: order ?? "ascend", target: target ?? "key" } : undefined,
        });
        printRange(ctx, r, {
          keysOnly: a.keysOnly,
          valueOnly: a.printValueOnly,
          countOnly: a.countOnly,
        });
      }),
    )
    .command(
      "put <key> [value]",
      "Puts the given key into the store (the value is read from stdin when omitted)",
      (c) =>
        c
          .positional("key", { type: "string", demandOption: true })
          .positional("value", { type: "string" })
          .option("lease", {
            type: "string",
            describe: "lease ID (in hexadecimal) to attach to the key",
          })
          .option("prev-kv", {
            type: "boolean",
            describe: "return the previous key-value pair before modification",
          })
          .option("ignore-value", {
            type: "boolean",
            describe: "updates the key using its current value",
          })
          .option("ignore-lease", {
            type: "boolean",
            describe: "updates the key using its current lease",
          }),
      wrap<PutArgs>(async (ctx, a) => {
        let value = a.value;
        if (value === undefined && !a.ignoreValue)
          value = (await readAll(ctx.io.stdin)).replace(/\n$/, "");
        const lease = a.lease ? parseIdArg(a.lease) : undefined;
        const r = await ctx.client().put(a.key, value ?? "", {
          ...ctx.call,
          lease,
          prevKv: a.prevKv,
          ignoreValue: a.ignoreValue,
          ignoreLease: a.ignoreLease,
        });
        printPut(ctx, r);
      }),
    )
    .command(
      ["del <key> [range_end]", "delete"],
      "Removes the specified key or range of keys [key, range_end)",
      (c) =>
        c
          .positional("key", { type: "string", demandOption: true })
          .positional("range_end", { type: "string" })
          .option("prefix", { type: "boolean", describe: "delete keys with matching prefix" })
          .option("from-key", {
            type: "boolean",
            describe: "delete keys that are greater than or equal to the given key",
          })
          .option("prev-kv", { type: "boolean", describe: "return deleted key-value pairs" }),
      wrap<DelArgs>(async (ctx, a) => {
        const r = await ctx.client().delete(selector(a.key, a.range_end, a.prefix, a.fromKey), {
          ...ctx.call,
          prevKv: a.prevKv,
        });
        printDelete(ctx, r);
      }),
    )
    .command(
      "txn",
      "Txn processes all the requests in one transaction, read from stdin (compares, blank line, success ops, blank line, failure ops)",
      (c) => c,
      wrap(async (ctx) => {
        const input = parseTxn(await readAll(ctx.io.stdin));
        const r = await ctx
          .client()
          .txn()
          .if(...input.compares)
          .then(...input.success)
          .else(...input.failure)
          .commit(ctx.call);
        printTxn(ctx, r);
      }),
    )
    .command(
      "compaction <revision>",
      "Compacts the event history in etcd",
      (c) =>
        c.positional("revision", { type: "number", demandOption: true }).option("physical", {
          type: "boolean",
          describe: "'true' to wait for compaction to physically remove all old revisions",
        }),
      wrap<{ revision: number; physical?: boolean }>(async (ctx, a) => {
        if (!Number.isInteger(a.revision) || a.revision <= 0)
          throw new CliError("bad revision", ExitBadArgs);
        const h = await ctx
          .client()
          .compact(BigInt(a.revision), { ...ctx.call, physical: a.physical });
        if (ctx.format === "json") ctx.printer.json({ header: headerJson(h) });
        else ctx.printer.line(`compacted revision ${a.revision}`);
      }),
    );

/** Parses a hex id argument (lease ids signed, member ids not); malformed is invalid input. */
export function parseIdArg(text: string, signed = true): bigint {
  try {
    return parseId(text, signed);
  } catch {
    throw new CliError(`bad id ${JSON.stringify(text)} (expected hexadecimal)`, ExitInvalidInput);
  }
}
