/**
 * deploy/kubernetes: every manifest is checked three ways —
 *  1. schema: kubernetes-models' validators (required fields, types, formats);
 *  2. unknown fields: the manifests become typed object literals (`const m: IStatefulSet =
 *     {...}`) that TypeScript compiles, so a misspelt or misplaced field is an excess
 *     property error at any depth (the schema validators let unknown fields through);
 *  3. intent: the properties the issue asks for (3 replicas, Parallel, ordinal DNS, probes,
 *     anti-affinity, PDB, ServiceMonitor) and that the pieces agree with each other.
 * yamllint runs over deploy/ in lint.test.ts.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { StatefulSet } from "kubernetes-models/apps/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { Service } from "kubernetes-models/v1";
import ts from "typescript";
import { beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { CONTRACT_FLAGS, filesUnder, REPO } from "./tools.js";

const BASE = "deploy/kubernetes/base";

/** Parsed YAML, walked by the intent checks (the schema checks are typed). */
// biome-ignore lint/suspicious/noExplicitAny: manifests are read as plain JSON trees
type Json = any;

interface Manifest {
  file: string;
  doc: Record<string, unknown> & { apiVersion: string; kind: string };
}

/** apiVersion/kind → the model's class (runtime validation) and interface (types). */
const MODELS: Record<string, { validate: (doc: object) => void; module: string; type: string }> = {
  "apps/v1/StatefulSet": {
    validate: (doc) => new StatefulSet(doc as never).validate(),
    module: "kubernetes-models/apps/v1",
    type: "IStatefulSet",
  },
  "v1/Service": {
    validate: (doc) => new Service(doc as never).validate(),
    module: "kubernetes-models/v1",
    type: "IService",
  },
  "policy/v1/PodDisruptionBudget": {
    validate: (doc) => new PodDisruptionBudget(doc as never).validate(),
    module: "kubernetes-models/policy/v1",
    type: "IPodDisruptionBudget",
  },
  "monitoring.coreos.com/v1/ServiceMonitor": {
    validate: (doc) => new ServiceMonitor(doc as never).validate(),
    module: "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
    type: "IServiceMonitor",
  },
};

function loadYaml(file: string): Record<string, unknown>[] {
  const docs = parseAllDocuments(readFileSync(join(REPO, file), "utf8"));
  return docs.map((d) => {
    if (d.errors.length > 0)
      throw new Error(`${file}: ${d.errors.map((e) => e.message).join("; ")}`);
    return d.toJS() as Record<string, unknown>;
  });
}

/** A TypeScript module declaring `manifests` as typed literals. */
function typedSource(manifests: Manifest[]): string {
  const imports = new Map<string, Set<string>>();
  const lines: string[] = [];
  manifests.forEach((m, i) => {
    const model = MODELS[`${m.doc.apiVersion}/${m.doc.kind}`];
    if (!imports.has(model.module)) imports.set(model.module, new Set());
    imports.get(model.module)!.add(model.type);
    lines.push(
      `// ${m.file}`,
      `export const m${i}: ${model.type} = ${JSON.stringify(m.doc, null, 2)};`,
    );
  });
  return [
    ...[...imports].map(
      ([mod, names]) => `import type { ${[...names].join(", ")} } from "${mod}";`,
    ),
    ...lines,
  ].join("\n");
}

/**
 * Type-checks each named set of manifests as its own module, all in one TypeScript program
 * (one load of the kubernetes-models types); returns the diagnostics per set.
 */
function typeCheck(sets: Record<string, Manifest[]>): Record<string, string[]> {
  const dir = join(REPO, ".vitest-tmp", `k8s-typecheck-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    const files = Object.entries(sets).map(([name, manifests]) => {
      const file = join(dir, `${name}.ts`);
      writeFileSync(file, typedSource(manifests));
      return file;
    });
    const program = ts.createProgram(files, {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      types: [],
    });
    const out: Record<string, string[]> = Object.fromEntries(Object.keys(sets).map((n) => [n, []]));
    for (const d of ts.getPreEmitDiagnostics(program)) {
      const text = ts.flattenDiagnosticMessageText(d.messageText, "\n");
      const name = d.file ? d.file.fileName.replace(`${dir}/`, "").replace(/\.ts$/, "") : "";
      const line =
        d.file && d.start !== undefined
          ? d.file.getLineAndCharacterOfPosition(d.start).line + 1
          : 0;
      (out[name] ?? (out[""] = [])).push(`${name}.ts:${line}: ${text}`);
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let manifests: Manifest[];
const byKind = (kind: string, name?: string) => {
  const found = manifests.filter(
    (m) =>
      m.doc.kind === kind &&
      (name === undefined || (m.doc.metadata as { name: string }).name === name),
  );
  expect(found, `${kind} ${name ?? ""}`).toHaveLength(1);
  return found[0].doc as Json;
};

beforeAll(() => {
  const kustomization = loadYaml(`${BASE}/kustomization.yaml`)[0] as { resources: string[] };
  manifests = kustomization.resources.flatMap((resource) =>
    loadYaml(`${BASE}/${resource}`).map((doc) => ({ file: resource, doc: doc as Manifest["doc"] })),
  );
});

describe("kustomize base", () => {
  it("lists every manifest of the directory, and only existing ones", () => {
    const kustomization = loadYaml(`${BASE}/kustomization.yaml`)[0] as Record<string, unknown>;
    expect(kustomization).toMatchObject({
      apiVersion: "kustomize.config.k8s.io/v1beta1",
      kind: "Kustomization",
    });
    const files = filesUnder(BASE, (n) => n.endsWith(".yaml") && n !== "kustomization.yaml").map(
      (f) => f.slice(BASE.length + 1),
    );
    expect([...(kustomization.resources as string[])].sort()).toEqual(files.sort());
    expect(Object.keys(kustomization).sort()).toEqual([
      "apiVersion",
      "images",
      "kind",
      "resources",
    ]);
  });
});

describe("schemas", () => {
  it("every manifest is a known kind that passes its schema", () => {
    expect(manifests.map((m) => `${m.doc.apiVersion}/${m.doc.kind}`).sort()).toEqual(
      [
        "apps/v1/StatefulSet",
        "monitoring.coreos.com/v1/ServiceMonitor",
        "policy/v1/PodDisruptionBudget",
        "v1/Service",
        "v1/Service",
      ].sort(),
    );
    for (const m of manifests) {
      const model = MODELS[`${m.doc.apiVersion}/${m.doc.kind}`];
      expect(() => model.validate(m.doc), m.file).not.toThrow();
    }
  });

  it("the schema check is live: a wrong type fails", () => {
    const sts = structuredClone(byKind("StatefulSet"));
    sts.spec.replicas = "three";
    expect(() => MODELS["apps/v1/StatefulSet"].validate(sts)).toThrow(/replicas/);
  });

  let diagnostics: Record<string, string[]>;
  beforeAll(() => {
    // The manifests, and one StatefulSet with a misplaced field (the check must catch it).
    const sts = structuredClone(byKind("StatefulSet"));
    sts.spec.template.spec.containers[0].readinessProbe.httpGet.paht = "/readyz";
    diagnostics = typeCheck({
      manifests,
      broken: [{ file: "broken.yaml", doc: sts as Manifest["doc"] }],
    });
  }, 60_000);

  it("no unknown fields anywhere (typed literals compile)", () => {
    expect(diagnostics.manifests).toEqual([]);
    expect(diagnostics[""]).toBeUndefined();
  });

  it("the unknown-field check is live: a misplaced field fails to compile", () => {
    const errors = diagnostics.broken;
    expect(errors.join("\n")).toMatch(/'"paht"' does not exist in type 'IHTTPGetAction'/);
    expect(errors).toHaveLength(1);
  });
});

describe("the cluster the manifests describe", () => {
  it("a StatefulSet of 3, started in parallel, behind the headless Service", () => {
    const sts = byKind("StatefulSet", "chainfire");
    expect(sts.spec).toMatchObject({
      replicas: 3,
      podManagementPolicy: "Parallel",
      serviceName: "chainfire-peer",
    });
    const peer = byKind("Service", "chainfire-peer");
    expect(peer.spec).toMatchObject({ clusterIP: "None", publishNotReadyAddresses: true });
    expect(sts.spec.selector.matchLabels).toEqual(peer.spec.selector);
    expect(sts.spec.template.metadata.labels).toMatchObject(sts.spec.selector.matchLabels);
  });

  it("--initial-cluster names every ordinal at its DNS name under the headless Service", () => {
    const sts = byKind("StatefulSet", "chainfire");
    const env = envOf(sts.spec.template.spec.containers[0]);
    const expected = Array.from(
      { length: sts.spec.replicas },
      (_, i) =>
        `${sts.metadata.name}-${i}=http://${sts.metadata.name}-${i}.${sts.spec.serviceName}.$(POD_NAMESPACE).svc:2380`,
    ).join(",");
    expect(env.CHAINFIRE_INITIAL_CLUSTER).toBe(expected);
    expect(env.CHAINFIRE_NAME).toBe("$(POD_NAME)");
    expect(env.CHAINFIRE_INITIAL_ADVERTISE_PEER_URLS).toBe(
      `http://$(POD_NAME).${sts.spec.serviceName}.$(POD_NAMESPACE).svc:2380`,
    );
    expect(env.CHAINFIRE_INITIAL_CLUSTER_STATE).toBe("new");
    expect(env.CHAINFIRE_LISTEN_METRICS_URLS).toBe("http://0.0.0.0:2381");
    // $(VAR) only expands variables defined earlier in the list.
    const names = sts.spec.template.spec.containers[0].env.map((e: { name: string }) => e.name);
    expect(names.indexOf("POD_NAME")).toBeLessThan(names.indexOf("CHAINFIRE_NAME"));
    expect(names.indexOf("POD_NAMESPACE")).toBeLessThan(names.indexOf("CHAINFIRE_INITIAL_CLUSTER"));
  });

  it("every CHAINFIRE_ variable names a flag the member has (it warns about others)", () => {
    const spec = byKind("StatefulSet", "chainfire").spec.template.spec;
    for (const container of [...spec.initContainers, ...spec.containers]) {
      for (const { name } of container.env as { name: string }[]) {
        if (!name.startsWith("CHAINFIRE_")) continue;
        const flag = name.slice("CHAINFIRE_".length).toLowerCase().replaceAll("_", "-");
        expect(CONTRACT_FLAGS, `${container.name}: ${name}`).toContain(flag);
      }
    }
  });

  it("the join init container decides the state from the same identity, for the member", () => {
    const spec = byKind("StatefulSet", "chainfire").spec.template.spec;
    const [init] = spec.initContainers;
    const main = spec.containers[0];
    const initEnv = envOf(init);
    const mainEnv = envOf(main);
    for (const key of [
      "CHAINFIRE_NAME",
      "CHAINFIRE_DATA_DIR",
      "CHAINFIRE_INITIAL_ADVERTISE_PEER_URLS",
    ]) {
      expect(initEnv[key], key).toBe(mainEnv[key]);
    }
    expect(init.command).toEqual(["/bin/bash", "/usr/local/lib/chainfire/chainfire-join.sh"]);
    expect(mainEnv.JOIN_ENV_FILE).toBe(initEnv.JOIN_ENV_FILE);
    const mountOf = (c: Json, name: string) =>
      c.volumeMounts.find((v: { name: string }) => v.name === name)?.mountPath;
    expect(mountOf(init, "data")).toBe(initEnv.CHAINFIRE_DATA_DIR);
    expect(mountOf(main, "data")).toBe(mainEnv.CHAINFIRE_DATA_DIR);
    expect(`${mountOf(init, "join")}/env`).toBe(initEnv.JOIN_ENV_FILE);
    expect(`${mountOf(main, "join")}/env`).toBe(initEnv.JOIN_ENV_FILE);
  });

  it("HTTP probes on /readyz and /livez of the metrics port; requests; anti-affinity", () => {
    const sts = byKind("StatefulSet", "chainfire");
    const pod = sts.spec.template.spec;
    const [c] = pod.containers;
    expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "metrics" });
    expect(c.livenessProbe.httpGet).toEqual({ path: "/livez", port: "metrics" });
    expect(
      c.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]),
    ).toEqual([
      ["client", 2379],
      ["peer", 2380],
      ["metrics", 2381],
    ]);
    expect(c.resources.requests).toMatchObject({
      cpu: expect.any(String),
      memory: expect.any(String),
    });
    const anti = pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution;
    expect(anti).toEqual([
      {
        topologyKey: "kubernetes.io/hostname",
        labelSelector: { matchLabels: sts.spec.selector.matchLabels },
      },
    ]);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
  });

  it("one volume claim per member, mounted at the data dir", () => {
    const sts = byKind("StatefulSet", "chainfire");
    expect(sts.spec.volumeClaimTemplates.map((v: Json) => v.metadata.name)).toEqual(["data"]);
    expect(sts.spec.volumeClaimTemplates[0].spec.accessModes).toEqual(["ReadWriteOnce"]);
  });

  it("the client Service and ServiceMonitor reach the client and metrics ports", () => {
    const sts = byKind("StatefulSet", "chainfire");
    const client = byKind("Service", "chainfire");
    expect(client.spec.selector).toEqual(sts.spec.selector.matchLabels);
    expect(client.spec.ports.map((p: { name: string; port: number }) => [p.name, p.port])).toEqual([
      ["client", 2379],
      ["metrics", 2381],
    ]);
    const monitor = byKind("ServiceMonitor", "chainfire");
    expect(client.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
    const peer = byKind("Service", "chainfire-peer");
    expect(peer.metadata.labels).not.toMatchObject(monitor.spec.selector.matchLabels);
    expect(monitor.spec.endpoints).toEqual([
      expect.objectContaining({ port: "metrics", path: "/metrics" }),
    ]);
    // The join step asks the client Service for the member list.
    expect(envOf(sts.spec.template.spec.initContainers[0]).JOIN_ENDPOINTS).toBe(
      `http://${client.metadata.name}.$(POD_NAMESPACE).svc:2379`,
    );
  });

  it("a PodDisruptionBudget lets one member go at a time", () => {
    const pdb = byKind("PodDisruptionBudget", "chainfire");
    expect(pdb.spec).toEqual({
      maxUnavailable: 1,
      selector: { matchLabels: byKind("StatefulSet").spec.selector.matchLabels },
    });
  });
});

function envOf(container: { env: { name: string; value?: string }[] }): Record<string, string> {
  return Object.fromEntries(
    container.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]),
  );
}
