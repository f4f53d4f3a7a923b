/**
 * The Watch stream over raw gRPC against a live three-member cluster: the protocol
 * details clients depend on, asserted byte for byte where the server is deterministic.
 * Every expectation was first checked against etcd 3.4.23 (CHAINFIRE_COMPAT_TARGETS=etcd);
 * where Chainfire deliberately follows a later etcd, the test says so and asserts each
 * system's own answer:
 *
 * - WatchProgressRequest on a stream without watchers: etcd 3.4 answers at once (watch_id
 *   -1); etcd 3.5 and Chainfire send nothing (3.5 answers only when every watcher of the
 *   stream is synced, and a stream with none has nothing to report).
 * - a negative start revision: etcd 3.4/3.5 create the watcher and cancel it as
 *   compacted; etcd 3.6 and Chainfire refuse it (created + canceled, watch_id -1,
 *   "etcdserver: mvcc: required revision has been compacted").
 *
 * Compaction and the loss of quorum affect the whole cluster, so they run last.
 */
import { etcdserverpb } from "@chainfire/api";
import {
  type ClientDuplexStream,
  credentials,
  Metadata,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";
import { bytes, op, pollUntil } from "../harness/index.js";
import { useCluster } from "../harness/vitest.js";
import { compatTargets } from "./targets.js";

type Stream = ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>;

const create = (p: Partial<etcdserverpb.WatchCreateRequest>) =>
  etcdserverpb.WatchRequest.fromPartial({
    requestUnion: { $case: "createRequest", value: etcdserverpb.WatchCreateRequest.fromPartial(p) },
  });
const cancel = (watchId: bigint) =>
  etcdserverpb.WatchRequest.fromPartial({
    requestUnion: { $case: "cancelRequest", value: { watchId } },
  });
const progress = () =>
  etcdserverpb.WatchRequest.fromPartial({
    requestUnion: { $case: "progressRequest", value: {} },
  });

/** A response as text: `id rev [created] [canceled] [compact=N] [reason=...] events`. */
function describe1(r: etcdserverpb.WatchResponse, base: bigint): string {
  const rel = (rev: bigint) => (rev === 0n ? "0" : `R${rev - base >= 0n ? "+" : ""}${rev - base}`);
  const parts = [`id=${r.watchId}`, `rev=${rel(r.header?.revision ?? 0n)}`];
  if (r.created) parts.push("created");
  if (r.canceled) parts.push("canceled");
  if (r.compactRevision) parts.push(`compact=${rel(r.compactRevision)}`);
  if (r.cancelReason) parts.push(`reason=${r.cancelReason}`);
  if (r.fragment) parts.push("fragment");
  for (const e of r.events) {
    let s = `${e.type === 0 ? "PUT" : "DELETE"} ${e.kv!.key}@${rel(e.kv!.modRevision)}`;
    if (e.type === 0) s += `=${e.kv!.value}`;
    if (e.prevKv) s += ` prev=${e.prevKv.value}@${rel(e.prevKv.modRevision)}`;
    parts.push(s);
  }
  return parts.join(" ");
}

const hasLeader = () => {
  const md = new Metadata();
  md.set("hasleader", "true");
  return md;
};

for (const kind of compatTargets()) {
  describe(`Watch over gRPC against ${kind}`, () => {
    const cluster = useCluster({ kind, size: 3 });
    const clients: etcdserverpb.WatchClient[] = [];
    afterAll(() => {
      for (const c of clients) c.close();
    });

    function open(member = 0, md?: Metadata) {
      const c = new etcdserverpb.WatchClient(
        cluster().endpoints[member]!.replace("http://", ""),
        credentials.createInsecure(),
        { "grpc.max_receive_message_length": 64 * 1024 * 1024 },
      );
      clients.push(c);
      const s: Stream = md ? c.watch(md) : c.watch();
      const got: etcdserverpb.WatchResponse[] = [];
      const ended: { error?: ServiceError } = {};
      s.on("data", (r: etcdserverpb.WatchResponse) => got.push(r));
      s.on("error", (e: ServiceError) => {
        ended.error = e;
      });
      const waitFor = (n: number, what = `${n} responses`) =>
        pollUntil(() => (got.length >= n ? got : undefined), { timeoutMs: 10_000, what });
      return { s, got, ended, waitFor };
    }

    const kv = () => cluster().client(0);
    /** The revision, read linearizably on `member` (so it has applied everything before). */
    const revisionNow = async (member = 0) =>
      (
        await cluster()
          .client(member)
          .range({ key: bytes("none") })
      ).header!.revision;

    it("ids from 0, a duplicate id and an empty range refused, cancel, in request order", async () => {
      const R = await revisionNow();
      const w = open();
      w.s.write(create({ key: bytes("x/a"), watchId: 7n }));
      w.s.write(create({ key: bytes("x/b"), watchId: 7n }));
      w.s.write(create({ key: bytes("x/c") }));
      w.s.write(create({ key: bytes("x/d"), watchId: 0n }));
      w.s.write(create({ key: bytes("x/b"), rangeEnd: bytes("x/a") }));
      w.s.write(create({ key: bytes("x/b"), rangeEnd: bytes("x/b") }));
      w.s.write(cancel(99n)); // unknown: ignored
      w.s.write(cancel(0n));
      w.s.write(cancel(0n)); // already gone: ignored
      await w.waitFor(7);
      expect(w.got.map((r) => describe1(r, R))).toEqual([
        "id=7 rev=R+0 created",
        "id=-1 rev=R+0 created canceled reason=mvcc: duplicate watch ID provided on the WatchStream",
        "id=0 rev=R+0 created",
        "id=1 rev=R+0 created",
        "id=-1 rev=R+0 created canceled reason=mvcc: watcher range is empty",
        "id=-1 rev=R+0 created canceled reason=mvcc: watcher range is empty",
        "id=0 rev=R+0 canceled",
      ]);
      w.s.cancel();
    });

    it("prefix watchers: txn events together, prev_kv, NOPUT/NODELETE, header revisions", async () => {
      await kv().put({ key: bytes("p/a"), value: bytes("0") });
      const R = await revisionNow(1);
      const w = open(1); // a member other than the one written to
      w.s.write(create({ key: bytes("p/"), rangeEnd: bytes("p0"), prevKv: true }));
      w.s.write(create({ key: bytes("p/"), rangeEnd: bytes("p0"), filters: [0] }));
      w.s.write(create({ key: bytes("p/"), rangeEnd: bytes("p0"), filters: [1] }));
      await w.waitFor(3);
      await kv().txn(
        etcdserverpb.TxnRequest.fromPartial({
          success: [op.put("p/a", "1"), op.put("p/b", "1"), op.put("other", "1")],
        }),
      );
      await kv().txn(
        etcdserverpb.TxnRequest.fromPartial({ success: [op.del("p/a"), op.put("p/c", "1")] }),
      );
      await kv().deleteRange({ key: bytes("p/"), rangeEnd: bytes("p0") });
      await w.waitFor(10);
      const text = w.got.map((r) => describe1(r, R));
      expect(text.slice(0, 3)).toEqual([
        "id=0 rev=R+0 created",
        "id=1 rev=R+0 created",
        "id=2 rev=R+0 created",
      ]);
      // Responses of different watchers may interleave; each watcher's are in order.
      const of = (id: number) => text.filter((t) => t.startsWith(`id=${id} `)).slice(1);
      expect(of(0)).toEqual([
        "id=0 rev=R+1 PUT p/a@R+1=1 prev=0@R+0 PUT p/b@R+1=1",
        "id=0 rev=R+2 DELETE p/a@R+2 prev=1@R+1 PUT p/c@R+2=1",
        "id=0 rev=R+3 DELETE p/b@R+3 prev=1@R+1 DELETE p/c@R+3 prev=1@R+2",
      ]);
      expect(of(1)).toEqual([
        "id=1 rev=R+2 DELETE p/a@R+2",
        "id=1 rev=R+3 DELETE p/b@R+3 DELETE p/c@R+3",
      ]);
      expect(of(2)).toEqual([
        "id=2 rev=R+1 PUT p/a@R+1=1 PUT p/b@R+1=1",
        "id=2 rev=R+2 PUT p/c@R+2=1",
      ]);
      w.s.cancel();
    });

    it("empty key means \\0; range_end \\0 means every key from key on", async () => {
      const R = await revisionNow();
      const w = open();
      w.s.write(create({ key: bytes("") }));
      w.s.write(create({ key: bytes("\0\0"), rangeEnd: bytes("\0") }));
      await w.waitFor(2);
      await kv().put({ key: bytes("\0"), value: bytes("z") });
      await kv().put({ key: bytes("\0\0"), value: bytes("y") });
      await w.waitFor(4);
      const text = w.got.map((r) => describe1(r, R));
      expect(text.filter((t) => t.startsWith("id=0 "))).toEqual([
        "id=0 rev=R+0 created",
        "id=0 rev=R+1 PUT \0@R+1=z",
      ]);
      expect(text.filter((t) => t.startsWith("id=1 "))).toEqual([
        "id=1 rev=R+0 created",
        "id=1 rev=R+2 PUT \0\0@R+2=y",
      ]);
      w.s.cancel();
    });

    it("replays history from a start revision; a future start waits for its revision", async () => {
      const first = (await kv().put({ key: bytes("h/k"), value: bytes("1") })).header!.revision;
      await kv().put({ key: bytes("h/k"), value: bytes("2") });
      await kv().deleteRange({ key: bytes("h/k") });
      const R = await revisionNow(2);
      const w = open(2);
      w.s.write(create({ key: bytes("h/k"), startRevision: first, prevKv: true }));
      w.s.write(create({ key: bytes("h/k"), startRevision: R + 2n }));
      await w.waitFor(3);
      await kv().put({ key: bytes("h/k"), value: bytes("3") }); // R+1
      await kv().put({ key: bytes("h/k"), value: bytes("4") }); // R+2
      await w.waitFor(6);
      const text = w.got.map((r) => describe1(r, R));
      expect(text.filter((t) => t.startsWith("id=0 "))).toEqual([
        "id=0 rev=R+0 created",
        "id=0 rev=R+0 PUT h/k@R-2=1 PUT h/k@R-1=2 prev=1@R-2 DELETE h/k@R+0 prev=2@R-1",
        "id=0 rev=R+1 PUT h/k@R+1=3",
        "id=0 rev=R+2 PUT h/k@R+2=4 prev=3@R+1",
      ]);
      expect(text.filter((t) => t.startsWith("id=1 "))).toEqual([
        "id=1 rev=R+0 created",
        "id=1 rev=R+2 PUT h/k@R+2=4",
      ]);
      w.s.cancel();
    });

    it("WatchProgressRequest: answered with watch_id -1 when every watcher is synced", async () => {
      const w = open();
      w.s.write(progress()); // no watchers yet
      w.s.write(create({ key: bytes("pr/k") }));
      // The watch starts at the revision current when it is created: wait for "created"
      // before writing, or the put may be applied first and (rightly) not be seen.
      await pollUntil(() => (w.got.some((r) => r.created) ? true : undefined), {
        timeoutMs: 10_000,
        what: "the created response",
      });
      await kv().put({ key: bytes("pr/k"), value: bytes("1") });
      await pollUntil(() => (w.got.some((r) => r.events.length) ? true : undefined), {
        timeoutMs: 10_000,
        what: "the event",
      });
      const R = await revisionNow();
      w.s.write(progress());
      await pollUntil(() => (w.got.at(-1)?.watchId === -1n ? true : undefined), {
        timeoutMs: 10_000,
        what: "the progress notification",
      });
      const text = w.got.map((r) => describe1(r, R));
      const expected = [
        "id=0 rev=R-1 created",
        "id=0 rev=R+0 PUT pr/k@R+0=1",
        "id=-1 rev=R+0", // after the event it speaks for
      ];
      // etcd 3.4 also answers the request sent before any watcher existed.
      expect(text).toEqual(kind === "etcd" ? ["id=-1 rev=R-1", ...expected] : expected);
      w.s.cancel();
    });

    it("fragment: a response above --max-request-bytes + 512 KiB is split", async () => {
      const value = "v".repeat(100_000);
      let first = 0n;
      for (let i = 0; i < 24; i++) {
        const r = await kv().put({
          key: bytes(`f/${String(i).padStart(2, "0")}`),
          value: bytes(value),
        });
        if (i === 0) first = r.header!.revision;
      }
      const w = open(1);
      w.s.write(
        create({ key: bytes("f/"), rangeEnd: bytes("f0"), startRevision: first, fragment: true }),
      );
      w.s.write(create({ key: bytes("f/"), rangeEnd: bytes("f0"), startRevision: first }));
      const count = (id: bigint) =>
        w.got.filter((r) => r.watchId === id).reduce((n, r) => n + r.events.length, 0);
      await pollUntil(() => (count(0n) === 24 && count(1n) === 24 ? true : undefined), {
        timeoutMs: 20_000,
        what: "48 events",
      });
      const limit = 1.5 * 1024 * 1024 + 512 * 1024;
      const size = (r: etcdserverpb.WatchResponse) =>
        etcdserverpb.WatchResponse.encode(r).finish().length;
      // The 24 events normally arrive as one catch-up batch, split in two fragments. A
      // batch can also be delivered in parts (the catch-up is paged and shares the stream's
      // send buffer with the second watcher), so assert fragmentation per batch: every
      // fragment but a batch's last is flagged, below the limit, and would reach it with
      // the batch's next event; a batch's fragments are contiguous on the stream.
      const frags = w.got.filter((r) => r.watchId === 0n && !r.created);
      const shape = frags.map((r) => `${r.events.length}${r.fragment ? "+" : ""}`).join(" ");
      expect(frags.at(-1)!.fragment, shape).toBe(false);
      expect(
        frags.some((r) => r.fragment),
        shape,
      ).toBe(true);
      for (let j = 0; j < frags.length; j++) {
        const f = frags[j]!;
        expect(size(f), shape).toBeLessThan(limit);
        if (!f.fragment) continue;
        const grown = { ...f, events: [...f.events, frags[j + 1]!.events[0]!] };
        expect(size(grown), shape).toBeGreaterThanOrEqual(limit);
        expect(w.got[w.got.indexOf(f) + 1], shape).toBe(frags[j + 1]);
      }
      // Without `fragment` nothing is split: no response is flagged, one may exceed the limit.
      const whole = w.got.filter((r) => r.watchId === 1n && !r.created);
      expect(whole.every((r) => !r.fragment)).toBe(true);
      expect(whole.some((r) => size(r) >= limit) || whole.length > 1).toBe(true);
      w.s.cancel();
    });

    it("compaction: a start below it is canceled with compact_revision; at it is served", async () => {
      const revs: bigint[] = [];
      for (let i = 1; i <= 4; i++) {
        revs.push((await kv().put({ key: bytes("c/k"), value: bytes(`${i}`) })).header!.revision);
      }
      const C = revs[2]!;
      await kv().compact({ revision: C, physical: true });
      const R = await revisionNow();
      const w = open();
      w.s.write(create({ key: bytes("c/k"), startRevision: C - 1n }));
      await w.waitFor(2);
      w.s.write(create({ key: bytes("c/k"), startRevision: C, prevKv: true }));
      await w.waitFor(4);
      w.s.write(create({ key: bytes("c/k"), watchId: 0n })); // id 0 is still taken
      w.s.write(cancel(0n));
      w.s.write(create({ key: bytes("c/k"), startRevision: -5n }));
      await w.waitFor(kind === "etcd" ? 8 : 7);
      const text = w.got.map((r) => describe1(r, R));
      expect(text.slice(0, 6)).toEqual([
        "id=0 rev=R+0 created",
        `id=0 rev=0 canceled compact=R-1`,
        "id=1 rev=R+0 created",
        // At the compact revision the previous version is gone: no prev_kv for it.
        "id=1 rev=R+0 PUT c/k@R-1=3 PUT c/k@R+0=4 prev=3@R-1",
        "id=2 rev=R+0 created",
        "id=0 rev=R+0 canceled",
      ]);
      expect(text.slice(6)).toEqual(
        kind === "etcd"
          ? ["id=3 rev=R+0 created", "id=3 rev=0 canceled compact=R-1"]
          : [
              "id=-1 rev=R+0 created canceled reason=etcdserver: mvcc: required revision has been compacted",
            ],
      );
      w.s.cancel();
    });

    it("hasleader: a member without a leader ends such streams and refuses new ones", async () => {
      const w = open(0, hasLeader());
      const plain = open(0);
      w.s.write(create({ key: bytes("nl/k") }));
      plain.s.write(create({ key: bytes("nl/k") }));
      await w.waitFor(1);
      await plain.waitFor(1);
      await Promise.all([cluster().kill(1), cluster().kill(2)]);
      await pollUntil(() => w.ended.error, { timeoutMs: 20_000, what: "the stream to end" });
      expect(w.ended.error).toMatchObject({
        code: status.UNAVAILABLE,
        details: "etcdserver: no leader",
      });
      expect(w.got.filter((r) => r.canceled)).toEqual([]);
      const late = open(0, hasLeader());
      late.s.write(create({ key: bytes("nl/k") }));
      await pollUntil(() => late.ended.error, { timeoutMs: 10_000, what: "a refusal" });
      expect(late.ended.error).toMatchObject({
        code: status.UNAVAILABLE,
        details: "etcdserver: no leader",
      });
      // A stream without hasleader stays open.
      expect(plain.ended.error).toBeUndefined();
      plain.s.cancel();
    });
  });
}
