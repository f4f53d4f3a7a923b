# What every netbooted member runs: a kernel + initrd (the whole system in a squashfs,
# root in RAM) + an iPXE script, SSH with key authentication only, the chainfire package
# and the first-boot automation (modules/first-boot.nix). A host adds its name, address,
# disk layout and cluster settings (hosts/nodeNN/).
#
# config.system.build.netboot is one directory with bzImage, initrd and netboot.ipxe.
{
  config,
  lib,
  pkgs,
  modulesPath,
  ...
}:

let
  inherit (lib) mkDefault;
  cluster = import ./hosts/cluster.nix;
in
{
  imports = [
    (modulesPath + "/installer/netboot/netboot.nix")
    (modulesPath + "/profiles/minimal.nix")
    ./modules/chainfire.nix
    ./modules/first-boot.nix
  ];

  assertions = [
    {
      assertion = config.users.users.root.openssh.authorizedKeys.keys != [ ];
      message = "Add at least one SSH public key to sshAuthorizedKeys in nix/hosts/cluster.nix: the hosts accept key authentication only.";
    }
  ];

  # SSH: keys only, no passwords anywhere, no interactive accounts besides root.
  services.openssh = {
    enable = true;
    openFirewall = true;
    settings = {
      PasswordAuthentication = false;
      KbdInteractiveAuthentication = false;
      PermitRootLogin = "prohibit-password";
    };
  };
  users.mutableUsers = false;
  users.users.root = {
    hashedPassword = "!";
    openssh.authorizedKeys.keys = cluster.sshAuthorizedKeys;
  };

  networking.useNetworkd = true;
  networking.useDHCP = mkDefault true;
  networking.firewall.enable = true;
  systemd.network.wait-online.anyInterface = true;
  services.timesyncd.enable = true;

  boot.kernelParams = [
    "console=tty0"
    "console=ttyS0,115200"
  ];

  environment.systemPackages = [
    config.services.chainfire.package
    pkgs.etcd # etcdctl, for the operator and for first-boot joins
    pkgs.jq
  ];

  system.build.netboot = pkgs.symlinkJoin {
    name = "netboot-${config.networking.hostName}";
    paths = [
      config.system.build.kernel
      config.system.build.netbootRamdisk
      config.system.build.netbootIpxeScript
    ];
  };

  system.stateVersion = "25.05";
}
