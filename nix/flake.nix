# Chainfire for Nix users: the package, the NixOS modules, and the node01..node03 hosts as
# netboot images (or disk installs for nixos-anywhere), with QEMU launchers for trials.
#
#   nix build ./nix#chainfire               the package (bin/chainfire, bin/chainfirectl)
#   nix build ./nix#netboot-node01          bzImage + initrd + netboot.ipxe for node01
#   nix build ./nix#netboot-all             all three, plus boot.ipxe choosing by MAC
#   nix run   ./nix#node01                  boot node01 in QEMU from its netboot image
#   nixos-anywhere --flake ./nix#node01-installed root@<host>
#
# The flake lives in nix/ and builds the repository around it (package.nix takes ../.).
{
  description = "Chainfire: package, NixOS module, netboot image and the node01..node03 hosts";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";
    disko = {
      url = "github:nix-community/disko";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      disko,
    }:
    let
      inherit (nixpkgs) lib;
      system = "x86_64-linux";
      pkgs = nixpkgs.legacyPackages.${system};
      cluster = import ./hosts/cluster.nix;
      hosts = builtins.attrNames cluster.members;

      hostModules = name: [
        disko.nixosModules.disko
        (./hosts + "/${name}/configuration.nix")
        (./hosts + "/${name}/disko.nix")
        { services.chainfire.package = self.packages.${system}.chainfire; }
      ];
      netbootHost =
        name:
        lib.nixosSystem {
          inherit system;
          modules = [ ./netboot-base.nix ] ++ hostModules name;
        };
      installedHost =
        name:
        lib.nixosSystem {
          inherit system;
          modules = [ ./installed.nix ] ++ hostModules name;
        };

      netboot = name: self.nixosConfigurations.${name}.config.system.build.netboot;
      diskBus =
        name:
        if lib.hasPrefix "/dev/nvme" self.nixosConfigurations.${name}.config.disko.devices.disk.data.device then
          "nvme"
        else
          "sata";

      # Serve netboot-all over HTTP or TFTP and chain boot.ipxe from DHCP: each host boots
      # the directory named after it, chosen by the MAC of the NIC it booted from.
      bootIpxe = pkgs.writeText "boot.ipxe" ''
        #!ipxe
        ${lib.concatMapStrings (name: ''
          iseq ''${net0/mac} ${cluster.members.${name}.mac} && chain ${name}/netboot.ipxe ||
        '') hosts}
        echo No Chainfire host has MAC ''${net0/mac}: add it to nix/hosts/cluster.nix
        shell
      '';

      launcher =
        name:
        pkgs.writeShellApplication {
          name = "run-${name}";
          runtimeInputs = [
            pkgs.qemu_kvm
            pkgs.coreutils
            pkgs.gnused
          ];
          text = ''
            export NETBOOT_DIR=${netboot name}
            export NODE_MAC=${cluster.members.${name}.mac}
            export NODE_DISK_BUS=${diskBus name}
            exec ${pkgs.bash}/bin/bash ${./launch/run-node.sh} ${name} "$@"
          '';
        };
    in
    {
      packages.${system} =
        {
          chainfire = pkgs.callPackage ./package.nix { };
          default = self.packages.${system}.chainfire;
          netboot-all = pkgs.runCommand "chainfire-netboot-all" { } ''
            mkdir -p $out
            ${lib.concatMapStrings (name: ''
              ln -s ${netboot name} $out/${name}
            '') hosts}
            cp ${bootIpxe} $out/boot.ipxe
          '';
        }
        // lib.listToAttrs (map (name: lib.nameValuePair "netboot-${name}" (netboot name)) hosts);

      nixosModules = {
        chainfire = ./modules/chainfire.nix;
        first-boot = ./modules/first-boot.nix;
        netboot-base = ./netboot-base.nix;
        default = self.nixosModules.chainfire;
      };

      nixosConfigurations =
        lib.genAttrs hosts netbootHost
        // lib.listToAttrs (map (name: lib.nameValuePair "${name}-installed" (installedHost name)) hosts);

      apps.${system} = lib.genAttrs hosts (name: {
        type = "app";
        program = lib.getExe (launcher name);
      });

      checks.${system} =
        {
          chainfire = self.packages.${system}.chainfire;
        }
        // lib.genAttrs hosts (name: self.nixosConfigurations.${name}.config.system.build.toplevel);

      formatter.${system} = pkgs.nixfmt-rfc-style;
    };
}
