/**
 * Optional: a three-member cluster from the container image (deploy/Dockerfile), started
 * with testcontainers, and the compatibility smoke test (etcdctl 3.4 from the host)
 * against it. Where no container runtime exists (CI, this project's VMs) the suite is
 * skipped, and says why; CHAINFIRE_CONTAINER_TESTS=1 turns every skip into a failure.
 *
 * Run it (docs/operations.md, "Container image"):
 *   docker build -f deploy/Dockerfile -t localhost/chainfire:dev .    # or deploy/podman/build-image.sh
 *   CHAINFIRE_CONTAINER_TESTS=1 npx vitest run test/deploy/containers
 * With podman (and iptables, for its networks): CONTAINERS_CONF=deploy/podman/containers.conf
 *   podman system service --time=0 unix:///tmp/podman.sock &, then
 *   DOCKER_HOST=unix:///tmp/podman.sock TESTCONTAINERS_RYUK_DISABLED=true \
 *   TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 CHAINFIRE_CONTAINER_TESTS=1 npx vitest run test/deploy/containers
 * CHAINFIRE_IMAGE picks another image (default localhost/chainfire:dev).
 */
import {
  GenericContainer,
  getContainerRuntimeClient,
  ImageName,
  Network,
  PullPolicy,
  type StartedNetwork,
  type StartedTestContainer,
  Wait,
} from "testcontainers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { etcdctl, parseJsonBig } from "../../compat/etcdctl.js";

const IMAGE = process.env.CHAINFIRE_IMAGE ?? "localhost/chainfire:dev";
const REQUIRED = process.env.CHAINFIRE_CONTAINER_TESTS === "1";
const NAMES = ["m0", "m1", "m2"];

/** Why the suite cannot run here, or undefined when it can. */
async function unavailable(): Promise<string | undefined> {
  let client: Awaited<ReturnType<typeof getContainerRuntimeClient>>;
  try {
    client = await getContainerRuntimeClient();
  } catch (error) {
    return `no container runtime (${(error as Error).message})`;
  }
  if (!(await client.image.exists(ImageName.fromString(IMAGE)))) {
    return `image ${IMAGE} not built: docker build -f deploy/Dockerfile -t ${IMAGE} . (or deploy/podman/build-image.sh)`;
  }
  return undefined;
}

const reason = await unavailable();
if (reason && REQUIRED) throw new Error(`CHAINFIRE_CONTAINER_TESTS=1 but ${reason}`);
if (reason) console.warn(`test/deploy/containers skipped: ${reason}`);

describe.skipIf(reason !== undefined)(
  `three members from ${IMAGE}${reason ? ` (skipped: ${reason})` : ""}`,
  () => {
    let network: StartedNetwork;
    const members: StartedTestContainer[] = [];
    const endpoints = () => members.map((m) => `${m.getHost()}:${m.getMappedPort(2379)}`);

    beforeAll(async () => {
      network = await new Network().start();
      const initialCluster = NAMES.map((n) => `${n}=http://${n}:2380`).join(",");
      const started = await Promise.all(
        NAMES.map((name) =>
          new GenericContainer(IMAGE)
            .withPullPolicy(PullPolicy.defaultPolicy())
            .withNetwork(network)
            .withNetworkAliases(name)
            .withEnvironment({
              CHAINFIRE_NAME: name,
              CHAINFIRE_ADVERTISE_CLIENT_URLS: `http://${name}:2379`,
              CHAINFIRE_INITIAL_ADVERTISE_PEER_URLS: `http://${name}:2380`,
              CHAINFIRE_INITIAL_CLUSTER: initialCluster,
              CHAINFIRE_INITIAL_CLUSTER_STATE: "new",
              CHAINFIRE_INITIAL_CLUSTER_TOKEN: "chainfire-containers",
            })
            // All three: podman lists every EXPOSEd port, and testcontainers waits for each.
            .withExposedPorts(2379, 2380, 2381)
            .withWaitStrategy(Wait.forHttp("/health", 2381).forStatusCode(200))
            .withStartupTimeout(120_000)
            .start(),
        ),
      );
      members.push(...started);
    }, 180_000);

    afterAll(async () => {
      await Promise.all(members.map((m) => m.stop({ timeout: 30_000 })));
      await network?.stop();
    }, 120_000);

    it("etcdctl put and get through any member", async () => {
      const put = await etcdctl(endpoints().slice(0, 1), ["put", "smoke/a", "hello"]);
      expect({ code: put.code, stdout: put.stdout }).toEqual({ code: 0, stdout: "OK\n" });
      for (const endpoint of endpoints()) {
        const get = await etcdctl([endpoint], ["get", "smoke/a"]);
        expect(get.stdout).toBe("smoke/a\nhello\n");
      }
    });

    it("member list names the three members, all started", async () => {
      const list = await etcdctl(endpoints(), ["member", "list", "-w", "simple"]);
      expect(list.code).toBe(0);
      const rows = list.stdout
        .trim()
        .split("\n")
        .map((line) => line.split(", "));
      expect(rows.map((r) => [r[1], r[2], r[3]]).sort()).toEqual(
        NAMES.map((n) => ["started", n, `http://${n}:2380`]),
      );
    });

    it("endpoint health and status: one leader for all", async () => {
      const health = await etcdctl(endpoints(), ["endpoint", "health"]);
      expect(health.code).toBe(0);
      const status = await etcdctl(endpoints(), ["endpoint", "status", "-w", "json"]);
      const statuses = parseJsonBig(status.stdout) as { Status: { leader: string | number } }[];
      expect(statuses).toHaveLength(3);
      expect(new Set(statuses.map((s) => String(s.Status.leader))).size).toBe(1);
    });

    it("metrics carry the etcd names", async () => {
      const m = members[0];
      const text = await (
        await fetch(`http://${m.getHost()}:${m.getMappedPort(2381)}/metrics`)
      ).text();
      expect(text).toMatch(/^etcd_server_has_leader 1$/m);
    });

    it("keeps serving with one member stopped (SIGTERM)", async () => {
      const stopped = members.pop()!;
      await stopped.stop({ timeout: 30_000 });
      const put = await etcdctl(endpoints(), ["put", "smoke/b", "still"]);
      expect(put.code).toBe(0);
      const get = await etcdctl(endpoints(), ["get", "smoke/b", "--print-value-only"]);
      expect(get.stdout).toBe("still\n");
    });
  },
);
