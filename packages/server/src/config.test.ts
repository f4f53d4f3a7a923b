import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, type ConfigInputs, resolveMemberConfig } from "./config.js";
import { parseInitialCluster, parseMemberUrl, UrlProblem } from "./config-urls.js";
import { DEFAULT_MEMBER_OPTIONS } from "./member-options.js";

const cwd = "/srv";
const resolveWith = (inputs: Partial<ConfigInputs>) =>
  resolveMemberConfig({ argv: [], env: {}, cwd, ...inputs });

function problemsOf(inputs: Partial<ConfigInputs>): string[] {
  try {
    resolveWith(inputs);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  throw new Error("expected a ConfigError");
}

const THREE = "n1=http://127.0.0.1:2380,n2=http://127.0.0.1:22380,n3=http://127.0.0.1:32380";

describe("resolveMemberConfig: defaults", () => {
  it("with no flags gives a single member named default, like `etcd` with no flags", () => {
    const { options, logFormat, warnings } = resolveWith({});
    expect(options).toEqual({
      ...DEFAULT_MEMBER_OPTIONS,
      name: "default",
      dataDir: resolve(cwd, "default.chainfire"),
      initialCluster: new Map([["default", ["http://127.0.0.1:2380"]]]),
    });
    expect(logFormat).toBe("json");
    expect(warnings).toEqual([]);
  });

  it("derives data dir, advertise URLs and initial cluster from other settings", () => {
    const { options } = resolveWith({
      argv: [
        "--name=n9",
        "--listen-client-urls=http://10.0.0.9:2379",
        "--listen-peer-urls",
        "http://10.0.0.9:2380",
      ],
    });
    expect(options.dataDir).toBe("/srv/n9.chainfire");
    expect(options.advertiseClientUrls).toEqual(["http://10.0.0.9:2379"]);
    expect(options.initialAdvertisePeerUrls).toEqual(["http://10.0.0.9:2380"]);
    expect(options.initialCluster).toEqual(new Map([["n9", ["http://10.0.0.9:2380"]]]));
  });
});

describe("resolveMemberConfig: flags", () => {
  it("parses the harness's etcd-style command line", () => {
    const { options, sources } = resolveWith({
      argv: [
        "--name=n2",
        "--data-dir=/tmp/x/n2/data",
        "--listen-client-urls=http://127.0.0.1:12001",
        "--advertise-client-urls=http://127.0.0.1:12001",
        "--listen-peer-urls=http://127.0.0.1:12002",
        "--initial-advertise-peer-urls=http://127.0.0.1:12002",
        "--initial-cluster=n1=http://127.0.0.1:12000,n2=http://127.0.0.1:12002",
        "--initial-cluster-state=existing",
        "--initial-cluster-token=tok",
        "--listen-metrics-urls=http://127.0.0.1:12003",
        "--heartbeat-interval=50",
        "--election-timeout=500",
        "--snapshot-count",
        "1000",
        "--quota-backend-bytes=1048576",
        "--max-request-bytes=4096",
        "--max-concurrent-streams=100",
        "--max-txn-ops=256",
        "--max-response-bytes=1000000",
        "--max-pending-proposals=50",
        "--max-pending-proposal-bytes=65536",
        "--auto-promote",
        "--log-level=debug",
        "--log-format=pretty",
      ],
    });
    expect(options).toEqual({
      name: "n2",
      dataDir: "/tmp/x/n2/data",
      listenClientUrls: ["http://127.0.0.1:12001"],
      advertiseClientUrls: ["http://127.0.0.1:12001"],
      listenPeerUrls: ["http://127.0.0.1:12002"],
      initialAdvertisePeerUrls: ["http://127.0.0.1:12002"],
      initialCluster: new Map([
        ["n1", ["http://127.0.0.1:12000"]],
        ["n2", ["http://127.0.0.1:12002"]],
      ]),
      initialClusterState: "existing",
      initialClusterToken: "tok",
      listenMetricsUrls: ["http://127.0.0.1:12003"],
      heartbeatIntervalMs: 50,
      electionTimeoutMs: 500,
      snapshotCount: 1000,
      quotaBackendBytes: 1048576,
      maxRequestBytes: 4096,
      maxConcurrentStreams: 100,
      maxTxnOps: 256,
      maxResponseBytes: 1_000_000,
      maxPendingProposals: 50,
      maxPendingProposalBytes: 65536,
      autoPromote: true,
      authToken: "simple",
      bcryptCost: 10,
      authTokenTtl: 300,
      logLevel: "debug",
    });
    expect(sources["name"]).toBe("flag");
  });

  it("takes the last of a repeated flag, as Go's flag package does", () => {
    const { options } = resolveWith({ argv: ["--name=a", "--name=b"] });
    expect(options.name).toBe("b");
  });

  it("accepts several URLs, normalizes them and keeps a member's several peer URLs", () => {
    const { options } = resolveWith({
      argv: [
        "--name=n1",
        "--listen-client-urls=http://127.0.0.1:2379/, http://localhost:2379",
        "--initial-advertise-peer-urls=http://a:2380,http://b:2380",
        "--initial-cluster=n1=http://a:2380,n1=http://b:2380,n2=http://c:2380",
      ],
    });
    expect(options.listenClientUrls).toEqual(["http://127.0.0.1:2379", "http://localhost:2379"]);
    expect(options.initialCluster.get("n1")).toEqual(["http://a:2380", "http://b:2380"]);
  });

  it("maps etcd's panic level to fatal and `--auto-promote=false` to false", () => {
    const { options } = resolveWith({ argv: ["--log-level", "panic", "--auto-promote=false"] });
    expect(options.logLevel).toBe("fatal");
    expect(options.autoPromote).toBe(false);
  });

  it("reads etcd's duration flags for watch progress notifications and lease checkpoints", () => {
    const { options } = resolveWith({
      argv: [
        "--experimental-watch-progress-notify-interval=1m30s",
        "--experimental-lease-checkpoint-interval=500ms",
      ],
    });
    expect(options.watchProgressNotifyIntervalMs).toBe(90_000);
    expect(options.leaseCheckpointIntervalMs).toBe(500);
    expect(resolveWith({}).options.watchProgressNotifyIntervalMs).toBeUndefined();
    expect(problemsOf({ argv: ["--experimental-watch-progress-notify-interval=10"] })).toEqual([
      '--experimental-watch-progress-notify-interval: "10" is not a positive duration (e.g. 10m, 5s)',
    ]);
  });

  it("treats --quota-backend-bytes=0 as the default, like etcd", () => {
    const { options } = resolveWith({ argv: ["--quota-backend-bytes=0"] });
    expect(options.quotaBackendBytes).toBe(DEFAULT_MEMBER_OPTIONS.quotaBackendBytes);
  });
});

describe("resolveMemberConfig: environment and config file", () => {
  it("reads CHAINFIRE_* and etcd's ETCD_* variables; CHAINFIRE_ wins", () => {
    const { options, sources } = resolveWith({
      env: {
        ETCD_NAME: "from-etcd",
        CHAINFIRE_NAME: "n1",
        ETCD_INITIAL_CLUSTER: "n1=http://127.0.0.1:2380,n2=http://127.0.0.1:22380",
        CHAINFIRE_HEARTBEAT_INTERVAL: "20",
        ETCD_ELECTION_TIMEOUT: "200",
        ETCD_AUTO_PROMOTE: "true",
        PATH: "/usr/bin",
      },
    });
    expect(options.name).toBe("n1");
    expect(options.initialCluster.size).toBe(2);
    expect(options.heartbeatIntervalMs).toBe(20);
    expect(options.electionTimeoutMs).toBe(200);
    expect(options.autoPromote).toBe(true);
    expect(sources["name"]).toBe("env");
  });

  it("warns about unrecognized prefixed variables and skips tool variables", () => {
    const { warnings } = resolveWith({
      env: { CHAINFIRE_HEARTBEAT_INTERVL: "5", CHAINFIRE_GIT_SHA: "abc", CHAINFIRE_TEST_KEEP: "1" },
    });
    expect(warnings).toEqual([
      "unrecognized environment variable CHAINFIRE_HEARTBEAT_INTERVL (no flag --heartbeat-intervl); ignored",
    ]);
  });

  it("reads a YAML config file with etcd's keys; flags > env > file > defaults", () => {
    const files: Record<string, string> = {
      "/srv/etc/chainfire.yaml": [
        "name: n1",
        "data-dir: /var/lib/chainfire",
        "listen-client-urls: http://127.0.0.1:2379",
        "listen-peer-urls: [http://127.0.0.1:2380]",
        `initial-cluster: ${THREE}`,
        "initial-cluster-state: new",
        "heartbeat-interval: 10",
        "election-timeout: 100",
        "snapshot-count: 500",
        "logger: zap", // etcd-only: ignored with a warning
        "log-outputs: [stderr]",
        "client-transport-security:",
        "  cert-file:",
        "  client-cert-auth: false",
        "mystery: 1",
      ].join("\n"),
    };
    const { options, sources, warnings, configFile } = resolveWith({
      argv: ["--config-file=etc/chainfire.yaml", "--snapshot-count=700"],
      env: { CHAINFIRE_ELECTION_TIMEOUT: "150" },
      readFile: (p) => files[p] ?? "",
    });
    expect(configFile).toBe("/srv/etc/chainfire.yaml");
    expect(options.name).toBe("n1");
    expect(options.dataDir).toBe("/var/lib/chainfire");
    expect(options.listenPeerUrls).toEqual(["http://127.0.0.1:2380"]);
    expect(options.initialCluster.size).toBe(3);
    expect(options.heartbeatIntervalMs).toBe(10); // file
    expect(options.electionTimeoutMs).toBe(150); // env beats file
    expect(options.snapshotCount).toBe(700); // flag beats file
    expect(options.maxRequestBytes).toBe(DEFAULT_MEMBER_OPTIONS.maxRequestBytes);
    expect(sources).toMatchObject({
      "heartbeat-interval": "file",
      "election-timeout": "env",
      "snapshot-count": "flag",
    });
    expect(warnings).toEqual([
      '--config-file /srv/etc/chainfire.yaml: unknown key "mystery" ignored',
      "--logger: etcd flag not used by Chainfire; ignored",
      "--log-outputs: etcd flag not used by Chainfire; ignored",
    ]);
  });

  it("takes the config file's path from the environment too", () => {
    const { options } = resolveWith({
      env: { ETCD_CONFIG_FILE: "/c.yml" },
      readFile: (p) => (p === "/c.yml" ? "name: from-file\n" : ""),
    });
    expect(options.name).toBe("from-file");
  });

  it("reports an unreadable or malformed config file", () => {
    expect(
      problemsOf({
        argv: ["--config-file=/nope.yaml"],
        readFile: () => {
          throw new Error("ENOENT: no such file or directory");
        },
      }),
    ).toEqual(["--config-file /nope.yaml: ENOENT: no such file or directory"]);
    expect(problemsOf({ argv: ["--config-file=/l.yaml"], readFile: () => "- a\n- b\n" })).toEqual([
      "--config-file /l.yaml: expected a mapping of flag names to values",
    ]);
    expect(problemsOf({ argv: ["--config-file=/t.yaml"], readFile: () => "name: [\n" })[0]).toMatch(
      /^--config-file \/t\.yaml: /,
    );
  });

  it("maps a config file's transport sections to the TLS flags", () => {
    const { options } = resolveWith({
      argv: ["--config-file=/c.yaml"],
      readFile: () =>
        [
          "listen-peer-urls: https://127.0.0.1:2380",
          "peer-transport-security:",
          "  cert-file: /etc/peer.crt",
          "  key-file: /etc/peer.key",
          "  trusted-ca-file: /etc/ca.crt",
          "  client-cert-auth: true",
          "  allowed-cn: node",
          "client-transport-security:",
          "  cert-file: /etc/client.crt",
          "",
        ].join("\n"),
    });
    expect(options.peerTls).toMatchObject({
      certFile: "/etc/peer.crt",
      keyFile: "/etc/peer.key",
      trustedCaFile: "/etc/ca.crt",
      clientCertAuth: true,
      allowedCn: "node",
      autoTls: false,
    });
    expect(options.clientTls).toBeUndefined(); // no https:// client URL
    expect(
      problemsOf({
        argv: ["--config-file=/c.yaml"],
        readFile: () => "peer-transport-security:\n  crl-file: /etc/crl.pem\n  nonsense: 1\n",
      }),
    ).toEqual([
      "--config-file: unknown key peer-transport-security.nonsense",
      "--peer-crl-file: not supported by Chainfire yet (certificate revocation lists are not implemented)",
    ]);
  });
});

describe("resolveMemberConfig: etcd flags Chainfire does not implement", () => {
  it("accepts ignorable ones with a warning (also unknown --experimental-* flags)", () => {
    const { warnings } = resolveWith({
      argv: [
        "--enable-v2=false",
        "--auto-compaction-retention=1",
        "--experimental-initial-corrupt-check",
        "--max-wals",
        "256",
      ],
    });
    expect(warnings).toEqual([
      "--enable-v2: etcd flag not used by Chainfire; ignored",
      "--auto-compaction-retention: etcd flag not used by Chainfire; ignored",
      "--experimental-initial-corrupt-check: etcd flag not used by Chainfire; ignored",
      "--max-wals: etcd flag not used by Chainfire; ignored",
    ]);
  });

  it("refuses CRLs, discovery and force-new-cluster when they ask for something", () => {
    expect(
      problemsOf({
        argv: ["--client-crl-file=/c.pem", "--discovery=https://d", "--force-new-cluster"],
        env: { CHAINFIRE_PEER_CERT_ALLOWED_HOSTNAME: "h" },
      }),
    ).toEqual([
      "--peer-cert-allowed-hostname (from the environment): not supported by Chainfire yet (use --peer-cert-allowed-cn or a dedicated CA)",
      "--client-crl-file: not supported by Chainfire yet (certificate revocation lists are not implemented)",
      "--discovery: not supported by Chainfire yet (discovery is not implemented; use --initial-cluster)",
      "--force-new-cluster: not supported by Chainfire yet (use `chainfire snapshot restore` instead)",
    ]);
  });

  it("accepts them when they are off or empty (generated configs pass them always)", () => {
    const { warnings } = resolveWith({
      argv: ["--client-cert-auth=false", "--trusted-ca-file="],
      env: { CHAINFIRE_PEER_CLIENT_CERT_AUTH: "false" },
    });
    expect(warnings).toEqual([]);
  });
});

describe("resolveMemberConfig: validation", () => {
  it("rejects unknown flags and stray arguments", () => {
    expect(problemsOf({ argv: ["--nmae=x", "extra"] })).toEqual([
      "unknown flag --nmae",
      'unexpected argument "extra"',
    ]);
  });

  it("rejects bad URLs with the reason", () => {
    expect(
      problemsOf({
        argv: [
          "--listen-client-urls=127.0.0.1:2379",
          "--listen-peer-urls=unix://p:2380",
          "--advertise-client-urls=http://h",
          "--listen-metrics-urls=http://h:1/metrics",
        ],
      }),
    ).toEqual([
      '--listen-client-urls: "127.0.0.1:2379" is not a URL (expected http://host:port or https://host:port)',
      '--listen-peer-urls: "unix://p:2380": unsupported scheme "unix:" (expected http:// or https://)',
      '--advertise-client-urls: "http://h" has no port (expected http://host:port)',
      '--listen-metrics-urls: "http://h:1/metrics" must not have a path, query or fragment',
    ]);
  });

  it("requires advertise URLs when listening on a wildcard address", () => {
    expect(problemsOf({ argv: ["--listen-client-urls=http://0.0.0.0:2379"] })).toEqual([
      "--advertise-client-urls is required when --listen-client-urls uses the wildcard address " +
        "http://0.0.0.0:2379 (give the URLs others should dial)",
    ]);
    const { options } = resolveWith({
      argv: [
        "--listen-client-urls=http://0.0.0.0:2379",
        "--advertise-client-urls=http://10.0.0.1:2379",
      ],
    });
    expect(options.advertiseClientUrls).toEqual(["http://10.0.0.1:2379"]);
  });

  it("requires this member in --initial-cluster with matching peer URLs", () => {
    expect(problemsOf({ argv: ["--name=n4", `--initial-cluster=${THREE}`] })).toEqual([
      `--initial-cluster "${THREE}" has no entry for this member's --name "n4" ` +
        "(add n4=http://127.0.0.1:2380)",
    ]);
    expect(
      problemsOf({
        argv: [
          "--name=n2",
          `--initial-cluster=${THREE}`,
          "--initial-advertise-peer-urls=http://127.0.0.1:2380",
        ],
      }),
    ).toEqual([
      "--initial-advertise-peer-urls http://127.0.0.1:2380 does not match this member's " +
        "--initial-cluster entry n2=http://127.0.0.1:22380",
    ]);
  });

  it("rejects malformed --initial-cluster values", () => {
    expect(problemsOf({ argv: ["--initial-cluster=default"] })).toEqual([
      '--initial-cluster: entry "default" is not name=http://host:port',
    ]);
    expect(
      problemsOf({
        argv: ["--initial-cluster=default=http://127.0.0.1:2380,b=http://127.0.0.1:2380"],
      }),
    ).toEqual(["--initial-cluster: http://127.0.0.1:2380 is given to both default and b"]);
  });

  it("checks the raft timing flags like etcd", () => {
    expect(problemsOf({ argv: ["--heartbeat-interval=1000", "--election-timeout=1000"] })).toEqual([
      "--heartbeat-interval (1000 ms) must be less than --election-timeout (1000 ms)",
    ]);
    expect(problemsOf({ argv: ["--heartbeat-interval=300"] })).toEqual([
      "--election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[300ms]",
    ]);
    expect(problemsOf({ argv: ["--election-timeout=60000"] })).toEqual([
      "--election-timeout[60000ms] is too long, and should be set less than 50000ms",
    ]);
  });

  it("rejects values of the wrong type, and reports every problem at once", () => {
    const problems = problemsOf({
      argv: ["--snapshot-count=lots", "--initial-cluster-state=maybe", "--name="],
      env: { CHAINFIRE_AUTO_PROMOTE: "sometimes", CHAINFIRE_MAX_REQUEST_BYTES: "0" },
    });
    expect(problems).toEqual([
      "--name: must not be empty",
      // (an empty name is also missing from the default --initial-cluster; not repeated)
      '--initial-cluster-state: "maybe" is not one of new, existing',
      '--snapshot-count: "lots" is not a whole number',
      "--max-request-bytes: must be at least 1 (got 0)",
      '--auto-promote: "sometimes" is not true or false',
    ]);
    const err = new ConfigError(problems);
    expect(err.message).toMatch(/^invalid configuration:\n {2}--name: must not be empty\n/);
  });
});

describe("URL helpers", () => {
  it("normalizes member URLs and IPv6 hosts", () => {
    expect(parseMemberUrl("http://[::1]:2379/")).toBe("http://[::1]:2379");
    expect(parseMemberUrl("unix://x")).toBeInstanceOf(UrlProblem);
    expect(parseInitialCluster("a=http://h:1,a=http://h:1")).toEqual(
      new UrlProblem("member a lists http://h:1 twice"),
    );
  });
});

describe("resolveMemberConfig: TLS", () => {
  const https = [
    "--listen-client-urls=https://127.0.0.1:2379",
    "--listen-peer-urls=https://127.0.0.1:2380",
  ];

  it("builds client and peer TLS options for https:// URLs (paths resolved, versions mapped)", () => {
    const { options } = resolveWith({
      argv: [
        ...https,
        "--cert-file=c.pem",
        "--key-file=c.key",
        "--trusted-ca-file=/ca.pem",
        "--client-cert-auth",
        "--peer-auto-tls",
        "--self-signed-cert-validity=3",
        "--tls-min-version=TLS1.3",
      ],
      env: { ETCD_PEER_TRUSTED_CA_FILE: "/peer-ca.pem", ETCD_PEER_CLIENT_CERT_AUTH: "true" },
    });
    expect(options.clientTls).toEqual({
      certFile: "/srv/c.pem",
      keyFile: "/srv/c.key",
      trustedCaFile: "/ca.pem",
      clientCertAuth: true,
      autoTls: false,
      selfSignedCertValidityYears: 3,
      minVersion: "TLSv1.3",
    });
    expect(options.peerTls).toMatchObject({
      certFile: "",
      autoTls: true,
      trustedCaFile: "/peer-ca.pem",
      clientCertAuth: true,
    });
    expect(options.initialCluster.get("default")).toEqual(["https://127.0.0.1:2380"]);
  });

  it("says what is missing", () => {
    expect(problemsOf({ argv: https })).toEqual([
      "--listen-client-urls uses https:// but there is no certificate: give --cert-file and " +
        "--key-file (or --auto-tls for development)",
      "--listen-peer-urls/--initial-cluster uses https:// but there is no certificate: give " +
        "--peer-cert-file and --peer-key-file (or --peer-auto-tls for development)",
    ]);
    expect(
      problemsOf({
        argv: [
          ...https,
          "--cert-file=/c.pem",
          "--client-cert-auth",
          "--peer-auto-tls",
          "--peer-cert-allowed-cn=n",
          "--listen-metrics-urls=https://127.0.0.1:2381",
          "--tls-min-version=TLS1.0",
        ],
      }),
    ).toEqual([
      '--tls-min-version: "TLS1.0" is not one of TLS1.2, TLS1.3',
      "--listen-metrics-urls: https://127.0.0.1:2381: TLS is not supported there; use http://",
      "--cert-file and --key-file must be given together",
      "--client-cert-auth needs --trusted-ca-file (the CA that signs the certificates to accept)",
      "--peer-cert-allowed-cn needs --peer-client-cert-auth (and its CA)",
    ]);
  });

  it("warns that TLS files without an https:// URL are ignored", () => {
    const { options, warnings } = resolveWith({
      argv: ["--cert-file=/c.pem", "--key-file=/c.key"],
    });
    expect(options.clientTls).toBeUndefined();
    expect(warnings).toEqual([
      "--cert-file and the other client TLS flags are ignored: no --listen-client-urls URL uses https://",
    ]);
  });
});
