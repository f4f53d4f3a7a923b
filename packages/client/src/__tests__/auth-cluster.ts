/** A one-member test cluster with auth on: users root and alice, alice holding one role. */
import { Client } from "../client.js";
import { TestCluster } from "./cluster.js";

export interface AliceRole {
  role: string;
  permission: "read" | "write" | "readwrite";
  prefix: string;
}

/**
 * Starts a one-member cluster (auth is cluster-wide, so each suite gets its own), adds
 * root/rootpw (role root) and alice/alicepw holding `role` on `prefix`, and enables auth.
 */
export async function startAuthCluster(alice: AliceRole): Promise<TestCluster> {
  const cluster = await TestCluster.start({ size: 1 });
  const admin = new Client({ endpoints: cluster.endpoints });
  try {
    await admin.auth.userAdd("root", "rootpw");
    await admin.auth.userGrantRole("root", "root");
    await admin.auth.roleAdd(alice.role);
    await admin.auth.roleGrantPermission(alice.role, alice.permission, { prefix: alice.prefix });
    await admin.auth.userAdd("alice", "alicepw");
    await admin.auth.userGrantRole("alice", alice.role);
    await admin.auth.enable();
  } catch (err) {
    await cluster.close();
    throw err;
  } finally {
    await admin.close();
  }
  return cluster;
}
