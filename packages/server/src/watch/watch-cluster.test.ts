/**
 * Watch on an in-process three-member cluster: watchers live on the member the client is
 * connected to — a follower here — and see the leader's writes through their own
 * member's apply path; a watch resumed on another member continues without gap; a
 * follower that loses its leader ends `hasleader` streams.
 */
import { etcdserverpb } from "@chainfire/api";
import { credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kv, pollUntil, TestCluster } from "../__tests__/cluster.js";
import { b, createReq, putOp } from "./__tests__/fixture.js";

let cluster: TestCluster;
const clients: etcdserverpb.WatchClient[] = [];

beforeAll(async () => {
  cluster = await TestCluster.start({ size: 3 });
}, 60_000);

afterAll(async () => {
  closeClients();
  await cluster?.close();
});

function closeClients() {
  for (const c of clients.splice(0)) c.close();
}

function watchOn(i: number, md?: Metadata) {
  const c = new etcdserverpb.WatchClient(
    cluster.slots[i]!.clientUrl.replace("http://", ""),
    credentials.createInsecure(),
  );
  clients.push(c);
  const s = md ? c.watch(md) : c.watch();
  const got: etcdserverpb.WatchResponse[] = [];
  const ended: { error?: ServiceError } = {};
  s.on("data", (r: etcdserverpb.WatchResponse) => got.push(r));
  s.on("error", (e: ServiceError) => {
    ended.error = e;
  });
  return { s, got, ended };
}

const events = (got: etcdserverpb.WatchResponse[]) => got.flatMap((r) => r.events);
const wait = (probe: () => boolean, what: string, timeoutMs = 10_000) =>
  pollUntil(() => (probe() ? true : undefined), timeoutMs, what);

describe("watch on a cluster", () => {
  it("a watcher on a follower sees the leader's writes; resumes on another member", async () => {
    const leader = await cluster.waitLeader();
    const follower = [0, 1, 2].find((i) => i !== leader)!;
    const other = [0, 1, 2].find((i) => i !== leader && i !== follower)!;
    const md = new Metadata();
    md.set("hasleader", "true");
    const w = watchOn(follower, md);
    w.s.write(createReq({ key: b("c/"), rangeEnd: b("c0"), prevKv: true }));
    await wait(() => w.got.length === 1, "created");
    const api = kv(cluster.client(leader));
    const revs: bigint[] = [];
    for (let n = 0; n < 20; n++) {
      const r = await api.put({ key: b(`c/${n % 5}`), value: b(`${n}`) });
      revs.push(r.header!.revision);
    }
    const t = await api.txn({ success: [putOp("c/x", "tx"), putOp("c/y", "tx")] });
    await wait(() => events(w.got).length === 22, "22 events on the follower");
    const evs = events(w.got);
    expect(evs.slice(0, 20).map((e) => e.kv!.modRevision)).toEqual(revs);
    expect(evs.slice(0, 20).map((e) => e.kv!.value.toString())).toEqual(
      Array.from({ length: 20 }, (_, n) => `${n}`),
    );
    expect(evs[5]!.prevKv?.value.toString()).toBe("0");
    // The txn's two events arrive together.
    const txResp = w.got.find((r) => r.events.some((e) => e.kv!.key.toString() === "c/x"))!;
    expect(txResp.events.map((e) => e.kv!.modRevision)).toEqual([
      t.header!.revision,
      t.header!.revision,
    ]);
    w.s.cancel();

    // Reconnect to a third member from the last revision + 1, while writes continue.
    const last = evs.at(-1)!.kv!.modRevision;
    await api.put({ key: b("c/after"), value: b("1") });
    const again = watchOn(other);
    again.s.write(createReq({ key: b("c/"), rangeEnd: b("c0"), startRevision: last + 1n }));
    await api.put({ key: b("c/after"), value: b("2") });
    await wait(() => events(again.got).length === 2, "the resumed watch's events");
    expect(events(again.got).map((e) => e.kv!.value.toString())).toEqual(["1", "2"]);
    again.s.cancel();
    // Member.close waits for client connections to go away: let ours go.
    closeClients();
  });

  it("a member that loses its leader ends hasleader streams with 'no leader'", async () => {
    const leader = await cluster.waitLeader();
    const follower = [0, 1, 2].find((i) => i !== leader)!;
    const md = new Metadata();
    md.set("hasleader", "true");
    const w = watchOn(follower, md);
    w.s.write(createReq({ key: b("nl") }));
    await wait(() => w.got.length === 1, "created");
    // Stop the other two: the follower cannot elect anyone.
    await Promise.all([0, 1, 2].filter((i) => i !== follower).map((i) => cluster.stopMember(i)));
    await wait(() => w.ended.error !== undefined, "the stream to end", 15_000);
    expect(w.ended.error).toMatchObject({
      code: status.UNAVAILABLE,
      details: "etcdserver: no leader",
    });
    // A new hasleader stream is refused at once.
    const late = watchOn(follower, md);
    await wait(() => late.ended.error !== undefined, "the new stream to be refused");
    expect(late.ended.error?.details).toBe("etcdserver: no leader");
  });
});
