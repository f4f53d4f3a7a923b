# services.chainfire: one Chainfire member, shaped like nixpkgs' services.etcd so an etcd
# configuration carries over name for name (enable, package, name, dataDir, the URL lists,
# initialCluster*, the TLS files, extraConf, openFirewall).
#
# Like the etcd module, the member is configured through environment variables: the
# member reads CHAINFIRE_<FLAG_IN_UPPER_SNAKE> for every etcd-named flag, and extraConf
# adds CHAINFIRE_<key> for the rest (HEARTBEAT_INTERVAL, SNAPSHOT_COUNT, ...).
{
  config,
  lib,
  options,
  pkgs,
  ...
}:

let
  inherit (lib)
    concatStringsSep
    filterAttrs
    getExe'
    hasPrefix
    literalExpression
    mapAttrs'
    mkEnableOption
    mkIf
    mkOption
    nameValuePair
    removePrefix
    types
    unique
    ;

  cfg = config.services.chainfire;
  opt = options.services.chainfire;

  # "http://0.0.0.0:2379" -> 2379 (URLs without a port are skipped).
  portOf =
    url:
    let
      m = builtins.match "[a-z]+://.*:([0-9]+)/?" url;
    in
    if m == null then null else lib.toInt (builtins.head m);
  portsOf = urls: builtins.filter (p: p != null) (map portOf urls);

  boolString = b: if b then "true" else "false";

  stateDirectory = removePrefix "/var/lib/" cfg.dataDir;
  underVarLib = hasPrefix "/var/lib/" cfg.dataDir;
in
{
  options.services.chainfire = {
    enable = mkEnableOption "the Chainfire key-value store (an etcd v3 API member)";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ../package.nix { };
      defaultText = literalExpression "pkgs.callPackage ./nix/package.nix { }";
      description = "The Chainfire package (provides bin/chainfire).";
    };

    name = mkOption {
      type = types.str;
      default = config.networking.hostName;
      defaultText = literalExpression "config.networking.hostName";
      description = "Unique member name (--name).";
    };

    dataDir = mkOption {
      type = types.path;
      default = "/var/lib/chainfire";
      description = "Member data directory (--data-dir).";
    };

    listenClientUrls = mkOption {
      type = types.listOf types.str;
      default = [ "http://127.0.0.1:2379" ];
      description = "URLs to listen on for client traffic (--listen-client-urls).";
    };

    advertiseClientUrls = mkOption {
      type = types.listOf types.str;
      default = cfg.listenClientUrls;
      defaultText = literalExpression "config.${opt.listenClientUrls}";
      description = "This member's client URLs advertised to the cluster (--advertise-client-urls).";
    };

    listenPeerUrls = mkOption {
      type = types.listOf types.str;
      default = [ "http://127.0.0.1:2380" ];
      description = "URLs to listen on for peer traffic (--listen-peer-urls).";
    };

    initialAdvertisePeerUrls = mkOption {
      type = types.listOf types.str;
      default = cfg.listenPeerUrls;
      defaultText = literalExpression "config.${opt.listenPeerUrls}";
      description = "This member's peer URLs advertised to the cluster (--initial-advertise-peer-urls).";
    };

    listenMetricsUrls = mkOption {
      type = types.listOf types.str;
      default = [ "http://127.0.0.1:2381" ];
      description = "URLs serving /health, /readyz, /livez, /version and /metrics (--listen-metrics-urls).";
    };

    initialCluster = mkOption {
      type = types.listOf types.str;
      default = [ "${cfg.name}=http://127.0.0.1:2380" ];
      defaultText = literalExpression ''[ "''${config.${opt.name}}=http://127.0.0.1:2380" ]'';
      description = "Initial cluster members as name=peer-url (--initial-cluster).";
    };

    initialClusterState = mkOption {
      type = types.enum [
        "new"
        "existing"
      ];
      default = "new";
      description = ''
        "new" when bootstrapping the cluster, "existing" when joining a running one
        (--initial-cluster-state). Ignored once the data directory holds member data.
      '';
    };

    initialClusterToken = mkOption {
      type = types.str;
      default = "chainfire-cluster";
      description = "Initial cluster token, unique per cluster (--initial-cluster-token).";
    };

    certFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      description = "Certificate for client connections (--cert-file).";
    };

    keyFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      description = "Key for client connections (--key-file).";
    };

    trustedCaFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      description = "CA bundle for client certificates (--trusted-ca-file).";
    };

    clientCertAuth = mkOption {
      type = types.bool;
      default = false;
      description = "Require client certificates signed by trustedCaFile (--client-cert-auth).";
    };

    peerCertFile = mkOption {
      type = types.nullOr types.path;
      default = cfg.certFile;
      defaultText = literalExpression "config.${opt.certFile}";
      description = "Certificate for peer connections (--peer-cert-file).";
    };

    peerKeyFile = mkOption {
      type = types.nullOr types.path;
      default = cfg.keyFile;
      defaultText = literalExpression "config.${opt.keyFile}";
      description = "Key for peer connections (--peer-key-file).";
    };

    peerTrustedCaFile = mkOption {
      type = types.nullOr types.path;
      default = cfg.trustedCaFile;
      defaultText = literalExpression "config.${opt.trustedCaFile}";
      description = "CA bundle for peer certificates (--peer-trusted-ca-file).";
    };

    peerClientCertAuth = mkOption {
      type = types.bool;
      default = false;
      description = "Require peers to present certificates signed by peerTrustedCaFile (--peer-client-cert-auth).";
    };

    autoTls = mkOption {
      type = types.bool;
      default = false;
      description = "Client TLS with a generated self-signed certificate, for development (--auto-tls).";
    };

    peerAutoTls = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Peer TLS with generated self-signed certificates, for development (--peer-auto-tls):
        encrypts peer traffic but does not authenticate peers.
      '';
    };

    peerCertAllowedCn = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "Accept peer connections only from certificates with this Common Name (--peer-cert-allowed-cn).";
    };

    extraConf = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = literalExpression ''
        {
          HEARTBEAT_INTERVAL = "100";
          ELECTION_TIMEOUT = "1000";
          SNAPSHOT_COUNT = "10000";
          QUOTA_BACKEND_BYTES = "8589934592";
        }
      '';
      description = ''
        More member settings, each passed as the environment variable CHAINFIRE_<name>
        (the flag's name in upper snake case).
      '';
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the client, peer and metrics ports of the listen URLs in the firewall.";
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = builtins.any (hasPrefix "${cfg.name}=") cfg.initialCluster;
        message = "services.chainfire.initialCluster must name this member (${cfg.name}=<peer url>).";
      }
      {
        assertion = (cfg.certFile == null) == (cfg.keyFile == null);
        message = "services.chainfire.certFile and keyFile go together.";
      }
    ];

    systemd.services.chainfire = {
      description = "Chainfire key-value store member";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      unitConfig.RequiresMountsFor = [ cfg.dataDir ];

      environment =
        filterAttrs (_: v: v != null) {
          # glibc malloc: few arenas, large blocks from mmap (RocksDB's freed memory returns).
          MALLOC_ARENA_MAX = "2";
          MALLOC_MMAP_THRESHOLD_ = "131072";
          CHAINFIRE_NAME = cfg.name;
          CHAINFIRE_DATA_DIR = cfg.dataDir;
          CHAINFIRE_LISTEN_CLIENT_URLS = concatStringsSep "," cfg.listenClientUrls;
          CHAINFIRE_ADVERTISE_CLIENT_URLS = concatStringsSep "," cfg.advertiseClientUrls;
          CHAINFIRE_LISTEN_PEER_URLS = concatStringsSep "," cfg.listenPeerUrls;
          CHAINFIRE_INITIAL_ADVERTISE_PEER_URLS = concatStringsSep "," cfg.initialAdvertisePeerUrls;
          CHAINFIRE_LISTEN_METRICS_URLS = concatStringsSep "," cfg.listenMetricsUrls;
          CHAINFIRE_INITIAL_CLUSTER = concatStringsSep "," cfg.initialCluster;
          CHAINFIRE_INITIAL_CLUSTER_STATE = cfg.initialClusterState;
          CHAINFIRE_INITIAL_CLUSTER_TOKEN = cfg.initialClusterToken;
          CHAINFIRE_CERT_FILE = cfg.certFile;
          CHAINFIRE_KEY_FILE = cfg.keyFile;
          CHAINFIRE_TRUSTED_CA_FILE = cfg.trustedCaFile;
          CHAINFIRE_CLIENT_CERT_AUTH = boolString cfg.clientCertAuth;
          CHAINFIRE_PEER_CERT_FILE = cfg.peerCertFile;
          CHAINFIRE_PEER_KEY_FILE = cfg.peerKeyFile;
          CHAINFIRE_PEER_TRUSTED_CA_FILE = cfg.peerTrustedCaFile;
          CHAINFIRE_PEER_CLIENT_CERT_AUTH = boolString cfg.peerClientCertAuth;
          CHAINFIRE_AUTO_TLS = boolString cfg.autoTls;
          CHAINFIRE_PEER_AUTO_TLS = boolString cfg.peerAutoTls;
          CHAINFIRE_PEER_CERT_ALLOWED_CN = cfg.peerCertAllowedCn;
        }
        // mapAttrs' (n: v: nameValuePair "CHAINFIRE_${n}" v) cfg.extraConf;

      serviceConfig = {
        Type = "simple";
        ExecStart = getExe' cfg.package "chainfire";
        User = "chainfire";
        Group = "chainfire";
        StateDirectory = mkIf underVarLib stateDirectory;
        StateDirectoryMode = "0700";
        ReadWritePaths = [ cfg.dataDir ];
        WorkingDirectory = cfg.dataDir;

        # SIGTERM is a graceful shutdown; give it time before SIGKILL.
        Restart = "on-failure";
        RestartSec = "5s";
        # Exit code 3: this member was removed from the cluster; restarting cannot help.
        RestartPreventExitStatus = 3;
        TimeoutStopSec = "60s";
        LimitNOFILE = 65536;

        # Hardening. MemoryDenyWriteExecute stays off: V8's JIT needs W+X pages.
        NoNewPrivileges = true;
        CapabilityBoundingSet = "";
        AmbientCapabilities = "";
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        ProtectProc = "invisible";
        RestrictAddressFamilies = [
          "AF_INET"
          "AF_INET6"
          "AF_UNIX"
        ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        RemoveIPC = true;
        SystemCallArchitectures = "native";
        SystemCallFilter = [
          "@system-service"
          "~@privileged"
        ];
        UMask = "0077";
      };
    };

    environment.systemPackages = [ cfg.package ];

    users.users.chainfire = {
      isSystemUser = true;
      group = "chainfire";
      description = "Chainfire daemon user";
      home = cfg.dataDir;
    };
    users.groups.chainfire = { };

    networking.firewall.allowedTCPPorts = mkIf cfg.openFirewall (
      unique (
        portsOf cfg.listenClientUrls
        ++ portsOf cfg.listenPeerUrls
        ++ portsOf cfg.listenMetricsUrls
      )
    );
  };
}
