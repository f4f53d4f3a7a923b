# Evaluates Chainfire's NixOS modules with our stub lib (stub-lib.nix: its own small
# evalModules, no nixpkgs code), the option stubs of nixos-stub.nix and fake packages, and
# returns plain data for test/deploy/nix.test.ts:
#
#   nix-instantiate --eval --strict --json test/deploy/nix/eval.nix -A hosts
#   nix-instantiate --eval --strict --json test/deploy/nix/eval.nix -A options
#   nix-instantiate --eval --strict --json test/deploy/nix/eval.nix \
#     --arg extra '{ services.chainfire.enable = true; }' -A custom
#
# Where nixpkgs is at hand, `--arg lib '(import <nixpkgs> { }).lib'` evaluates the same
# systems with the real module system, for comparison.
{
  repo ? ../../..,
  extra ? { },
  lib ? import ./stub-lib.nix,
}:

let
  nixDir = repo + "/nix";

  fake = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
    meta.mainProgram = name;
  };
  pkgs =
    lib.genAttrs [
      "bash"
      "coreutils"
      "etcd"
      "findutils"
      "gawk"
      "gnugrep"
      "gnused"
      "jq"
      "util-linux"
    ] fake
    // {
      callPackage = _fn: _args: fake "chainfire";
      symlinkJoin = args: fake args.name;
    };
  utils.escapeSystemdPath = s: lib.replaceStrings [ "/" "-" ] [ "-" "\\x2d" ] (lib.removePrefix "/" s);

  evalWith =
    modules:
    lib.evalModules {
      specialArgs = {
        inherit pkgs utils;
        modulesPath = ./modules-stub;
      };
      modules = [
        ./nixos-stub.nix
        { config.system.build.formatScript = fake "disko-format"; }
      ]
      ++ modules;
    };

  # What the tests read from one evaluated system.
  summary =
    eval:
    let
      c = eval.config;
      service = name: c.systemd.services.${name} or null;
    in
    {
      hostName = c.networking.hostName;
      failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) c.assertions);
      chainfire = service "chainfire";
      join = service "chainfire-join";
      formatDisks = service "chainfire-format-disks";
      firewallTCP = c.networking.firewall.allowedTCPPorts;
      users = lib.mapAttrs (_: u: { inherit (u) isSystemUser group; }) (
        lib.filterAttrs (n: _: n == "chainfire") c.users.users
      );
      rootKeys = (c.users.users.root or { openssh.authorizedKeys.keys = [ ]; }).openssh.authorizedKeys.keys;
      ssh = c.services.openssh;
      networks = c.systemd.network.networks;
      disko = c.disko.devices;
    };

  host =
    base: name:
    evalWith [
      base
      (nixDir + "/hosts/${name}/configuration.nix")
      (nixDir + "/hosts/${name}/disko.nix")
    ];
  hostNames = builtins.attrNames (import (nixDir + "/hosts/cluster.nix")).members;

  moduleOnly = evalWith [
    (nixDir + "/modules/chainfire.nix")
    (nixDir + "/modules/first-boot.nix")
    { networking.hostName = "m1"; }
    extra
  ];

  describeOption = o: {
    type = o.type.description;
    default = if o ? default then o.default else null;
    hasDefault = o ? default;
  };
in
{
  hosts = lib.genAttrs hostNames (name: summary (host (nixDir + "/netboot-base.nix") name));
  installed = lib.genAttrs hostNames (name: summary (host (nixDir + "/installed.nix") name));
  options =
    let
      opts = moduleOnly.options.services.chainfire;
    in
    lib.mapAttrs (_: describeOption) (builtins.removeAttrs opts [ "firstBoot" ])
    // {
      firstBoot = {
        formatDisks = describeOption opts.firstBoot.formatDisks;
        join = lib.mapAttrs (_: describeOption) opts.firstBoot.join;
      };
    };
  custom = summary moduleOnly;

  # nix/flake.nix's outputs with stand-in inputs: which hosts, packages, apps and modules
  # it exposes, and which files each nixosConfiguration is made of.
  flake =
    let
      flakeFile = import (nixDir + "/flake.nix");
      nixpkgs = {
        lib = lib // {
          nixosSystem = args: args;
        };
        legacyPackages.x86_64-linux = pkgs;
      };
      disko.nixosModules.disko = "disko-module";
      outputs = flakeFile.outputs {
        inherit nixpkgs disko;
        self = outputs;
      };
      describeModule = m: if builtins.isPath m then lib.removePrefix (toString repo + "/") (toString m) else if builtins.isString m then m else "<inline>";
    in
    {
      inputs = builtins.attrNames flakeFile.inputs;
      outputArgs = builtins.attrNames (builtins.functionArgs flakeFile.outputs);
      packages = builtins.attrNames outputs.packages.x86_64-linux;
      apps = builtins.attrNames outputs.apps.x86_64-linux;
      nixosModules = lib.mapAttrs (_: describeModule) outputs.nixosModules;
      nixosConfigurations = lib.mapAttrs (_: c: map describeModule c.modules) outputs.nixosConfigurations;
    };
}
