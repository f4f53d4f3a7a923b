/**
 * Authentication and RBAC with the real etcdctl 3.4 (unchanged) and the `etcd3` npm
 * client: users, roles, prefix permissions, `auth enable`, then `--user` operations
 * allowed and denied as etcd allows and denies them, `auth disable`. Outputs are asserted
 * byte for byte (run with CHAINFIRE_COMPAT_TARGETS=both to compare with etcd 3.4).
 *
 * The tests of one target run in order: each step depends on the auth state left by the
 * previous ones.
 */
import { Etcd3 } from "etcd3";
import { describe, expect, it } from "vitest";
import { useCluster } from "../harness/vitest.js";
import { etcdctl } from "./etcdctl.js";
import { compatTargets } from "./targets.js";

for (const kind of compatTargets()) {
  describe(`auth with etcdctl 3.4 and etcd3 against ${kind}`, () => {
    const cluster = useCluster({ kind, size: 1, extraArgs: ["--bcrypt-cost=4"] });
    const run = (args: string[]) => etcdctl(cluster().endpoints, args);

    async function ok(args: string[]): Promise<string> {
      const r = await run(args);
      expect({ args, code: r.code, stderr: r.errorText }).toEqual({ args, code: 0, stderr: "" });
      return r.stdout;
    }

    /** The last line etcdctl prints on failure ("Error: ..."). */
    async function fails(args: string[], code = 1): Promise<string> {
      const r = await run(args);
      expect({ args, code: r.code }).toEqual({ args, code });
      return r.errorText.trim().split("\n").at(-1) ?? "";
    }

    it("sets up users and roles, then enables auth", async () => {
      expect(await ok(["user", "add", "root:rootpw"])).toBe("User root created\n");
      expect(await ok(["role", "add", "root"])).toBe("Role root created\n");
      expect(await ok(["user", "grant-role", "root", "root"])).toBe(
        "Role root is granted to user root\n",
      );
      expect(await ok(["role", "add", "app"])).toBe("Role app created\n");
      expect(await ok(["role", "grant-permission", "--prefix", "app", "readwrite", "a/"])).toBe(
        "Role app updated\n",
      );
      expect(await ok(["role", "grant-permission", "app", "read", "config"])).toBe(
        "Role app updated\n",
      );
      expect(await ok(["user", "add", "alice:alicepw"])).toBe("User alice created\n");
      expect(await ok(["user", "grant-role", "alice", "app"])).toBe(
        "Role app is granted to user alice\n",
      );
      expect(await ok(["user", "add", "bob:bobpw"])).toBe("User bob created\n");
      expect(await fails(["role", "add", "app"])).toBe(
        "Error: etcdserver: role name already exists",
      );
      expect(await fails(["user", "grant-role", "alice", "nope"])).toBe(
        "Error: etcdserver: role name not found",
      );
      expect(await ok(["auth", "enable"])).toBe("Authentication Enabled\n");
    });

    it("allows and denies --user operations by role", async () => {
      const alice = ["--user", "alice:alicepw"];
      expect(await ok([...alice, "put", "a/x", "1"])).toBe("OK\n");
      expect(await ok([...alice, "get", "a/x"])).toBe("a/x\n1\n");
      expect(await ok([...alice, "get", "--prefix", "a/"])).toBe("a/x\n1\n");
      expect(await ok([...alice, "del", "a/x"])).toBe("1\n");
      expect(await ok([...alice, "get", "config"])).toBe("");
      expect(await fails([...alice, "put", "config", "1"])).toBe(
        "Error: etcdserver: permission denied",
      );
      expect(await fails([...alice, "put", "b/x", "1"])).toBe(
        "Error: etcdserver: permission denied",
      );
      expect(await fails([...alice, "get", "--prefix", "a"])).toBe(
        "Error: etcdserver: permission denied",
      );
      expect(await fails(["--user", "bob:bobpw", "get", "a/x"])).toBe(
        "Error: etcdserver: permission denied",
      );
      expect(await fails(["get", "a/x"])).toBe("Error: etcdserver: user name is empty");
      // etcdctl exits 2 when it cannot even create its client (Authenticate failed).
      expect(await fails(["--user", "alice:wrong", "get", "a/x"], 2)).toBe(
        "Error: etcdserver: authentication failed, invalid user ID or password",
      );
      expect(await fails([...alice, "user", "list"])).toBe("Error: etcdserver: permission denied");
      expect(await fails([...alice, "auth", "disable"])).toBe(
        "Error: etcdserver: permission denied",
      );
    });

    it("root manages users and roles while auth is on", async () => {
      const root = ["--user", "root:rootpw"];
      expect(await ok([...root, "user", "list"])).toBe("alice\nbob\nroot\n");
      expect(await ok([...root, "role", "list"])).toBe("app\nroot\n");
      expect(await ok([...root, "user", "get", "alice"])).toBe("User: alice\nRoles: app\n");
      expect(await ok([...root, "role", "get", "app"])).toBe(
        "Role app\nKV Read:\n\t[a/, a0) (prefix a/)\n\tconfig\nKV Write:\n\t[a/, a0) (prefix a/)\n",
      );
      expect(await fails([...root, "user", "revoke-role", "root", "root"])).toBe(
        "Error: etcdserver: invalid auth management",
      );
      expect(await fails([...root, "user", "delete", "root"])).toBe(
        "Error: etcdserver: invalid auth management",
      );
      expect(await ok([...root, "role", "revoke-permission", "app", "config"])).toBe(
        "Permission of key config is revoked from role app\n",
      );
      expect(await fails(["--user", "alice:alicepw", "get", "config"])).toBe(
        "Error: etcdserver: permission denied",
      );
    });

    it("the etcd3 npm client authenticates with credentials", async () => {
      const hosts = cluster().endpoints;
      const alice = new Etcd3({ hosts, auth: { username: "alice", password: "alicepw" } });
      const bob = new Etcd3({ hosts, auth: { username: "bob", password: "bobpw" } });
      const wrong = new Etcd3({ hosts, auth: { username: "alice", password: "nope" } });
      try {
        await alice.put("a/npm").value("v");
        expect(await alice.get("a/npm").string()).toBe("v");
        await expect(alice.put("z").value("v")).rejects.toThrow(/permission denied/);
        await expect(bob.get("a/npm").string()).rejects.toThrow(/permission denied/);
        await expect(wrong.get("a/npm").string()).rejects.toThrow(/authentication failed/);
      } finally {
        alice.close();
        bob.close();
        wrong.close();
      }
    });

    it("auth disable returns to open access", async () => {
      expect(await ok(["--user", "root:rootpw", "auth", "disable"])).toBe(
        "Authentication Disabled\n",
      );
      expect(await ok(["get", "a/npm"])).toBe("a/npm\nv\n");
    });
  });
}
