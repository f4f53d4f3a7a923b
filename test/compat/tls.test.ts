/**
 * TLS on both ports of a three-member cluster (every member requires client certificates
 * from the cluster's CA, on the client port and on the peer port), with certificates
 * from deploy/tls/gen-dev-certs.sh: etcdctl 3.4 and the `etcd3` npm client with
 * certificates; clients without one, or with one from another CA, are refused; a member
 * whose peer certificate comes from another CA cannot join (either direction of trust).
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { afterAll, describe, expect, it } from "vitest";
import { forgetProcess, trackProcess } from "../harness/cleanup.js";
import { tlsArgs } from "../harness/cluster.js";
import { allocatePorts, CHAINFIRE_MAIN, pollUntil, REPO_ROOT } from "../harness/index.js";
import { useCluster } from "../harness/vitest.js";
import { type EtcdctlResult, etcdctl, parseJsonBig } from "./etcdctl.js";
import { compatTargets } from "./targets.js";

const SCRIPT = join(REPO_ROOT, "deploy/tls/gen-dev-certs.sh");
const NAMES = ["n1", "n2", "n3"];

function opensslMissing(): string | undefined {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return undefined;
  } catch {
    return "openssl is not installed (.ci/run installs it)";
  }
}

/** Certificates for n1..n4 and a client "root" from a fresh CA, in a new temp dir. */
function makeCerts(root: string, name: string): string {
  const dir = join(root, name);
  execFileSync("bash", [SCRIPT, dir, ...NAMES, "n4"], {
    stdio: "pipe",
    env: { ...process.env, DAYS: "2" },
  });
  return dir;
}

const skip = opensslMissing();
const root = mkdtempSync(join(tmpdir(), "chainfire-tls-test-"));
// Made at collection time: the cluster below needs them in its beforeAll.
const ca1 = skip ? root : makeCerts(root, "ca1");
const ca2 = skip ? root : makeCerts(root, "ca2");
afterAll(() => rmSync(root, { recursive: true, force: true }));

const certArgs = (dir: string, who = "client") => [
  `--cacert=${join(dir, "ca.pem")}`,
  `--cert=${join(dir, `${who}.pem`)}`,
  `--key=${join(dir, `${who}-key.pem`)}`,
];

for (const kind of compatTargets()) {
  describe.skipIf(skip !== undefined)(`TLS (client and peer) against ${kind}`, () => {
    const cluster = useCluster({ kind, size: 3, tls: { certDir: ca1 } });
    // Generous timeouts where a command must succeed (the machine may be loaded), short
    // ones where it must be refused (a refused handshake is retried until the deadline).
    const ctl = (args: string[], endpoints = cluster().endpoints, refused = false) =>
      etcdctl(endpoints, [
        refused ? "--dial-timeout=2s" : "--dial-timeout=10s",
        refused ? "--command-timeout=3s" : "--command-timeout=15s",
        ...args,
      ]);
    const ok = async (r: Promise<EtcdctlResult>) => {
      const result = await r;
      expect({ code: result.code, stderr: result.errorText }).toEqual({ code: 0, stderr: "" });
      return result.stdout;
    };

    it("etcdctl 3.4 with --cacert/--cert/--key: put, get, watch, endpoint status, member list", async () => {
      expect(cluster().endpoints.every((e) => e.startsWith("https://"))).toBe(true);
      expect(await ok(ctl([...certArgs(ca1), "put", "tls/k", "v1"]))).toBe("OK\n");
      expect(await ok(ctl([...certArgs(ca1), "get", "tls/k"]))).toBe("tls/k\nv1\n");
      const got = parseJsonBig(await ok(ctl([...certArgs(ca1), "get", "tls/k", "-w", "json"])));
      const rev = (got as { kvs: { mod_revision: number }[] }).kvs[0]!.mod_revision;
      // Watch from the put's revision: the event is history, printed at once.
      expect(
        await watchOnce(cluster().endpoints, [...certArgs(ca1), "watch", "tls/k", `--rev=${rev}`]),
      ).toBe("PUT\ntls/k\nv1\n");
      const status = JSON.parse(
        await ok(ctl([...certArgs(ca1), "endpoint", "status", "-w", "json"])),
      ) as { Endpoint: string }[];
      expect(status.map((s) => s.Endpoint).sort()).toEqual([...cluster().endpoints].sort());
      const members = parseJsonBig(
        await ok(ctl([...certArgs(ca1), "member", "list", "-w", "json"])),
      ) as {
        members: { name: string; peerURLs: string[]; clientURLs: string[] }[];
      };
      expect(members.members.map((m) => m.name).sort()).toEqual(NAMES);
      for (const m of members.members) {
        expect(m.peerURLs[0]).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
        expect(m.clientURLs[0]).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      }
    });

    it("refuses clients without a certificate, with another CA's, or in plaintext", async () => {
      const one = [cluster().endpoints[0]!];
      for (const args of [
        [`--cacert=${join(ca1, "ca.pem")}`],
        [
          `--cacert=${join(ca1, "ca.pem")}`,
          `--cert=${join(ca2, "client.pem")}`,
          `--key=${join(ca2, "client-key.pem")}`,
        ],
      ]) {
        const r = await ctl([...args, "get", "tls/k"], one, true);
        expect(r.code).toBe(1);
        expect(r.stdout).toBe("");
      }
      const plain = await ctl(["get", "tls/k"], [one[0]!.replace("https:", "http:")], true);
      expect(plain.code).toBe(1);
    });

    it("the etcd3 npm client with TLS credentials (and refused without a certificate)", async () => {
      const read = (f: string) => readFileSync(join(ca1, f));
      const client = new Etcd3({
        hosts: cluster().endpoints,
        credentials: {
          rootCertificate: read("ca.pem"),
          certChain: read("client.pem"),
          privateKey: read("client-key.pem"),
        },
      });
      const noCert = new Etcd3({
        hosts: cluster().endpoints,
        credentials: { rootCertificate: read("ca.pem") },
      });
      try {
        await client.put("tls/e3").value("hello");
        expect(await client.get("tls/e3").string()).toBe("hello");
        await expect(
          Promise.race([
            noCert.get("tls/e3").string(),
            new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), 10_000)),
          ]),
        ).rejects.toThrow();
      } finally {
        client.close();
        noCert.close();
      }
    });

    it.skipIf(kind !== "chainfire")(
      "a member with a peer certificate of another CA cannot join, in either direction",
      async () => {
        const initial = cluster()
          .members.map((m) => `${m.name}=${m.advertisePeerUrl}`)
          .join(",");
        // (a) It presents a certificate of CA 2 (and trusts both): the cluster refuses it.
        // (b) It presents a valid certificate but trusts only CA 2: it refuses the cluster.
        const bundle = join(root, "both-ca.pem");
        execFileSync("sh", [
          "-c",
          `cat "$1" "$2" > "$3"`,
          "sh",
          join(ca1, "ca.pem"),
          join(ca2, "ca.pem"),
          bundle,
        ]);
        // (c) Control: with the cluster's CA and a certificate of it, TLS succeeds and the
        // join fails only because nobody ran "member add".
        // In (a) grpc-js reports the refused handshake as "Failed to connect" or as
        // "read ECONNRESET", depending on which side notices first; either way no member
        // answered, which (c) shows is not the case with a good certificate.
        for (const [certDir, trusted, expected] of [
          [ca2, bundle, "cannot reach any member of the existing cluster"],
          [ca1, join(ca2, "ca.pem"), "self-signed certificate in certificate chain"],
          [ca1, join(ca1, "ca.pem"), 'add it with \\"member add\\" first'],
        ] as const) {
          const [clientPort, peerPort] = await allocatePorts(2);
          const peerUrl = `https://127.0.0.1:${peerPort}`;
          const args = [
            CHAINFIRE_MAIN,
            "--name=n4",
            `--data-dir=${mkdtempSync(join(root, "n4-"))}`,
            `--listen-client-urls=http://127.0.0.1:${clientPort}`,
            `--listen-peer-urls=${peerUrl}`,
            `--initial-cluster=${initial},n4=${peerUrl}`,
            "--initial-cluster-state=existing",
            "--listen-metrics-urls=",
            ...tlsArgs(certDir, "n4").filter((a) => !a.startsWith("--peer-trusted-ca-file")),
            `--peer-trusted-ca-file=${trusted}`,
          ];
          const { code, output } = await runToExit(args, 30_000);
          const why = `n4's output:\n${output}`;
          expect(code, why).not.toBe(0);
          expect(output.includes(expected), why).toBe(true);
        }
        // The cluster is unaffected.
        expect(await ok(ctl([...certArgs(ca1), "get", "tls/k", "--print-value-only"]))).toBe(
          "v1\n",
        );
      },
    );
  });
}

/** Runs `etcdctl watch ...` until it prints one event (3 lines), then ends it. */
async function watchOnce(endpoints: string[], args: string[]): Promise<string> {
  const child = spawn("etcdctl", [`--endpoints=${endpoints.join(",")}`, ...args], {
    env: { ...process.env, ETCDCTL_API: "3" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => {
    out += c;
  });
  try {
    return await pollUntil(() => (out.split("\n").length > 3 ? out : undefined), {
      timeoutMs: 20_000,
      intervalMs: 50,
      what: "etcdctl watch output",
    });
  } finally {
    child.kill("SIGKILL");
  }
}

/** Runs a Chainfire member that is expected to exit by itself; kills it after `timeoutMs`. */
function runToExit(
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "pipe", "pipe"],
    cwd: REPO_ROOT,
  });
  if (child.pid !== undefined) trackProcess(child.pid, "chainfire n4 (TLS join test)");
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => {
    output += c;
  });
  child.stderr.setEncoding("utf8").on("data", (c: string) => {
    output += c;
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (child.pid !== undefined) forgetProcess(child.pid);
      resolve({ code, output });
    });
  });
}
