/**
 * vitest glue: one cluster per test file (or describe block), started in beforeAll,
 * closed in afterAll — also when tests fail — with the members' log tails printed for
 * every failed test.
 */
import { afterAll, beforeAll, beforeEach } from "vitest";
import { Cluster, type ClusterOptions } from "./cluster.js";

/** Starts a cluster before the tests of the enclosing suite; returns its accessor. */
export function useCluster(options: ClusterOptions): () => Cluster {
  let cluster: Cluster | undefined;
  beforeAll(async () => {
    cluster = await Cluster.start(options);
  }, 120_000);
  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => {
      if (cluster) process.stderr.write(cluster.logTails(20));
    });
  });
  afterAll(async () => {
    await cluster?.close();
  });
  return () => {
    if (!cluster) throw new Error("the cluster did not start (see beforeAll's error)");
    return cluster;
  };
}
