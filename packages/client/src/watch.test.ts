import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster, targetUnavailable } from "./__tests__/cluster.js";
import { Client } from "./client.js";
import { CompactedError, WatchCompactedError } from "./errors.js";
import { once } from "./events.js";
import type { WatchEvent } from "./watch/watcher.js";

const skip = targetUnavailable();

/** Collects `n` events from a watcher through its iterator. */
async function take(iterable: AsyncIterable<WatchEvent>, n: number): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  if (n === 0) return out;
  for await (const e of iterable) {
    out.push(e);
    if (out.length === n) break;
  }
  return out;
}

describe.skipIf(skip !== undefined)("watch against a live member", () => {
  let cluster: TestCluster;
  let client: Client;

  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 1 });
    client = new Client({ endpoints: cluster.endpoints });
  });

  afterAll(async () => {
    await client?.close();
    await cluster?.close();
  });

  it("delivers puts and deletes of a key, in order, through the iterator", async () => {
    const w = await client.watch("w/k");
    const p1 = await client.put("w/k", "1");
    await client.put("w/other", "x");
    await client.put("w/k", "2");
    await client.delete("w/k");
    const events = await take(w, 3); // leaving the loop cancels the watcher
    expect(events.map((e) => [e.type, e.kv.string()])).toEqual([
      ["put", "1"],
      ["put", "2"],
      ["delete", ""],
    ]);
    expect(events[0].revision).toBe(p1.revision);
    expect(w.isEnded).toBe(true);
  });

  it("watches a prefix and a [start,end) range, with prevKv", async () => {
    const prefix = await client.watch({ prefix: "wp/" }, { prevKv: true });
    const range = await client.watch({ start: "wr/b", end: "wr/d" });
    await client.put("wp/a", "1");
    await client.put("wp/a", "2");
    await client.put("wr/a", "no");
    await client.put("wr/b", "yes");
    await client.put("wr/d", "no");
    await client.put("wr/c", "yes");
    const pe = await take(prefix, 2);
    expect(pe[1].prevKv?.string()).toBe("1");
    expect(pe[1].kv.string()).toBe("2");
    const re = await take(range, 2);
    expect(re.map((e) => e.kv.keyString())).toEqual(["wr/b", "wr/c"]);
  });

  it("replays history from a start revision, and filters puts or deletes", async () => {
    const a = await client.put("wh/k", "a");
    await client.put("wh/k", "b");
    await client.delete("wh/k");
    const replay = await client.watch("wh/k", { startRevision: a.revision });
    expect((await take(replay, 3)).map((e) => e.type)).toEqual(["put", "put", "delete"]);
    const noPut = await client.watch("wh/k", { startRevision: a.revision, noPut: true });
    expect((await take(noPut, 1)).map((e) => e.type)).toEqual(["delete"]);
    const noDelete = await client.watch("wh/k", { startRevision: a.revision, noDelete: true });
    expect((await take(noDelete, 2)).map((e) => e.kv.string())).toEqual(["a", "b"]);
  });

  it("fires typed listeners and ends with onEnd when canceled", async () => {
    const w = await client.watch({ prefix: "wl/" });
    const puts: string[] = [];
    const deletes: string[] = [];
    const batches: number[] = [];
    w.onPut((e) => puts.push(e.kv.keyString()));
    w.onDelete((e) => deletes.push(e.kv.keyString()));
    w.onBatch((b) => batches.push(b.events.length));
    const sawDelete = once(w.onDelete);
    await client.put("wl/a", "1");
    await client.txn().then().commit(); // an empty txn: no event
    await client.delete("wl/a");
    await sawDelete;
    expect(puts).toEqual(["wl/a"]);
    expect(deletes).toEqual(["wl/a"]);
    expect(batches).toEqual([1, 1]);
    const ended = once(w.onEnd);
    await w.cancel();
    expect(await ended).toBeUndefined();
    await w.cancel(); // idempotent
  });

  it("delivers every event of a multi-key transaction in one batch", async () => {
    const w = await client.watch({ prefix: "wt/" });
    const batch = once(w.onBatch);
    const { op } = await import("./txn.js");
    const r = await client
      .txn()
      .then(op.put("wt/a", "1"), op.put("wt/b", "2"), op.put("wt/c", "3"))
      .commit();
    const b = await batch;
    expect(b.events.map((e) => e.kv.keyString())).toEqual(["wt/a", "wt/b", "wt/c"]);
    expect(b.events.every((e) => e.revision === r.revision)).toBe(true);
    await w.cancel();
  });

  it("answers progress requests and periodic progress notifications", async () => {
    const w = await client.watch("wprog/k", { progressNotify: true });
    const progress = once(w.onProgress);
    const current = (await client.put("wprog/other", "x")).revision;
    w.requestProgress();
    const header = await progress;
    expect(header.revision).toBeGreaterThanOrEqual(current);
    const again = once(w.onProgress);
    client.requestWatchProgress(); // the same, for every watcher of the client
    expect((await again).revision).toBeGreaterThanOrEqual(current);
    await w.cancel();
  });

  it("reports a compacted start revision as a typed error", async () => {
    const a = await client.put("wc/k", "1");
    const b = await client.put("wc/k", "2");
    await client.compact(b.revision, { physical: true });
    const w = await client.watch("wc/k", { startRevision: a.revision });
    const err = await take(w, 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WatchCompactedError);
    expect(err).toBeInstanceOf(CompactedError);
    expect((err as WatchCompactedError).compactRevision).toBe(b.revision);
    expect(w.error).toBe(err);
  });

  it("cancels on abort, and shares one stream between watchers", async () => {
    const controller = new AbortController();
    const w1 = await client.watch("wa/1", { signal: controller.signal });
    const w2 = await client.watch("wa/2");
    const ended = once(w1.onEnd);
    controller.abort();
    await ended;
    expect(w1.isEnded).toBe(true);
    expect(w2.isEnded).toBe(false);
    await client.put("wa/2", "still");
    expect((await take(w2, 1))[0].kv.string()).toBe("still");
    // Aborted before creation: watch() rejects.
    await expect(client.watch("wa/3", { signal: AbortSignal.abort() })).rejects.toBeDefined();
  });

  it("reassembles fragmented responses", async () => {
    const { op } = await import("./txn.js");
    const v1 = "1".repeat(700 * 1024);
    const v2 = "2".repeat(700 * 1024);
    await client.txn().then(op.put("wf/a", v1), op.put("wf/b", v1)).commit();
    const w = await client.watch({ prefix: "wf/" }, { fragment: true, prevKv: true });
    const fragments: boolean[] = [];
    const original = w.handleResponse.bind(w);
    w.handleResponse = (r) => {
      fragments.push(r.fragment);
      original(r);
    };
    const next = once(w.onBatch);
    // With prevKv, this revision's events carry 2.8 MB: above etcd's 1.5 MiB per response.
    await client.txn().then(op.put("wf/a", v2), op.put("wf/b", v2)).commit();
    const batch = await next;
    expect(
      batch.events.map((e) => [e.kv.keyString(), e.kv.string() === v2, e.prevKv?.string() === v1]),
    ).toEqual([
      ["wf/a", true, true],
      ["wf/b", true, true],
    ]);
    expect(fragments.length).toBeGreaterThan(1); // it did arrive in pieces
    expect(fragments.at(-1)).toBe(false);
    await w.cancel();
  });
});
