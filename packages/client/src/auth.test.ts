import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAuthCluster } from "./__tests__/auth-cluster.js";
import { IS_ETCD_34, type TestCluster, targetUnavailable } from "./__tests__/cluster.js";
import { Client } from "./client.js";
import { AuthFailedError, InvalidArgumentError, PermissionDeniedError } from "./errors.js";

const skip = targetUnavailable();

describe.skipIf(skip !== undefined)("authentication against a live member", () => {
  let cluster: TestCluster;
  let root: Client;
  let alice: Client;

  beforeAll(async () => {
    cluster = await startAuthCluster({ role: "reader", permission: "read", prefix: "pub/" });
    root = new Client({
      endpoints: cluster.endpoints,
      auth: { username: "root", password: "rootpw" },
    });
    alice = new Client({
      endpoints: cluster.endpoints,
      auth: { username: "alice", password: "alicepw" },
    });
  });

  afterAll(async () => {
    await alice?.close();
    await root?.close();
    await cluster?.close();
  });

  it("uses the token of the configured user; permissions are enforced with typed errors", async () => {
    await root.put("pub/a", "public");
    await root.put("secret/x", "hidden");
    expect(await alice.getString("pub/a")).toBe("public");
    await expect(alice.get("secret/x")).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(alice.put("pub/a", "nope")).rejects.toThrow("etcdserver: permission denied");
    await expect(alice.watch({ prefix: "secret/" })).rejects.toBeInstanceOf(PermissionDeniedError);
    const w = await alice.watch({ prefix: "pub/" });
    await root.put("pub/b", "2");
    for await (const e of w) {
      expect(e.kv.string()).toBe("2");
      break;
    }
  });

  it("refuses wrong passwords and missing credentials", async () => {
    const wrong = new Client({
      endpoints: cluster.endpoints,
      auth: { username: "alice", password: "bad" },
    });
    const anonymous = new Client({ endpoints: cluster.endpoints });
    try {
      const err = await wrong.get("pub/a").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthFailedError);
      expect((err as Error).message).toBe(
        "etcdserver: authentication failed, invalid user ID or password",
      );
      await expect(anonymous.get("pub/a")).rejects.toBeInstanceOf(InvalidArgumentError); // user name is empty
    } finally {
      await wrong.close();
      await anonymous.close();
    }
  });

  it("manages users and roles", async () => {
    expect((await root.auth.userList()).sort()).toEqual(["alice", "root"]);
    expect(await root.auth.userGet("alice")).toEqual(["reader"]);
    expect(await root.auth.roleList()).toContain("reader");
    const perms = await root.auth.roleGet("reader");
    expect(perms).toHaveLength(1);
    expect(perms[0].type).toBe("read");
    expect(perms[0].key.toString()).toBe("pub/");
    await root.auth.userAdd("bob", "bobpw");
    await root.auth.userChangePassword("bob", "bobpw2");
    await root.auth.userGrantRole("bob", "reader");
    await root.auth.userRevokeRole("bob", "reader");
    await root.auth.userDelete("bob");
    await root.auth.roleAdd("temp");
    await root.auth.roleGrantPermission("temp", "readwrite", "k");
    await root.auth.roleRevokePermission("temp", "k");
    await root.auth.roleDelete("temp");
    expect((await root.auth.userList()).sort()).toEqual(["alice", "root"]);
  });

  it("re-authenticates when the member forgot the token (member restarted)", async () => {
    expect(await alice.getString("pub/a")).toBe("public");
    await cluster.restart(0); // etcd's simple tokens live in memory only
    expect(await alice.getString("pub/a")).toBe("public");
  });

  it.skipIf(IS_ETCD_34)("reports auth status (AuthStatus: etcd 3.5+, not in 3.4)", async () => {
    expect((await root.auth.status()).enabled).toBe(true);
  });
});
