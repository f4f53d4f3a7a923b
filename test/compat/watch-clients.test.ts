/**
 * Real watch clients, unchanged, against a live three-member cluster:
 *
 * - etcdctl 3.4 `watch` as a long-running child process: prefix, --rev (history),
 *   --prev-kv, and interactive mode (`watch -i`: `watch <key>` and `progress` lines on
 *   stdin). Its output is asserted line by line; etcdctl always watches with
 *   `hasleader=true` (clientv3.WithRequireLeader).
 * - the `etcd3` npm client's watch builder: key and prefix watchers, put/delete events
 *   with previous values, start revisions, filters, and a watcher that survives its member
 *   being killed and restarted (it resumes from the last header revision + 1 — which must
 *   therefore never be ahead of the events it has been given).
 *
 * Verified against etcd 3.4.23 first (CHAINFIRE_COMPAT_TARGETS=etcd).
 */
import { Etcd3, type IKeyValue } from "etcd3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { bytes, pollUntil } from "../harness/index.js";
import { useCluster } from "../harness/vitest.js";
import { EtcdctlProcess } from "./etcdctl-process.js";
import { compatTargets } from "./targets.js";

for (const kind of compatTargets()) {
  describe(`watch clients against ${kind}`, () => {
    const cluster = useCluster({ kind, size: 3 });
    const procs: EtcdctlProcess[] = [];
    afterEach(async () => {
      await Promise.all(procs.splice(0).map((p) => p.stop()));
    });
    const etcdctl = (args: string[], member?: number) => {
      const endpoints = member === undefined ? cluster().endpoints : [cluster().endpoints[member]!];
      const p = new EtcdctlProcess(endpoints, args, { keepEmptyLines: true });
      procs.push(p);
      return p;
    };
    const put = async (key: string, value: string) =>
      (
        await cluster()
          .client(0)
          .put({ key: bytes(key), value: bytes(value) })
      ).header!.revision;
    const del = (key: string) =>
      cluster()
        .client(0)
        .deleteRange({ key: bytes(key) });
    /** Waits until `member` reports revision >= rev (so a watch created there starts after). */
    const applied = (member: number, rev: bigint) =>
      pollUntil(
        async () => {
          const r = await cluster()
            .client(member)
            .range({ key: bytes("none"), serializable: true });
          return r.header!.revision >= rev ? true : undefined;
        },
        { timeoutMs: 10_000, what: `member ${member} at revision ${rev}` },
      );

    describe("etcdctl 3.4", () => {
      it("watch --prefix prints each event: type, key, value", async () => {
        // The watch starts at the revision it is created at: repeat a marker put until
        // etcdctl shows one, then ignore the markers.
        const w = etcdctl(["watch", "--prefix", "ecw/"], 1);
        await pollUntil(
          async () => {
            await put("ecw/ready", "1");
            return w.lines.length > 0 ? true : undefined;
          },
          { timeoutMs: 10_000, what: "the watch to see a marker" },
        );
        await put("ecw/a", "hello world");
        await del("ecw/a");
        await put("ecw/b", "2");
        const events = async () => {
          for (;;) {
            const triples: string[][] = [];
            for (let i = 0; i + 3 <= w.lines.length; i += 3) triples.push(w.lines.slice(i, i + 3));
            const real = triples.filter((t) => t[1] !== "ecw/ready");
            if (real.length >= 3) return real;
            await w.waitLines(w.lines.length + 1, "three events", 10_000);
          }
        };
        expect((await events()).flat()).toEqual([
          "PUT",
          "ecw/a",
          "hello world",
          "DELETE",
          "ecw/a",
          "",
          "PUT",
          "ecw/b",
          "2",
        ]);
      });

      it("watch --rev replays history; --prev-kv prints the previous value first", async () => {
        const first = await put("ecr/k", "1");
        await put("ecr/k", "2");
        await del("ecr/k");
        const w = etcdctl(["watch", "ecr/k", "--rev", `${first}`, "--prev-kv"]);
        const lines = await w.waitLines(13, "the replayed history", 10_000);
        expect(lines).toEqual([
          "PUT",
          "ecr/k",
          "1",
          "PUT",
          "ecr/k",
          "1",
          "ecr/k",
          "2",
          "DELETE",
          "ecr/k",
          "2",
          "ecr/k",
          "",
        ]);
      });

      it("interactive: watch lines from stdin, then `progress` prints the revision", async () => {
        const w = etcdctl(["watch", "-i"], 2);
        w.send("watch eci/k");
        // The watch is live once a put shows up.
        let rev = 0n;
        await pollUntil(
          async () => {
            rev = await put("eci/k", "v");
            return w.lines.length >= 3 ? true : undefined;
          },
          { timeoutMs: 10_000, what: "the interactive watch to print an event" },
        );
        await applied(2, rev);
        w.send("progress");
        const progress = await pollUntil(
          () => {
            const p = w.lines.filter((l) => l.startsWith("progress notify: "));
            return p.length > 0 ? p : undefined;
          },
          { timeoutMs: 10_000, what: `a progress line (stdout: ${JSON.stringify(w.out)})` },
        );
        expect(progress).toHaveLength(1);
        expect(w.lines.slice(0, 3)).toEqual(["PUT", "eci/k", "v"]);
        // The notified revision is at least that of the last write seen.
        expect(BigInt(progress[0]!.slice("progress notify: ".length))).toBeGreaterThanOrEqual(rev);
      });
    });

    describe("etcd3 npm", () => {
      let client: Etcd3;
      beforeAll(() => {
        client = new Etcd3({ hosts: cluster().endpoints });
      });
      afterAll(() => client?.close());

      it("key and prefix watchers: put and delete events with previous values", async () => {
        const keyWatcher = await client.watch().key("e3k/a").withPreviousKV().create();
        const prefixWatcher = await client.watch().prefix("e3k/").create();
        const putsOnly = await client.watch().prefix("e3k/").only("put").create();
        try {
          const got: string[] = [];
          keyWatcher.on("put", (kv: IKeyValue, prev?: IKeyValue) =>
            got.push(`key put ${kv.key} ${kv.value} prev=${prev?.value ?? "-"}`),
          );
          keyWatcher.on("delete", (kv: IKeyValue, prev?: IKeyValue) =>
            got.push(`key delete ${kv.key} prev=${prev?.value ?? "-"}`),
          );
          prefixWatcher.on("put", (kv: IKeyValue) => got.push(`prefix put ${kv.key} ${kv.value}`));
          prefixWatcher.on("delete", (kv: IKeyValue) => got.push(`prefix delete ${kv.key}`));
          putsOnly.on("data", (res) =>
            got.push(`only ${res.events.map((e) => `${e.type} ${e.kv.key}`).join(",")}`),
          );
          await client.put("e3k/a").value("1");
          await client.put("e3k/a").value("2");
          await client.put("e3k/b").value("3");
          await client.delete().key("e3k/a");
          await pollUntil(() => (got.length >= 10 ? true : undefined), {
            timeoutMs: 10_000,
            what: "ten events",
          });
          const by = (p: string) => got.filter((g) => g.startsWith(p));
          expect(by("key ")).toEqual([
            "key put e3k/a 1 prev=-",
            "key put e3k/a 2 prev=1",
            "key delete e3k/a prev=2",
          ]);
          expect(by("prefix ")).toEqual([
            "prefix put e3k/a 1",
            "prefix put e3k/a 2",
            "prefix put e3k/b 3",
            "prefix delete e3k/a",
          ]);
          expect(by("only ")).toEqual(["only Put e3k/a", "only Put e3k/a", "only Put e3k/b"]);
        } finally {
          await Promise.all([keyWatcher.cancel(), prefixWatcher.cancel(), putsOnly.cancel()]);
        }
      });

      it("a start revision replays history", async () => {
        const first = await put("e3h/k", "1");
        await put("e3h/k", "2");
        const watcher = await client.watch().key("e3h/k").startRevision(`${first}`).create();
        try {
          const values: string[] = [];
          watcher.on("put", (kv: IKeyValue) => values.push(kv.value.toString()));
          await put("e3h/k", "3");
          await pollUntil(() => (values.length >= 3 ? true : undefined), {
            timeoutMs: 10_000,
            what: "three values",
          });
          expect(values).toEqual(["1", "2", "3"]);
        } finally {
          await watcher.cancel();
        }
      });

      it("survives its member being killed and restarted: nothing lost, nothing twice", async () => {
        // Reconnect every 200 ms (the default backoff grows to 30 s).
        const backoff = { duration: 200, next: () => backoff };
        const single = new Etcd3({
          hosts: cluster().endpoints[0]!,
          faultHandling: { watchBackoff: backoff as never },
        });
        try {
          const watcher = await single.watch().prefix("e3r/").create();
          const values: string[] = [];
          watcher.on("put", (kv: IKeyValue) => values.push(kv.value.toString()));
          const writer = cluster().client(1);
          let n = 0;
          const write = async (count: number) => {
            for (let i = 0; i < count; i++, n++) {
              await writer.put({ key: bytes(`e3r/${n % 3}`), value: bytes(`${n}`) });
            }
          };
          await write(10);
          await pollUntil(() => (values.length >= 10 ? true : undefined), {
            timeoutMs: 10_000,
            what: "the first ten events",
          });
          await cluster().kill(0);
          await cluster().waitForLeader();
          await write(10); // while the watcher's member is down
          await cluster().restart(0);
          await write(10);
          await pollUntil(() => (values.length >= 30 ? true : undefined), {
            timeoutMs: 20_000,
            what: "all thirty events",
          });
          expect(values).toEqual(Array.from({ length: 30 }, (_, i) => `${i}`));
          await watcher.cancel();
        } finally {
          single.close();
        }
      });
    });
  });
}
