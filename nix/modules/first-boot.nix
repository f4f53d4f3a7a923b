# First-boot automation for a netbooted member. The root filesystem lives in RAM, so
# "first boot" is any boot whose data disk or data directory is still empty; both steps
# are idempotent and run on every boot:
#
#   chainfire-format-disks.service  disko's format script, only when every disk of the
#                                   layout is blank (format-if-blank.sh)
#   <dataDir>.mount                 the data partition (from the disko layout)
#   chainfire-join.service          new / existing / replace (chainfire-join.sh)
#   chainfire.service               reads the decision as an EnvironmentFile
{
  config,
  lib,
  pkgs,
  utils,
  ...
}:

let
  inherit (lib)
    attrValues
    concatStringsSep
    getExe
    literalExpression
    mkEnableOption
    mkIf
    mkMerge
    mkOption
    types
    ;

  cfg = config.services.chainfire;
  boot = cfg.firstBoot;

  joinEnvFile = "/run/chainfire-join/env";
  diskDevices = map (d: d.device) (attrValues (config.disko.devices.disk or { }));
  deviceUnits = map (d: "${utils.escapeSystemdPath d}.device") diskDevices;
in
{
  options.services.chainfire.firstBoot = {
    formatDisks = mkEnableOption ''
      formatting the disks of the disko layout (config.disko.devices) on boot when every one
      of them is blank. A disk carrying any signature is never touched
    '';

    join = {
      enable = mkEnableOption ''
        choosing --initial-cluster-state on boot: "new" while the cluster is being
        bootstrapped, and for a member whose data directory is empty although the cluster
        knows it, replacing it (member remove + member add) and joining as "existing"
      '';

      endpoints = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = literalExpression ''[ "http://10.0.0.12:2379" "http://10.0.0.13:2379" ]'';
        description = "Client URLs of the other members, asked for the member list.";
      };

      etcdctlPackage = mkOption {
        type = types.package;
        default = pkgs.etcd;
        defaultText = literalExpression "pkgs.etcd";
        description = "Package providing etcdctl (Chainfire speaks the etcd v3 API).";
      };

      caFile = mkOption {
        type = types.nullOr types.path;
        default = cfg.trustedCaFile;
        defaultText = literalExpression "config.services.chainfire.trustedCaFile";
        description = "CA for the other members' client certificates (ETCDCTL_CACERT).";
      };

      certFile = mkOption {
        type = types.nullOr types.path;
        default = null;
        description = "Client certificate for membership changes when clientCertAuth is on (ETCDCTL_CERT).";
      };

      keyFile = mkOption {
        type = types.nullOr types.path;
        default = null;
        description = "Key of certFile (ETCDCTL_KEY).";
      };
    };
  };

  config = mkMerge [
    (mkIf (cfg.enable && boot.formatDisks) {
      assertions = [
        {
          assertion = diskDevices != [ ];
          message = "services.chainfire.firstBoot.formatDisks needs a disko layout (disko.devices.disk).";
        }
      ];

      systemd.services.chainfire-format-disks = {
        description = "Format Chainfire's data disk when it is blank";
        unitConfig.DefaultDependencies = false;
        wantedBy = [ "local-fs-pre.target" ];
        before = [ "local-fs-pre.target" ];
        wants = deviceUnits;
        after = deviceUnits;
        path = [ pkgs.util-linux ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = "${pkgs.bash}/bin/bash ${./format-if-blank.sh} ${config.system.build.formatScript} ${concatStringsSep " " diskDevices}";
        };
      };
    })

    (mkIf (cfg.enable && boot.join.enable) {
      assertions = [
        {
          assertion = boot.join.endpoints != [ ];
          message = "services.chainfire.firstBoot.join.endpoints must list the other members' client URLs.";
        }
      ];

      systemd.services.chainfire-join = {
        description = "Decide how this Chainfire member joins its cluster";
        wantedBy = [ "chainfire.service" ];
        before = [ "chainfire.service" ];
        wants = [ "network-online.target" ];
        after = [ "network-online.target" ];
        unitConfig.RequiresMountsFor = [ cfg.dataDir ];
        environment = {
          inherit (config.systemd.services.chainfire.environment)
            CHAINFIRE_NAME
            CHAINFIRE_DATA_DIR
            CHAINFIRE_INITIAL_ADVERTISE_PEER_URLS
            ;
          JOIN_ENDPOINTS = concatStringsSep "," boot.join.endpoints;
          JOIN_ENV_FILE = joinEnvFile;
          ETCDCTL = "${boot.join.etcdctlPackage}/bin/etcdctl";
        }
        // lib.filterAttrs (_: v: v != null) {
          ETCDCTL_CACERT = boot.join.caFile;
          ETCDCTL_CERT = boot.join.certFile;
          ETCDCTL_KEY = boot.join.keyFile;
        };
        path = [
          pkgs.coreutils
          pkgs.findutils
          pkgs.gawk
          pkgs.gnugrep
          pkgs.gnused
        ];
        # No quorum yet (or a peer rebooting): try again rather than guess, inside the
        # unit, so chainfire.service (ordered after it) simply waits for the decision.
        script = ''
          until ${getExe pkgs.bash} ${./chainfire-join.sh}; do
            echo "chainfire-join: retrying in 10s" >&2
            sleep 10
          done
        '';
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          TimeoutStartSec = "infinity";
        };
      };

      systemd.services.chainfire = {
        requires = [ "chainfire-join.service" ];
        after = [ "chainfire-join.service" ];
        serviceConfig.EnvironmentFile = "-${joinEnvFile}";
      };
    })
  ];
}
