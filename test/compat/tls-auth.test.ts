/**
 * Auth by client certificate: on a three-member cluster with client TLS and
 * --client-cert-auth, a request that carries no token acts as the user named by the
 * Common Name of its verified certificate (etcd's AuthInfoFromTLS). etcdctl 3.4 without
 * --user and the `etcd3` npm client without `auth` are root with the "root" certificate
 * and alice with the "alice" one; a token (--user) takes precedence over the certificate;
 * a wrong password is refused even with a good certificate. Run with
 * CHAINFIRE_COMPAT_TARGETS=both to check the expected outputs against etcd 3.4.
 *
 * The tests of one target run in order: each depends on the auth state the previous left.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { afterAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../harness/index.js";
import { useCluster } from "../harness/vitest.js";
import { etcdctl } from "./etcdctl.js";
import { compatTargets } from "./targets.js";

function opensslMissing(): string | undefined {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return undefined;
  } catch {
    return "openssl is not installed (.ci/run installs it)";
  }
}

/**
 * A client certificate `<cn>.pem` / `<cn>-key.pem` signed by the CA in `dir`, made as
 * deploy/tls/gen-dev-certs.sh makes its client certificate.
 */
function signClient(dir: string, cn: string, serial: number): void {
  const script = `set -euo pipefail
cd "$1"
printf 'basicConstraints=CA:FALSE\\nkeyUsage=critical,digitalSignature,keyEncipherment\\nextendedKeyUsage=clientAuth\\n' > "$2.ext"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \\
  -keyout "$2-key.pem" -out "$2.csr" -subj "/O=chainfire-dev/CN=$2" 2>/dev/null
openssl x509 -req -in "$2.csr" -CA ca.pem -CAkey ca-key.pem -set_serial "$3" \\
  -out "$2.pem" -days 2 -extfile "$2.ext" 2>/dev/null
rm -f "$2.csr" "$2.ext"`;
  execFileSync("bash", ["-c", script, "sign", dir, cn, String(serial)], { stdio: "pipe" });
}

const skip = opensslMissing();
const root = mkdtempSync(join(tmpdir(), "chainfire-tls-auth-test-"));
const certs = join(root, "certs");
if (skip === undefined) {
  // Made at collection time: the cluster's beforeAll needs them. client.pem has CN "root".
  execFileSync("bash", [join(REPO_ROOT, "deploy/tls/gen-dev-certs.sh"), certs, "n1", "n2", "n3"], {
    stdio: "pipe",
    env: { ...process.env, DAYS: "2", CLIENT_CN: "root" },
  });
  signClient(certs, "alice", 1001);
  // A verified certificate whose CN is no user.
  signClient(certs, "mallory", 1002);
}
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** etcdctl's TLS flags for the certificate `who` ("client" has CN root). */
const as = (who: string) => [
  `--cacert=${join(certs, "ca.pem")}`,
  `--cert=${join(certs, `${who}.pem`)}`,
  `--key=${join(certs, `${who}-key.pem`)}`,
];
const ROOT = as("client");
const ALICE = as("alice");
const MALLORY = as("mallory");
const DENIED = "Error: etcdserver: permission denied";

for (const kind of compatTargets()) {
  describe.skipIf(skip !== undefined)(`auth by client certificate CN against ${kind}`, () => {
    const cluster = useCluster({
      kind,
      size: 3,
      tls: { certDir: certs },
      extraArgs: ["--bcrypt-cost=4"],
    });
    // Generous timeouts: the machine may be loaded.
    const run = (args: string[]) =>
      etcdctl(cluster().endpoints, ["--dial-timeout=10s", "--command-timeout=15s", ...args], {
        timeoutMs: 30_000,
      });

    async function ok(args: string[]): Promise<string> {
      const r = await run(args);
      expect({ args, code: r.code, stderr: r.errorText }).toEqual({ args, code: 0, stderr: "" });
      return r.stdout;
    }

    /** The last line etcdctl prints on failure ("Error: ..."). */
    async function fails(args: string[], code = 1): Promise<string> {
      const r = await run(args);
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code, stdout: "" });
      return r.errorText.trim().split("\n").at(-1) ?? "";
    }

    it("sets up root and alice with the root certificate, then enables auth", async () => {
      expect(await ok([...ROOT, "user", "add", "root:rootpw"])).toBe("User root created\n");
      expect(await ok([...ROOT, "role", "add", "root"])).toBe("Role root created\n");
      expect(await ok([...ROOT, "user", "grant-role", "root", "root"])).toBe(
        "Role root is granted to user root\n",
      );
      expect(await ok([...ROOT, "role", "add", "app"])).toBe("Role app created\n");
      expect(
        await ok([...ROOT, "role", "grant-permission", "--prefix", "app", "readwrite", "a/"]),
      ).toBe("Role app updated\n");
      expect(await ok([...ROOT, "user", "add", "alice:alicepw"])).toBe("User alice created\n");
      expect(await ok([...ROOT, "user", "grant-role", "alice", "app"])).toBe(
        "Role app is granted to user alice\n",
      );
      expect(await ok([...ROOT, "auth", "enable"])).toBe("Authentication Enabled\n");
    });

    it("the root certificate without --user is root", async () => {
      expect(await ok([...ROOT, "user", "list"])).toBe("alice\nroot\n");
      expect(await ok([...ROOT, "put", "b/root", "r"])).toBe("OK\n");
      expect(await ok([...ROOT, "get", "b/root"])).toBe("b/root\nr\n");
      expect(await ok([...ROOT, "role", "get", "app"])).toBe(
        "Role app\nKV Read:\n\t[a/, a0) (prefix a/)\nKV Write:\n\t[a/, a0) (prefix a/)\n",
      );
    });

    it("the alice certificate without --user is alice", async () => {
      expect(await ok([...ALICE, "put", "a/x", "1"])).toBe("OK\n");
      expect(await ok([...ALICE, "get", "a/x"])).toBe("a/x\n1\n");
      expect(await ok([...ALICE, "get", "--prefix", "a/"])).toBe("a/x\n1\n");
      expect(await fails([...ALICE, "put", "b/x", "1"])).toBe(DENIED);
      expect(await fails([...ALICE, "get", "b/root"])).toBe(DENIED);
      expect(await fails([...ALICE, "user", "list"])).toBe(DENIED);
      expect(await fails([...ALICE, "auth", "disable"])).toBe(DENIED);
      // Watch creation (resolved on the open stream) uses the certificate too.
      const watch = await run([...ALICE, "watch", "b/x"]);
      expect({ code: watch.code, stderr: watch.errorText }).toEqual({
        code: 5,
        stderr:
          "watch was canceled (rpc error: code = PermissionDenied desc = etcdserver: permission denied)\n" +
          "Error: watch is canceled by the server\n",
      });
      // Maintenance: admin RPCs (unary and streaming) need the root role.
      const snap = join(root, `snap-${kind}.db`);
      const one = [cluster().endpoints[0]!];
      // etcd 3.4 answers these with its auth package's error, untranslated.
      const raw = (text: string) => `Error: rpc error: code = Unknown desc = auth: ${text}`;
      const snapAlice = await etcdctl(one, [...ALICE, "snapshot", "save", snap]);
      expect({ code: snapAlice.code, stderr: snapAlice.errorText }).toEqual({
        code: 5,
        stderr: `${raw("permission denied")}\n`,
      });
      const snapRoot = await etcdctl(one, [
        ...ROOT,
        "--command-timeout=15s",
        "snapshot",
        "save",
        snap,
      ]);
      expect({ code: snapRoot.code, stdout: snapRoot.stdout }).toEqual({
        code: 0,
        stdout: `Snapshot saved at ${snap}\n`,
      });
      expect(await fails([...ALICE, "endpoint", "hashkv"])).toBe(raw("permission denied"));
      expect(await fails([...MALLORY, "endpoint", "hashkv"])).toBe(raw("user not found"));
      expect(await fails([...ALICE, "defrag"])).toMatch(
        /^Failed to defragment etcd member\[https:\/\/127\.0\.0\.1:\d+\] \(rpc error: code = Unknown desc = auth: permission denied\)$/,
      );
      expect(await ok([...ALICE, "user", "get", "alice"])).toBe("User: alice\nRoles: app\n");
      expect(await ok([...ROOT, "endpoint", "hashkv"])).toMatch(/^https:/);
      // A verified certificate whose CN names no user has no permission.
      expect(await fails([...MALLORY, "get", "a/x"])).toBe(DENIED);
      // Nothing was written by the refused requests.
      expect(await ok([...ROOT, "get", "b/x"])).toBe("");
    });

    it("a token takes precedence over the certificate; a wrong password is refused", async () => {
      // The root certificate with alice's password: alice, not root.
      expect(await ok([...ROOT, "--user", "alice:alicepw", "put", "a/y", "2"])).toBe("OK\n");
      expect(await fails([...ROOT, "--user", "alice:alicepw", "user", "list"])).toBe(DENIED);
      // The alice certificate with root's password: root.
      expect(await ok([...ALICE, "--user", "root:rootpw", "user", "list"])).toBe("alice\nroot\n");
      for (const args of [
        [...ROOT, "--user", "root:wrong", "get", "a/x"],
        [...ALICE, "--user", "alice:wrong", "get", "a/x"],
        [...ALICE, "--user", "nobody:pw", "get", "a/x"],
      ]) {
        expect(await fails(args, 2)).toBe(
          "Error: etcdserver: authentication failed, invalid user ID or password",
        );
      }
    });

    it("the etcd3 npm client with the alice certificate is alice", async () => {
      const read = (f: string) => readFileSync(join(certs, f));
      const credentials = (who: string) => ({
        rootCertificate: read("ca.pem"),
        certChain: read(`${who}.pem`),
        privateKey: read(`${who}-key.pem`),
      });
      const hosts = cluster().endpoints;
      const alice = new Etcd3({ hosts, credentials: credentials("alice") });
      const aliceWatch = new Etcd3({ hosts, credentials: credentials("alice") });
      const rootClient = new Etcd3({ hosts, credentials: credentials("client") });
      const wrong = new Etcd3({
        hosts,
        credentials: credentials("alice"),
        auth: { username: "alice", password: "nope" },
      });
      try {
        await alice.put("a/npm").value("hello");
        expect(await alice.get("a/npm").string()).toBe("hello");
        expect(await alice.getAll().prefix("a/").keys()).toEqual(["a/npm", "a/x", "a/y"]);
        await expect(alice.put("b/npm").value("v")).rejects.toThrow(/permission denied/);
        await expect(alice.get("b/root").string()).rejects.toThrow(/permission denied/);
        await expect(alice.getUsers()).rejects.toThrow(/permission denied/);
        const watcher = await alice.watch().prefix("a/").create();
        try {
          const event = new Promise<string>((resolve) =>
            watcher.once("put", (kv) => resolve(`${kv.key.toString()}=${kv.value.toString()}`)),
          );
          await alice.put("a/w").value("seen");
          expect(await event).toBe("a/w=seen");
        } finally {
          await watcher.cancel();
        }
        // (its own client: etcd3 does not recover the watch stream of a refused watch)
        await expect(aliceWatch.watch().key("b/root").create()).rejects.toThrow(
          /permission denied/,
        );
        await expect(wrong.get("a/npm").string()).rejects.toThrow(/authentication failed/);
        const users = await rootClient.getUsers();
        expect(users.map((u) => u.name).sort()).toEqual(["alice", "root"]);
        expect(await rootClient.get("b/npm").string()).toBeNull();
      } finally {
        alice.close();
        aliceWatch.close();
        rootClient.close();
        wrong.close();
      }
    });
  });
}
