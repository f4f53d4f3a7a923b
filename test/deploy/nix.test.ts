/**
 * nix/: every file parses; the disko layouts and the cluster table evaluate on their own;
 * the NixOS modules and the three hosts evaluate with our stub lib
 * (test/deploy/nix/stub-lib.nix, a small evalModules of our own; eval.nix runs it over
 * stubbed NixOS options), so option types, unknown options and the hosts' agreement on one
 * cluster are checked without nixpkgs.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { CONTRACT_FLAGS, filesUnder, nixEnv, requireTool, run } from "./tools.js";

const HOSTS = ["node01", "node02", "node03"] as const;
/** The disk each host's disko.nix must lay out. */
const HOST_DISKS: Record<(typeof HOSTS)[number], string> = {
  node01: "/dev/nvme0n1",
  node02: "/dev/nvme0n1",
  node03: "/dev/sda",
};
const DATA_DIR = "/var/lib/chainfire";
const SSH_KEY_ASSERTION = /SSH public key/;

interface Unit {
  script: string;
  after: string[];
  before: string[];
  requires: string[];
  wantedBy: string[];
  environment: Record<string, string>;
  serviceConfig: Record<string, unknown>;
  unitConfig: Record<string, unknown>;
}
interface HostSummary {
  hostName: string;
  failedAssertions: string[];
  chainfire: Unit | null;
  join: Unit | null;
  formatDisks: Unit | null;
  firewallTCP: number[];
  users: Record<string, { isSystemUser: boolean; group: string }>;
  rootKeys: string[];
  ssh: { enable: boolean; settings: Record<string, unknown> };
  networks: Record<string, { address: string[]; matchConfig: { MACAddress: string } }>;
  disko: DiskoDevices;
}
interface DiskoDevices {
  disk: Record<
    string,
    {
      device: string;
      content: {
        type: string;
        partitions: Record<
          string,
          { size: string; type?: string; content: { format: string; mountpoint: string } }
        >;
      };
    }
  >;
}
interface OptionInfo {
  type: string;
  default: unknown;
  hasDefault: boolean;
}

function evalJson<T>(args: string[]): T {
  const result = run("nix-instantiate", ["--eval", "--strict", "--json", ...args], {
    env: nixEnv(),
  });
  if (result.code !== 0) throw new Error(`nix-instantiate ${args.join(" ")}:\n${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

/** Evaluates eval.nix's `custom` system with `extra` as one more module; returns stderr on failure. */
function evalCustom(
  extra: string,
): { ok: true; value: HostSummary } | { ok: false; error: string } {
  const result = run(
    "nix-instantiate",
    [
      "--eval",
      "--strict",
      "--json",
      "test/deploy/nix/eval.nix",
      "--arg",
      "extra",
      extra,
      "-A",
      "custom",
    ],
    { env: nixEnv() },
  );
  if (result.code !== 0) return { ok: false, error: result.stderr };
  return { ok: true, value: JSON.parse(result.stdout) as HostSummary };
}

beforeAll(() => requireTool("nix-instantiate"));

describe("nix files parse", () => {
  const files = [
    ...filesUnder("nix", (name) => name.endsWith(".nix")),
    ...filesUnder("test/deploy/nix", (name) => name.endsWith(".nix")),
  ];

  it("finds the files the issue asks for", () => {
    for (const f of [
      "nix/flake.nix",
      "nix/package.nix",
      "nix/netboot-base.nix",
      "nix/modules/chainfire.nix",
      "nix/modules/first-boot.nix",
      ...HOSTS.flatMap((h) => [`nix/hosts/${h}/configuration.nix`, `nix/hosts/${h}/disko.nix`]),
    ]) {
      expect(files).toContain(f);
    }
  });

  it.each(files)("%s", (file) => {
    const result = run("nix-instantiate", ["--parse", file], { env: nixEnv() });
    expect(result.stderr.replace(/^warning: .*\n/gm, "")).toBe("");
    expect(result.code).toBe(0);
  });

  it("rejects an undefined name (the check is live)", () => {
    const dir = mkdtempSync(join(tmpdir(), "cf-nix-"));
    try {
      const file = join(dir, "bad.nix");
      writeFileSync(file, "{ lib, ... }: let inherit (lib) mkIf; in mkIff true { }\n");
      const result = run("nix-instantiate", ["--parse", file], { env: nixEnv() });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain("undefined variable 'mkIff'");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("modules use `inherit (lib) ...`, never `with lib;` (so parsing checks names)", () => {
    for (const file of files) {
      const text = run("cat", [file]).stdout;
      expect(text, file).not.toMatch(/^\s*with lib;/m);
    }
  });

  it("every lib name and type the evaluated files use is one the stub lib defines", () => {
    // Evaluation is lazy: a misspelt name in a branch nothing forces (a defaultText, an
    // unused helper) would pass unnoticed. The stub defines only nixpkgs names, so a name
    // missing here is a typo or a nixpkgs helper the stub still lacks.
    const stub = evalJson<{ lib: string[]; types: string[] }>([
      "--expr",
      "let lib = import ./test/deploy/nix/stub-lib.nix; in { lib = builtins.attrNames lib; types = builtins.attrNames lib.types; }",
    ]);
    const evaluated = files.filter(
      (f) => f.startsWith("nix/") && f !== "nix/package.nix", // package.nix: only under nixpkgs
    );
    const used = { lib: new Set<string>(), types: new Set<string>() };
    for (const file of evaluated) {
      const text = run("cat", [file]).stdout.replace(/#.*$/gm, "");
      for (const [, names] of text.matchAll(/inherit \(lib\)([^;]*);/g))
        for (const name of names.split(/\s+/).filter(Boolean)) used.lib.add(name);
      for (const [, name] of text.matchAll(/\blib\.([A-Za-z_][A-Za-z0-9_']*)/g)) used.lib.add(name);
      for (const [, name] of text.matchAll(/\btypes\.([A-Za-z_][A-Za-z0-9_']*)/g))
        used.types.add(name);
    }
    used.lib.delete("nixosSystem"); // flake.nix: eval.nix stands in for it
    expect(used.lib.size).toBeGreaterThan(20);
    expect([...used.lib].filter((n) => !stub.lib.includes(n))).toEqual([]);
    expect([...used.types].filter((n) => !stub.types.includes(n))).toEqual([]);
  });
});

describe("disko layouts", () => {
  it.each(HOSTS)("%s: one GPT disk with the data partition", (host) => {
    const layout = evalJson<{ disko: { devices: DiskoDevices } }>([`nix/hosts/${host}/disko.nix`]);
    const disks = Object.values(layout.disko.devices.disk);
    expect(disks.map((d) => d.device)).toEqual([HOST_DISKS[host]]);
    const [disk] = disks;
    expect(disk.content.type).toBe("gpt");
    const mounts = Object.values(disk.content.partitions).map((p) => p.content.mountpoint);
    expect(mounts).toEqual([DATA_DIR]);
    expect(disk.content.partitions.chainfire).toMatchObject({
      size: "100%",
      content: { type: "filesystem", format: "ext4" },
    });
  });
});

describe("the three hosts (evalModules of the stub lib)", () => {
  let hosts: Record<string, HostSummary>;
  let installed: Record<string, HostSummary>;
  beforeAll(() => {
    hosts = evalJson(["test/deploy/nix/eval.nix", "-A", "hosts"]);
    installed = evalJson(["test/deploy/nix/eval.nix", "-A", "installed"]);
  });

  it("are node01..node03, each with its own hostname and member name", () => {
    expect(Object.keys(hosts).sort()).toEqual([...HOSTS]);
    for (const host of HOSTS) {
      expect(hosts[host].hostName).toBe(host);
      expect(hosts[host].chainfire?.environment.CHAINFIRE_NAME).toBe(host);
    }
  });

  it("agree on one initial cluster and token, which names each host at its own peer URL", () => {
    const env = HOSTS.map((h) => hosts[h].chainfire!.environment);
    const clusters = env.map((e) => e.CHAINFIRE_INITIAL_CLUSTER);
    expect(new Set(clusters).size).toBe(1);
    expect(new Set(env.map((e) => e.CHAINFIRE_INITIAL_CLUSTER_TOKEN)).size).toBe(1);
    const entries = clusters[0].split(",").map((entry) => entry.split("="));
    expect(entries.map(([name]) => name)).toEqual([...HOSTS]);
    const peerUrls = new Map(entries.map(([name, url]) => [name, url]));
    expect(new Set(peerUrls.values()).size).toBe(HOSTS.length);
    for (const [i, host] of HOSTS.entries()) {
      expect(env[i].CHAINFIRE_INITIAL_ADVERTISE_PEER_URLS).toBe(peerUrls.get(host));
      expect(env[i].CHAINFIRE_INITIAL_CLUSTER_STATE).toBe("new");
    }
  });

  it("advertise the static address of their cluster NIC", () => {
    const macs = new Set<string>();
    for (const host of HOSTS) {
      const net = hosts[host].networks["10-cluster"];
      expect(net.address).toHaveLength(1);
      const address = net.address[0].split("/")[0];
      const env = hosts[host].chainfire!.environment;
      expect(env.CHAINFIRE_INITIAL_ADVERTISE_PEER_URLS).toBe(`http://${address}:2380`);
      expect(env.CHAINFIRE_ADVERTISE_CLIENT_URLS).toBe(`http://${address}:2379`);
      macs.add(net.matchConfig.MACAddress);
    }
    expect(macs.size).toBe(HOSTS.length);
  });

  it("join through the other two members' advertised client URLs", () => {
    for (const host of HOSTS) {
      const others = HOSTS.filter((h) => h !== host).map(
        (h) => hosts[h].chainfire!.environment.CHAINFIRE_ADVERTISE_CLIENT_URLS,
      );
      expect(hosts[host].join?.environment.JOIN_ENDPOINTS).toBe(others.join(","));
    }
  });

  it("order first boot: format disks, then join, then the member", () => {
    for (const host of HOSTS) {
      const h = hosts[host];
      expect(h.formatDisks?.serviceConfig.ExecStart).toMatch(
        new RegExp(`format-if-blank\\.sh \\S+disko-format ${HOST_DISKS[host]}$`),
      );
      expect(h.formatDisks?.before).toContain("local-fs-pre.target");
      expect(h.join?.before).toContain("chainfire.service");
      expect(h.join?.script).toMatch(/until \S+\/bin\/bash \S+-chainfire-join\.sh; do/);
      expect(h.join?.serviceConfig).toMatchObject({ Type: "oneshot", TimeoutStartSec: "infinity" });
      expect(h.join?.unitConfig.RequiresMountsFor).toEqual([DATA_DIR]);
      expect(h.chainfire?.requires).toContain("chainfire-join.service");
      expect(h.chainfire?.after).toContain("chainfire-join.service");
      expect(h.chainfire?.serviceConfig.EnvironmentFile).toBe("-/run/chainfire-join/env");
      expect(h.chainfire?.unitConfig.RequiresMountsFor).toEqual([DATA_DIR]);
    }
  });

  it("accept SSH keys only, and refuse to build without one", () => {
    for (const host of HOSTS) {
      const h = hosts[host];
      expect(h.ssh.enable).toBe(true);
      expect(h.ssh.settings).toMatchObject({
        PasswordAuthentication: false,
        KbdInteractiveAuthentication: false,
        PermitRootLogin: "prohibit-password",
      });
      const failed = h.failedAssertions;
      if (h.rootKeys.length === 0)
        expect(failed).toEqual([expect.stringMatching(SSH_KEY_ASSERTION)]);
      else expect(failed).toEqual([]);
    }
  });

  it("open the client, peer and metrics ports", () => {
    for (const host of HOSTS) expect(hosts[host].firewallTCP).toEqual([2379, 2380, 2381]);
  });

  it("installed variants put ESP and root in front of the same data partition", () => {
    for (const host of HOSTS) {
      const disk = installed[host].disko.disk.data;
      expect(disk.device).toBe(HOST_DISKS[host]);
      const parts = disk.content.partitions;
      expect(Object.keys(parts).sort()).toEqual(["ESP", "chainfire", "root"]);
      expect(parts.ESP).toMatchObject({ type: "EF00", content: { mountpoint: "/boot" } });
      expect(parts.root.content.mountpoint).toBe("/");
      expect(parts.chainfire).toMatchObject({ size: "100%", content: { mountpoint: DATA_DIR } });
    }
  });
});

describe("services.chainfire (nixpkgs' etcd module conventions)", () => {
  let options: Record<string, OptionInfo> & {
    firstBoot: { formatDisks: OptionInfo; join: Record<string, OptionInfo> };
  };
  beforeAll(() => {
    options = evalJson(["test/deploy/nix/eval.nix", "-A", "options"]);
  });

  it("has etcd's option names, plus listenMetricsUrls and firstBoot", () => {
    expect(Object.keys(options).sort()).toEqual(
      [
        "enable",
        "package",
        "name",
        "dataDir",
        "listenClientUrls",
        "advertiseClientUrls",
        "listenPeerUrls",
        "initialAdvertisePeerUrls",
        "listenMetricsUrls",
        "initialCluster",
        "initialClusterState",
        "initialClusterToken",
        "certFile",
        "keyFile",
        "trustedCaFile",
        "clientCertAuth",
        "peerCertFile",
        "peerKeyFile",
        "peerTrustedCaFile",
        "peerClientCertAuth",
        "autoTls",
        "peerAutoTls",
        "peerCertAllowedCn",
        "extraConf",
        "openFirewall",
        "firstBoot",
      ].sort(),
    );
    expect(Object.keys(options.firstBoot.join).sort()).toEqual(
      ["enable", "endpoints", "etcdctlPackage", "caFile", "certFile", "keyFile"].sort(),
    );
  });

  it("types and defaults follow the etcd module", () => {
    const shape = Object.fromEntries(
      Object.entries(options)
        .filter(([name]) => name !== "firstBoot")
        .map(([name, o]) => [name, [(o as OptionInfo).type, (o as OptionInfo).default]]),
    );
    expect(shape).toMatchObject({
      enable: ["boolean", false],
      name: ["string", "m1"],
      dataDir: ["absolute path", DATA_DIR],
      listenClientUrls: ["list of string", ["http://127.0.0.1:2379"]],
      advertiseClientUrls: ["list of string", ["http://127.0.0.1:2379"]],
      listenPeerUrls: ["list of string", ["http://127.0.0.1:2380"]],
      initialAdvertisePeerUrls: ["list of string", ["http://127.0.0.1:2380"]],
      initialCluster: ["list of string", ["m1=http://127.0.0.1:2380"]],
      initialClusterState: ['one of "new", "existing"', "new"],
      initialClusterToken: ["string", "chainfire-cluster"],
      certFile: ["null or absolute path", null],
      clientCertAuth: ["boolean", false],
      peerClientCertAuth: ["boolean", false],
      autoTls: ["boolean", false],
      peerAutoTls: ["boolean", false],
      peerCertAllowedCn: ["null or string", null],
      extraConf: ["attribute set of string", {}],
      openFirewall: ["boolean", false],
    });
    expect(options.package.type).toBe("package");
  });

  it("renders every setting as CHAINFIRE_<FLAG> of a flag the member has", () => {
    const custom = evalCustom(
      `{ services.chainfire = { enable = true; certFile = "/etc/cf/server.pem"; keyFile = "/etc/cf/server-key.pem"; trustedCaFile = "/etc/cf/ca.pem"; clientCertAuth = true; extraConf = { SNAPSHOT_COUNT = "5000"; HEARTBEAT_INTERVAL = "100"; }; }; }`,
    );
    if (!custom.ok) throw new Error(custom.error);
    const env = custom.value.chainfire!.environment;
    // glibc malloc tuning (docs/operations.md, "Memory"): process settings, not flags.
    expect(env).toMatchObject({ MALLOC_ARENA_MAX: "2", MALLOC_MMAP_THRESHOLD_: "131072" });
    for (const key of Object.keys(env)) {
      if (key.startsWith("MALLOC_")) continue;
      expect(key).toMatch(/^CHAINFIRE_[A-Z_]+$/);
      const flag = key.slice("CHAINFIRE_".length).toLowerCase().replaceAll("_", "-");
      expect(CONTRACT_FLAGS, `${key} → --${flag}`).toContain(flag);
    }
    expect(env).toMatchObject({
      CHAINFIRE_NAME: "m1",
      CHAINFIRE_CERT_FILE: "/etc/cf/server.pem",
      CHAINFIRE_PEER_CERT_FILE: "/etc/cf/server.pem",
      CHAINFIRE_PEER_TRUSTED_CA_FILE: "/etc/cf/ca.pem",
      CHAINFIRE_CLIENT_CERT_AUTH: "true",
      CHAINFIRE_PEER_CLIENT_CERT_AUTH: "false",
      CHAINFIRE_AUTO_TLS: "false",
      CHAINFIRE_SNAPSHOT_COUNT: "5000",
      CHAINFIRE_HEARTBEAT_INTERVAL: "100",
    });
  });

  it("runs as a dedicated user with a state directory, restarts, hardening and LimitNOFILE", () => {
    const custom = evalCustom("{ services.chainfire.enable = true; }");
    if (!custom.ok) throw new Error(custom.error);
    const { chainfire, users, failedAssertions, firewallTCP } = custom.value;
    expect(failedAssertions).toEqual([]);
    expect(users.chainfire).toEqual({ isSystemUser: true, group: "chainfire" });
    expect(firewallTCP).toEqual([]);
    const sc = chainfire!.serviceConfig;
    expect(sc).toMatchObject({
      User: "chainfire",
      Group: "chainfire",
      StateDirectory: "chainfire",
      StateDirectoryMode: "0700",
      Restart: "on-failure",
      NoNewPrivileges: true,
      ProtectSystem: "strict",
      ProtectHome: true,
      PrivateTmp: true,
      CapabilityBoundingSet: "",
    });
    expect(sc.ExecStart).toMatch(/-chainfire\/bin\/chainfire$/);
    expect(sc.LimitNOFILE).toBeGreaterThanOrEqual(65536);
    // V8 needs W+X pages: this one must stay off.
    expect(sc.MemoryDenyWriteExecute).not.toBe(true);
    expect(chainfire!.wantedBy).toEqual(["multi-user.target"]);
  });

  it("openFirewall opens the ports of the listen URLs", () => {
    const custom = evalCustom(
      `{ services.chainfire = { enable = true; openFirewall = true; listenClientUrls = [ "https://0.0.0.0:12379" ]; listenPeerUrls = [ "https://0.0.0.0:12380" ]; }; }`,
    );
    if (!custom.ok) throw new Error(custom.error);
    expect(custom.value.firewallTCP).toEqual([12379, 12380, 2381]);
  });

  it("rejects a wrong type, an unknown option and a member missing from its initial cluster", () => {
    const badState = evalCustom(
      `{ services.chainfire = { enable = true; initialClusterState = "bogus"; }; }`,
    );
    expect(badState.ok).toBe(false);
    if (!badState.ok) expect(badState.error).toMatch(/initialClusterState.*is not of type/s);

    const unknown = evalCustom(`{ services.chainfire = { enable = true; initalCluster = [ ]; }; }`);
    expect(unknown.ok).toBe(false);
    if (!unknown.ok)
      expect(unknown.error).toContain("services.chainfire.initalCluster' does not exist");

    const notMember = evalCustom(
      `{ services.chainfire = { enable = true; initialCluster = [ "other=http://10.0.0.9:2380" ]; }; }`,
    );
    if (!notMember.ok) throw new Error(notMember.error);
    expect(notMember.value.failedAssertions).toEqual([
      expect.stringContaining("initialCluster must name this member"),
    ]);
  });

  it.each([
    [
      "a bool",
      `{ services.chainfire = { enable = true; openFirewall = "yes"; }; }`,
      /services\.chainfire\.openFirewall' is not of type `boolean'/,
    ],
    [
      "a list",
      `{ services.chainfire = { enable = true; listenClientUrls = "http://0.0.0.0:2379"; }; }`,
      /services\.chainfire\.listenClientUrls' is not of type `list of string'/,
    ],
    [
      "an absolute path",
      `{ services.chainfire = { enable = true; dataDir = "chainfire"; }; }`,
      /services\.chainfire\.dataDir' is not of type `absolute path'/,
    ],
    [
      "an attribute set of strings",
      `{ services.chainfire = { enable = true; extraConf.SNAPSHOT_COUNT = 5000; }; }`,
      /services\.chainfire\.extraConf\.SNAPSHOT_COUNT' is not of type `string'/,
    ],
    [
      "a port (NixOS option)",
      `{ services.chainfire.enable = true; networking.firewall.allowedTCPPorts = [ 70000 ]; }`,
      /allowedTCPPorts.*is not of type `16 bit unsigned integer/,
    ],
  ])("rejects a wrong type: %s", (_, extra, error) => {
    const result = evalCustom(extra);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatch(error);
  });

  it.each([
    ["a NixOS option", `{ networking.hostname = "x"; }`, "networking.hostname"],
    [
      "inside a systemd unit",
      `{ services.chainfire.enable = true; systemd.services.chainfire.serviceconfig.User = "root"; }`,
      "systemd.services.chainfire.serviceconfig",
    ],
    [
      "under firstBoot",
      `{ services.chainfire.firstBoot.join.endpoint = [ ]; }`,
      "services.chainfire.firstBoot.join.endpoint",
    ],
  ])("rejects an unknown option: %s", (_, extra, path) => {
    const result = evalCustom(extra);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toContain(`The option \`${path}' does not exist`);
  });

  it("rejects conflicting definitions, and mkForce settles them", () => {
    const conflict = evalCustom(
      `{ lib, ... }: { services.chainfire = lib.mkMerge [ { enable = true; name = "a"; } { name = "b"; } ]; }`,
    );
    expect(conflict.ok).toBe(false);
    if (!conflict.ok)
      expect(conflict.error).toContain(
        "services.chainfire.name' has conflicting definition values",
      );

    const forced = evalCustom(
      `{ lib, ... }: { services.chainfire = lib.mkMerge [ { enable = true; name = "a"; } { name = lib.mkForce "b"; } ]; systemd.services.chainfire.serviceConfig.LimitNOFILE = lib.mkForce 1024; }`,
    );
    if (!forced.ok) throw new Error(forced.error);
    expect(forced.value.chainfire?.environment.CHAINFIRE_NAME).toBe("b");
    expect(forced.value.chainfire?.serviceConfig.LimitNOFILE).toBe(1024);
  });

  it("drops what mkIf turns off: no StateDirectory outside /var/lib, no units when disabled", () => {
    const elsewhere = evalCustom(
      `{ services.chainfire = { enable = true; dataDir = "/srv/cf"; }; }`,
    );
    if (!elsewhere.ok) throw new Error(elsewhere.error);
    expect(elsewhere.value.chainfire?.serviceConfig).not.toHaveProperty("StateDirectory");
    expect(elsewhere.value.chainfire?.serviceConfig.ReadWritePaths).toEqual(["/srv/cf"]);

    const disabled = evalCustom("{ }");
    if (!disabled.ok) throw new Error(disabled.error);
    expect(disabled.value).toMatchObject({
      chainfire: null,
      join: null,
      formatDisks: null,
      users: {},
    });
  });
});

describe("nix/launch/run-node.sh (QEMU from a netboot image)", () => {
  function dryRun(host: string, ...flags: string[]): string {
    const dir = mkdtempSync(join(tmpdir(), "cf-netboot-"));
    try {
      writeFileSync(join(dir, "bzImage"), "");
      writeFileSync(join(dir, "initrd"), "");
      writeFileSync(
        join(dir, "netboot.ipxe"),
        `#!ipxe\nkernel bzImage init=/nix/store/x-nixos-system-${host}/init initrd=initrd loglevel=4 \${cmdline}\ninitrd initrd\nboot\n`,
      );
      const result = run("bash", ["nix/launch/run-node.sh", host, "--dry-run", ...flags], {
        env: { ...nixEnv(), NETBOOT_DIR: dir },
      });
      expect(result.code, result.stderr).toBe(0);
      return result.stdout;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it("boots each host with its cluster MAC, its disk bus and its own forwarded ports", () => {
    const cluster = evalJson<{ members: Record<string, { mac: string }> }>([
      "--expr",
      "{ members = (import ./nix/hosts/cluster.nix).members; }",
    ]);
    for (const [i, host] of HOSTS.entries()) {
      const line = dryRun(host);
      expect(line).toContain(`mac=${cluster.members[host].mac}`);
      expect(line).toContain(`hostfwd=tcp:127.0.0.1:${2221 + i}-:22`);
      expect(line).toContain(`hostfwd=tcp:127.0.0.1:${23791 + i}-:2379`);
      if (HOST_DISKS[host].startsWith("/dev/nvme")) expect(line).toContain("-device nvme");
      else expect(line).toContain("-device ide-hd");
      expect(line).toContain(`-append init=/nix/store/x-nixos-system-${host}/init\\ loglevel=4`);
      expect(line).not.toContain("initrd=initrd");
    }
  });

  it("--pxe leaves the kernel to iPXE over TFTP", () => {
    const line = dryRun("node01", "--pxe");
    expect(line).toContain("bootfile=netboot.ipxe");
    expect(line).not.toContain("-kernel");
  });
});

describe("nix/npm-lock.nix (registry URLs for importNpmLock)", () => {
  interface LockEntry {
    name?: string;
    version?: string;
    resolved?: string;
    link?: boolean;
    integrity?: string;
    optional?: boolean;
    os?: string[];
    cpu?: string[];
  }
  let lock: Record<string, LockEntry>;
  beforeAll(() => {
    lock = evalJson<{ packages: Record<string, LockEntry> }>([
      "--expr",
      `let lib = import ./test/deploy/nix/stub-lib.nix; in import ./nix/npm-lock.nix { inherit lib; } (lib.importJSON ./package-lock.json)`,
    ]).packages;
  });

  it("gives every registry package of package-lock.json a tarball URL", () => {
    const without = Object.entries(lock)
      .filter(([, e]) => e.resolved === undefined)
      // Other platforms' optional builds the lock lists without an integrity (this
      // machine's mirror does not serve them, see .ci/run): nothing fetches them here.
      .filter(([, e]) => !(e.optional && e.integrity === undefined && (e.os || e.cpu)))
      .map(([path]) => path);
    // Only the root and the workspace packages themselves come from no registry.
    expect(
      without.every((p) => p === "" || /^packages\/[a-z]+$/.test(p)),
      without.join(" "),
    ).toBe(true);
    for (const [path, entry] of Object.entries(lock)) {
      if (entry.link || !entry.resolved || !path.includes("node_modules/")) continue;
      // Aliases (`"x-cjs": "npm:x@4"`) carry the real package name.
      const name =
        entry.name ?? path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length);
      const base = name.split("/").pop();
      expect(entry.resolved).toBe(
        `https://registry.npmjs.org/${name}/-/${base}-${entry.version}.tgz`,
      );
    }
  });

  it("names the RocksDB addon's tarball as npm does, and keeps workspace links", () => {
    expect(lock["node_modules/@nxtedition/rocksdb"].resolved).toMatch(
      /^https:\/\/registry\.npmjs\.org\/@nxtedition\/rocksdb\/-\/rocksdb-[0-9.]+\.tgz$/,
    );
    expect(lock["node_modules/@chainfire/server"]).toEqual({
      resolved: "packages/server",
      link: true,
    });
  });

  it("is what package.nix hands importNpmLock", () => {
    expect(run("cat", ["nix/package.nix"]).stdout).toMatch(
      /packageLock = import \.\/npm-lock\.nix \{ inherit lib; \}/,
    );
  });
});

describe("nix/flake.nix (outputs with stand-in inputs)", () => {
  interface FlakeSummary {
    inputs: string[];
    outputArgs: string[];
    packages: string[];
    apps: string[];
    nixosModules: Record<string, string>;
    nixosConfigurations: Record<string, string[]>;
  }
  let flake: FlakeSummary;
  beforeAll(() => {
    flake = evalJson(["test/deploy/nix/eval.nix", "-A", "flake"]);
  });

  it("takes nixpkgs and disko", () => {
    expect(flake.inputs).toEqual(["disko", "nixpkgs"]);
    expect(flake.outputArgs.sort()).toEqual(["disko", "nixpkgs", "self"]);
  });

  it("exposes the package, the netboot images, the modules and a launcher per host", () => {
    expect(flake.packages.sort()).toEqual(
      ["chainfire", "default", "netboot-all", ...HOSTS.map((h) => `netboot-${h}`)].sort(),
    );
    expect(flake.apps).toEqual([...HOSTS]);
    expect(flake.nixosModules).toEqual({
      chainfire: "nix/modules/chainfire.nix",
      default: "nix/modules/chainfire.nix",
      "first-boot": "nix/modules/first-boot.nix",
      "netboot-base": "nix/netboot-base.nix",
    });
  });

  it("builds each host from netboot-base (or installed.nix), disko and its own two files", () => {
    for (const host of HOSTS) {
      for (const [config, base] of [
        [host, "nix/netboot-base.nix"],
        [`${host}-installed`, "nix/installed.nix"],
      ]) {
        expect(flake.nixosConfigurations[config]).toEqual([
          base,
          "disko-module",
          `nix/hosts/${host}/configuration.nix`,
          `nix/hosts/${host}/disko.nix`,
          "<inline>",
        ]);
      }
    }
  });
});
