/**
 * lease grant | revoke | timetolive | list | keep-alive.
 *
 * @module
 */
import { hexId } from "../../bytes.js";
import { LeaseNotFoundError } from "../../errors.js";
import type { Register } from "../command.js";
import { headerJson } from "../output.js";
import { parseIdArg } from "./kv.js";

/** Registers the lease commands. */
export const registerLease: Register = (y, wrap) =>
  y.command("lease <command>", "Lease related commands", (c) =>
    c
      .command(
        "grant <ttl>",
        "Creates leases",
        (d) =>
          d.positional("ttl", { type: "number", demandOption: true, describe: "TTL in seconds" }),
        wrap<{ ttl: number }>(async (ctx, a) => {
          const lease = await ctx.client().lease.grant(a.ttl, { ...ctx.call, keepAlive: false });
          if (ctx.format === "json") ctx.printer.json({ ID: lease.id, TTL: lease.grantedTTL });
          else ctx.printer.line(`lease ${hexId(lease.id)} granted with TTL(${lease.grantedTTL}s)`);
        }),
      )
      .command(
        "revoke <leaseID>",
        "Revokes leases",
        (d) => d.positional("leaseID", { type: "string", demandOption: true }),
        wrap<{ leaseID: string }>(async (ctx, a) => {
          const id = parseIdArg(a.leaseID);
          const h = await ctx.client().lease.revoke(id, ctx.call);
          if (ctx.format === "json") ctx.printer.json({ header: headerJson(h) });
          else ctx.printer.line(`lease ${hexId(id)} revoked`);
        }),
      )
      .command(
        "timetolive <leaseID>",
        "Get lease information",
        (d) =>
          d
            .positional("leaseID", { type: "string", demandOption: true })
            .option("keys", { type: "boolean", describe: "Get keys attached to this lease" }),
        wrap<{ leaseID: string; keys?: boolean }>(async (ctx, a) => {
          const id = parseIdArg(a.leaseID);
          const r = await ctx.client().lease.timeToLive(id, { ...ctx.call, keys: a.keys });
          if (ctx.format === "json") {
            ctx.printer.json({
              header: headerJson(r.header),
              ID: r.id,
              TTL: r.ttl,
              "granted-ttl": r.grantedTTL,
              keys: a.keys ? r.keys.map((k) => k.toString("base64")) : undefined,
            });
          } else if (r.ttl === -1n) {
            ctx.printer.line(`lease ${hexId(id)} already expired`);
          } else {
            const keys = a.keys
              ? `, attached keys([${r.keys.map((k) => k.toString()).join(" ")}])`
              : "";
            ctx.printer.line(
              `lease ${hexId(id)} granted with TTL(${r.grantedTTL}s), remaining(${r.ttl}s)${keys}`,
            );
          }
        }),
      )
      .command(
        "list",
        "List all active leases",
        (d) => d,
        wrap(async (ctx) => {
          const ids = await ctx.client().lease.list(ctx.call);
          if (ctx.format === "json") ctx.printer.json({ leases: ids.map((ID) => ({ ID })) });
          else if (ctx.format === "table")
            ctx.printer.table(
              ["ID"],
              ids.map((id) => [hexId(id)]),
            );
          else {
            ctx.printer.line(`found ${ids.length} leases`);
            for (const id of ids) ctx.printer.line(hexId(id));
          }
        }),
      )
      .command(
        "keep-alive <leaseID>",
        "Keeps leases alive (renew), until interrupted",
        (d) =>
          d.positional("leaseID", { type: "string", demandOption: true }).option("once", {
            type: "boolean",
            describe: "Resets the keep-alive time to its original value and exits",
          }),
        wrap<{ leaseID: string; once?: boolean }>(async (ctx, a) => {
          const id = parseIdArg(a.leaseID);
          const client = ctx.client();
          const print = (ttl: bigint) => {
            if (ctx.format === "json") ctx.printer.json({ ID: id, TTL: ttl });
            else ctx.printer.line(`lease ${hexId(id)} keepalived with TTL(${ttl})`);
          };
          for (;;) {
            let ttl: bigint;
            try {
              ttl = (await client.lease.keepAliveOnce(id, ctx.call)).ttl;
            } catch (error) {
              if (error instanceof LeaseNotFoundError) {
                ctx.printer.line(`lease ${hexId(id)} expired or revoked.`);
              }
              throw error;
            }
            print(ttl);
            if (a.once) return;
            const { sleep } = await import("../../backoff.js");
            try {
              await sleep(Math.max(500, (Number(ttl) * 1000) / 3), ctx.io.signal);
            } catch {
              return; // interrupted
            }
          }
        }),
      )
      .demandCommand(1),
  );
