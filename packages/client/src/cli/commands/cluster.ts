/**
 * member, endpoint, alarm, defrag, move-leader and snapshot save.
 *
 * @module
 */
import { hexId } from "../../bytes.js";
import type { Member } from "../../cluster.js";
import type { Register } from "../command.js";
import type { Context } from "../context.js";
import { CliError, ExitError, ExitInvalidInput } from "../exit-codes.js";
import { headerJson, humanBytes } from "../output.js";
import { ProgressBar } from "../progress.js";
import { parseIdArg } from "./kv.js";

function memberRow(m: Member): string[] {
  return [
    hexId(m.id),
    m.name === "" ? "unstarted" : "started",
    m.name,
    m.peerURLs.join(","),
    m.clientURLs.join(","),
    String(m.isLearner),
  ];
}

function memberJson(m: Member): Record<string, unknown> {
  return {
    ID: BigInt.asUintN(64, m.id),
    name: m.name,
    peerURLs: m.peerURLs,
    clientURLs: m.clientURLs,
    isLearner: m.isLearner || undefined,
  };
}

function printMembers(
  ctx: Context,
  header: Parameters<typeof headerJson>[0],
  members: Member[],
): void {
  if (ctx.format === "json")
    ctx.printer.json({ header: headerJson(header), members: members.map(memberJson) });
  else if (ctx.format === "table") {
    ctx.printer.table(
      ["ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"],
      members.map(memberRow),
    );
  } else for (const m of members) ctx.printer.line(memberRow(m).join(", "));
}

function urls(list: string | undefined): string[] {
  const out = (list ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (out.length === 0)
    throw new CliError("member peer urls not provided (--peer-urls)", ExitInvalidInput);
  return out;
}

/** `--cluster` discovery for the endpoint commands. */
async function maybeCluster(ctx: Context, cluster?: boolean): Promise<void> {
  if (cluster) await ctx.useClusterEndpoints();
}

/** Registers the cluster and maintenance commands. */
export const registerCluster: Register = (y, wrap) =>
  y
    .command("member <command>", "Membership related commands", (c) =>
      c
        .command(
          "list",
          "Lists all members in the cluster",
          (d) => d,
          wrap(async (ctx) => {
            const r = await ctx.client().cluster.list(ctx.call);
            printMembers(ctx, r.header, r.members);
          }),
        )
        .command(
          "add <name>",
          "Adds a member into the cluster",
          (d) =>
            d
              .positional("name", { type: "string", demandOption: true })
              .option("peer-urls", {
                type: "string",
                describe: "comma separated peer URLs for the new member",
              })
              .option("learner", {
                type: "boolean",
                describe: "indicates if the new member is raft learner",
              }),
          wrap<{ name: string; peerUrls?: string; learner?: boolean }>(async (ctx, a) => {
            const r = await ctx
              .client()
              .cluster.add(urls(a.peerUrls), { ...ctx.call, isLearner: a.learner });
            if (ctx.format === "json") {
              ctx.printer.json({
                header: headerJson(r.header),
                member: memberJson(r.member),
                members: r.members.map(memberJson),
              });
              return;
            }
            const kind = a.learner ? "Member" : "Member";
            ctx.printer.line(
              `${kind} ${hexId(r.member.id)} added to cluster ${hexId(r.header.clusterId)}`,
            );
            const initial = r.members
              .flatMap((m) =>
                m.id === r.member.id
                  ? m.peerURLs.map((u) => `${a.name}=${u}`)
                  : m.name
                    ? m.peerURLs.map((u) => `${m.name}=${u}`)
                    : [],
              )
              .join(",");
            ctx.printer.line();
            ctx.printer.line(`ETCD_NAME="${a.name}"`);
            ctx.printer.line(`ETCD_INITIAL_CLUSTER="${initial}"`);
            ctx.printer.line(`ETCD_INITIAL_ADVERTISE_PEER_URLS="${r.member.peerURLs.join(",")}"`);
            ctx.printer.line(`ETCD_INITIAL_CLUSTER_STATE="existing"`);
          }),
        )
        .command(
          "remove <memberID>",
          "Removes a member from the cluster",
          (d) => d.positional("memberID", { type: "string", demandOption: true }),
          wrap<{ memberID: string }>(async (ctx, a) => {
            const id = parseIdArg(a.memberID, false);
            const r = await ctx.client().cluster.remove(id, ctx.call);
            if (ctx.format === "json") printMembers(ctx, r.header, r.members);
            else
              ctx.printer.line(
                `Member ${hexId(id)} removed from cluster ${hexId(r.header.clusterId)}`,
              );
          }),
        )
        .command(
          "update <memberID>",
          "Updates a member in the cluster",
          (d) =>
            d
              .positional("memberID", { type: "string", demandOption: true })
              .option("peer-urls", { type: "string", describe: "comma separated peer URLs" }),
          wrap<{ memberID: string; peerUrls?: string }>(async (ctx, a) => {
            const id = parseIdArg(a.memberID, false);
            const r = await ctx.client().cluster.update(id, urls(a.peerUrls), ctx.call);
            if (ctx.format === "json") printMembers(ctx, r.header, r.members);
            else
              ctx.printer.line(
                `Member ${hexId(id)} updated in cluster ${hexId(r.header.clusterId)}`,
              );
          }),
        )
        .command(
          "promote <memberID>",
          "Promotes a non-voting member in the cluster",
          (d) => d.positional("memberID", { type: "string", demandOption: true }),
          wrap<{ memberID: string }>(async (ctx, a) => {
            const id = parseIdArg(a.memberID, false);
            const r = await ctx.client().cluster.promote(id, ctx.call);
            if (ctx.format === "json") printMembers(ctx, r.header, r.members);
            else
              ctx.printer.line(
                `Member ${hexId(id)} promoted in cluster ${hexId(r.header.clusterId)}`,
              );
          }),
        )
        .demandCommand(1),
    )
    .command("endpoint <command>", "Endpoint related commands", (c) =>
      c
        .option("cluster", {
          type: "boolean",
          describe: "use all endpoints from the cluster member list",
        })
        .command(
          "status",
          "Prints out the status of endpoints specified in `--endpoints` flag",
          (d) => d,
          wrap<{ cluster?: boolean }>(async (ctx, a) => {
            await maybeCluster(ctx, a.cluster);
            const all = await ctx.client().maintenance.statusAll(ctx.call);
            let failed = false;
            const rows: string[][] = [];
            const json: unknown[] = [];
            for (const s of all) {
              if (!s.ok) {
                failed = true;
                ctx.io.stderr.write(
                  `Failed to get the status of endpoint ${s.endpoint} (${s.error.message})\n`,
                );
                continue;
              }
              const v = s.value;
              rows.push([
                s.endpoint,
                hexId(v.header.memberId),
                v.version,
                humanBytes(v.dbSize),
                String(v.leader === v.header.memberId),
                String(v.isLearner),
                v.raftTerm.toString(),
                v.raftIndex.toString(),
                v.raftAppliedIndex.toString(),
                v.errors.join(", "),
              ]);
              json.push({
                Endpoint: s.endpoint,
                Status: {
                  header: headerJson(v.header),
                  version: v.version,
                  dbSize: v.dbSize,
                  dbSizeInUse: v.dbSizeInUse,
                  leader: BigInt.asUintN(64, v.leader),
                  raftIndex: v.raftIndex,
                  raftTerm: v.raftTerm,
                  raftAppliedIndex: v.raftAppliedIndex,
                  errors: v.errors.length ? v.errors : undefined,
                  isLearner: v.isLearner || undefined,
                },
              });
            }
            if (ctx.format === "json") ctx.printer.json(json);
            else if (ctx.format === "table") {
              ctx.printer.table(
                [
                  "ENDPOINT",
                  "ID",
                  "VERSION",
                  "DB SIZE",
                  "IS LEADER",
                  "IS LEARNER",
                  "RAFT TERM",
                  "RAFT INDEX",
                  "RAFT APPLIED INDEX",
                  "ERRORS",
                ],
                rows,
              );
            } else for (const r of rows) ctx.printer.line(r.join(", "));
            if (failed) throw new CliError("some endpoints did not answer", ExitError);
          }),
        )
        .command(
          "health",
          "Checks the healthiness of endpoints specified in `--endpoints` flag",
          (d) => d,
          wrap<{ cluster?: boolean }>(async (ctx, a) => {
            await maybeCluster(ctx, a.cluster);
            const all = await ctx.client().maintenance.healthAll(ctx.call);
            if (ctx.format === "json") {
              ctx.printer.json(
                all.map((h) => ({
                  endpoint: h.endpoint,
                  health: h.healthy,
                  took: `${h.tookMs}ms`,
                  error: h.error,
                })),
              );
            } else if (ctx.format === "table") {
              ctx.printer.table(
                ["ENDPOINT", "HEALTH", "TOOK", "ERROR"],
                all.map((h) => [h.endpoint, String(h.healthy), `${h.tookMs}ms`, h.error ?? ""]),
              );
            } else {
              for (const h of all) {
                if (h.healthy) {
                  ctx.printer.line(
                    `${h.endpoint} is ${ctx.printer.green("healthy")}: successfully committed proposal: took = ${h.tookMs}ms`,
                  );
                } else {
                  ctx.io.stderr.write(
                    `${h.endpoint} is ${ctx.printer.red("unhealthy")}: failed to commit proposal: ${h.error}\n`,
                  );
                }
              }
            }
            if (all.some((h) => !h.healthy)) throw new CliError("unhealthy cluster", ExitError);
          }),
        )
        .command(
          "hashkv",
          "Prints the KV history hash for each endpoint in --endpoints",
          (d) =>
            d.option("rev", {
              type: "number",
              default: 0,
              describe: "maximum revision to hash (default: latest revision)",
            }),
          wrap<{ cluster?: boolean; rev: number }>(async (ctx, a) => {
            await maybeCluster(ctx, a.cluster);
            const client = ctx.client();
            const results = await Promise.all(
              client.endpoints.map((e) => client.maintenance.hashKV(e, BigInt(a.rev), ctx.call)),
            );
            if (ctx.format === "json") {
              ctx.printer.json(
                results.map((r) => ({
                  Endpoint: r.endpoint,
                  HashKV: {
                    header: headerJson(r.header),
                    hash: r.hash,
                    compact_revision: r.compactRevision,
                  },
                })),
              );
            } else if (ctx.format === "table") {
              ctx.printer.table(
                ["ENDPOINT", "HASH"],
                results.map((r) => [r.endpoint, String(r.hash)]),
              );
            } else for (const r of results) ctx.printer.line(`${r.endpoint}, ${r.hash}`);
          }),
        )
        .demandCommand(1),
    )
    .command("alarm <command>", "Alarm related commands", (c) =>
      c
        .command(
          "list",
          "Lists all alarms",
          (d) => d,
          wrap(async (ctx) => {
            const alarms = await ctx.client().maintenance.alarms(ctx.call);
            if (ctx.format === "json")
              ctx.printer.json({
                alarms: alarms.map((x) => ({
                  memberID: BigInt.asUintN(64, x.memberId),
                  alarm: x.alarm,
                })),
              });
            else
              for (const x of alarms)
                ctx.printer.line(`memberID:${BigInt.asUintN(64, x.memberId)} alarm:${x.alarm}`);
          }),
        )
        .command(
          "disarm",
          "Disarms all alarms",
          (d) => d,
          wrap(async (ctx) => {
            const alarms = await ctx.client().maintenance.disarm(undefined, ctx.call);
            if (ctx.format === "json")
              ctx.printer.json({
                alarms: alarms.map((x) => ({
                  memberID: BigInt.asUintN(64, x.memberId),
                  alarm: x.alarm,
                })),
              });
            else
              for (const x of alarms)
                ctx.printer.line(`memberID:${BigInt.asUintN(64, x.memberId)} alarm:${x.alarm}`);
          }),
        )
        .demandCommand(1),
    )
    .command(
      "defrag",
      "Defragments the storage of the etcd members with given endpoints",
      (c) =>
        c.option("cluster", {
          type: "boolean",
          describe: "use all endpoints from the cluster member list",
        }),
      wrap<{ cluster?: boolean }>(async (ctx, a) => {
        await maybeCluster(ctx, a.cluster);
        const client = ctx.client();
        let failed = false;
        for (const e of client.endpoints) {
          try {
            await client.maintenance.defragment(e, {
              signal: ctx.io.signal,
              timeoutMs: Math.max(ctx.commandTimeoutMs, 60_000),
            });
            ctx.printer.line(`Finished defragmenting etcd member[${e}]`);
          } catch (error) {
            failed = true;
            ctx.io.stderr.write(
              `Failed to defragment etcd member[${e}] (${(error as Error).message})\n`,
            );
          }
        }
        if (failed) throw new CliError("defragment failed on some members", ExitError);
      }),
    )
    .command(
      "move-leader <transferee-member-id>",
      "Transfers leadership to another etcd cluster member",
      (c) => c.positional("transferee-member-id", { type: "string", demandOption: true }),
      wrap<{ transfereeMemberId: string }>(async (ctx, a) => {
        const target = parseIdArg(a.transfereeMemberId, false);
        const client = ctx.client();
        const statuses = await client.maintenance.statusAll(ctx.call);
        const leader = statuses.find((s) => s.ok && s.value.leader === s.value.header.memberId);
        const h = await client.maintenance.moveLeader(target, ctx.call);
        if (ctx.format === "json") ctx.printer.json({ header: headerJson(h) });
        else
          ctx.printer.line(
            `Leadership transferred from ${leader?.ok ? hexId(leader.value.leader) : "?"} to ${hexId(target)}`,
          );
      }),
    )
    .command("snapshot <command>", "Manages etcd node snapshots", (c) =>
      c
        .command(
          "save <filename>",
          "Stores an etcd node backend snapshot to a given file",
          (d) => d.positional("filename", { type: "string", demandOption: true }),
          wrap<{ filename: string }>(async (ctx, a) => {
            const client = ctx.client();
            if (client.endpoints.length !== 1) {
              throw new CliError(
                `snapshot must be requested to one selected node, not multiple ${JSON.stringify(client.endpoints)}`,
                ExitInvalidInput,
              );
            }
            const bar = new ProgressBar(ctx.io.stderr, "snapshot");
            try {
              const r = await client.maintenance.snapshotToFile(a.filename, {
                signal: ctx.io.signal,
                timeoutMs: Math.max(ctx.commandTimeoutMs, 30 * 60_000),
                onProgress: (p) => bar.update(p.received, p.total),
              });
              bar.finish();
              if (ctx.format === "json")
                ctx.printer.json({ path: r.path, bytes: r.bytes, sha256: r.sha256 });
              else ctx.printer.line(`Snapshot saved at ${a.filename}`);
            } catch (error) {
              bar.finish();
              throw error;
            }
          }),
        )
        .demandCommand(1),
    );
