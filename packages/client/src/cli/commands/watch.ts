/**
 * watch: prints events until interrupted (or after `--max-events`).
 *
 * @module
 */
import type { KeySelector } from "../../bytes.js";
import type { WatchEvent } from "../../watch/watcher.js";
import type { Register } from "../command.js";
import type { Context } from "../context.js";
import { headerJson, kvJson } from "../output.js";

interface WatchArgs {
  key: string;
  range_end?: string;
  prefix?: boolean;
  rev?: number;
  prevKv?: boolean;
  progressNotify?: boolean;
  maxEvents?: number;
}

function printEvent(ctx: Context, e: WatchEvent): void {
  if (ctx.format === "json") {
    ctx.printer.json({
      type: e.type === "put" ? "PUT" : "DELETE",
      kv: kvJson(e.kv),
      prev_kv: e.prevKv ? kvJson(e.prevKv) : undefined,
    });
    return;
  }
  ctx.printer.line(e.type === "put" ? ctx.printer.green("PUT") : ctx.printer.red("DELETE"));
  if (e.prevKv) {
    ctx.printer.bytes(e.prevKv.key);
    ctx.printer.bytes(e.prevKv.value);
  }
  ctx.printer.bytes(e.kv.key);
  ctx.printer.bytes(e.kv.value);
}

/** Registers watch. */
export const registerWatch: Register = (y, wrap) =>
  y.command(
    "watch <key> [range_end]",
    "Watches events stream on keys or prefixes (until interrupted)",
    (c) =>
      c
        .positional("key", { type: "string", demandOption: true })
        .positional("range_end", { type: "string" })
        .option("prefix", { type: "boolean", describe: "Watch on a prefix if prefix is set" })
        .option("rev", { type: "number", describe: "Revision to start watching" })
        .option("prev-kv", {
          type: "boolean",
          describe: "get the previous key-value pair before the event happens",
        })
        .option("progress-notify", {
          type: "boolean",
          describe: "get periodic watch progress notification from server",
        })
        .option("max-events", { type: "number", describe: "exit after this many events" }),
    wrap<WatchArgs>(async (ctx, a) => {
      const sel: KeySelector = a.prefix
        ? { prefix: a.key }
        : a.range_end !== undefined
          ? { start: a.key, end: a.range_end }
          : a.key;
      const watcher = await ctx.client().watch(sel, {
        startRevision: a.rev,
        prevKv: a.prevKv,
        progressNotify: a.progressNotify,
        signal: ctx.io.signal,
        timeoutMs: ctx.commandTimeoutMs,
      });
      if (a.progressNotify) {
        watcher.onProgress((h) => {
          if (ctx.format === "json") ctx.printer.json({ header: headerJson(h), progress: true });
          else ctx.printer.line(`progress notify: ${h.revision}`);
        });
      }
      let count = 0;
      for await (const e of watcher) {
        printEvent(ctx, e);
        if (a.maxEvents !== undefined && ++count >= a.maxEvents) break;
      }
      // A loop ended by the interrupt signal: etcdctl exits 0 on Ctrl-C of watch too.
    }),
  );
