# The few NixOS options Chainfire's modules and hosts set, declared with the types NixOS
# gives them (lists that merge, attrs of submodules), and nothing else. Evaluated with
# stub-lib.nix's evalModules, this catches what NixOS would: a misspelt option, a wrong
# type, conflicting definitions. Upstream modules (openssh, networkd, disko, netboot) are
# reduced to loose "anything" options: their own checks need nixpkgs.
{ lib, ... }:

let
  inherit (lib) mkOption types;
  loose = mkOption {
    type = types.attrsOf types.anything;
    default = { };
  };
  list = elem: mkOption {
    type = types.listOf elem;
    default = [ ];
  };
  unit = types.submodule {
    options = {
      description = mkOption { type = types.str; default = ""; };
      wantedBy = list types.str;
      requiredBy = list types.str;
      wants = list types.str;
      requires = list types.str;
      after = list types.str;
      before = list types.str;
      path = list types.package;
      script = mkOption { type = types.lines; default = ""; };
      environment = mkOption {
        type = types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ]));
        default = { };
      };
      unitConfig = loose;
      serviceConfig = loose;
      startLimitIntervalSec = mkOption { type = types.nullOr types.int; default = null; };
    };
  };
  user = types.submodule {
    freeformType = types.attrsOf types.anything;
    options.openssh.authorizedKeys.keys = list types.str;
  };
in
{
  options = {
    assertions = list types.unspecified;
    warnings = list types.str;
    networking = {
      hostName = mkOption { type = types.str; default = "nixos"; };
      domain = mkOption { type = types.nullOr types.str; default = null; };
      useNetworkd = mkOption { type = types.bool; default = false; };
      useDHCP = mkOption { type = types.bool; default = true; };
      firewall = {
        enable = mkOption { type = types.bool; default = true; };
        allowedTCPPorts = list types.port;
      };
    };
    systemd = {
      services = mkOption { type = types.attrsOf unit; default = { }; };
      network = {
        networks = loose;
        wait-online = loose;
      };
    };
    users = {
      mutableUsers = mkOption { type = types.bool; default = true; };
      users = mkOption { type = types.attrsOf user; default = { }; };
      groups = mkOption { type = types.attrsOf (types.attrsOf types.anything); default = { }; };
    };
    services = {
      openssh = loose;
      timesyncd = loose;
    };
    environment.systemPackages = list types.package;
    boot = {
      kernelParams = list types.str;
      loader = loose;
      initrd = loose;
    };
    system = {
      build = mkOption { type = types.lazyAttrsOf types.unspecified; default = { }; };
      stateVersion = mkOption { type = types.str; default = ""; };
    };
    disko.devices = mkOption { type = types.anything; default = { }; };
  };
}
