/**
 * The cluster workloads, after etcd's own benchmark tool (tools/benchmark) and the
 * figures in shared/notes/performance.md: 8-byte distinct keys, 256-byte values.
 */

/** What one request does. */
export type Operation = "put" | "range-linearizable" | "range-serializable";

/** Where connections go. */
export type Placement = "leader" | "all";

export interface Workload {
  name: string;
  operation: Operation;
  clients: number;
  connections: number;
  placement: Placement;
  description: string;
}

export const WORKLOADS: readonly Workload[] = [
  {
    name: "put-1",
    operation: "put",
    clients: 1,
    connections: 1,
    placement: "leader",
    description: "put, 1 client, 1 connection, to the leader",
  },
  {
    name: "put-100",
    operation: "put",
    clients: 100,
    connections: 10,
    placement: "leader",
    description: "put, 100 clients, 10 connections, to the leader",
  },
  {
    name: "put-1000",
    operation: "put",
    clients: 1000,
    connections: 100,
    placement: "leader",
    description: "put, 1000 clients, 100 connections, to the leader",
  },
  {
    // As `etcdctl check perf` drives its load: one connection per client.
    name: "put-1000-conns",
    operation: "put",
    clients: 1000,
    connections: 1000,
    placement: "leader",
    description: "put, 1000 clients, 1000 connections (one each), to the leader",
  },
  {
    name: "put-1000-all",
    operation: "put",
    clients: 1000,
    connections: 100,
    placement: "all",
    description: "put, 1000 clients, 100 connections, spread over all members",
  },
  {
    name: "range-l-100",
    operation: "range-linearizable",
    clients: 100,
    connections: 10,
    placement: "all",
    description: "linearizable range of one key, 100 clients, 10 connections, all members",
  },
  {
    name: "range-s-100",
    operation: "range-serializable",
    clients: 100,
    connections: 10,
    placement: "all",
    description: "serializable range of one key, 100 clients, 10 connections, all members",
  },
];

/** The workloads named in `names` (comma list), or all. */
export function selectWorkloads(names: string | undefined): Workload[] {
  if (!names) return [...WORKLOADS];
  return names.split(",").map((name) => {
    const workload = WORKLOADS.find((w) => w.name === name.trim());
    if (!workload) {
      const known = WORKLOADS.map((w) => w.name).join(", ");
      throw new Error(`unknown workload ${JSON.stringify(name)} (known: ${known})`);
    }
    return workload;
  });
}
