# For hosts that cannot PXE boot: the same member installed on its disk with
# nixos-anywhere (nixosConfigurations.nodeNN-installed). The netboot module is dropped;
# the host's disko layout gains an ESP and a root partition in front of the data
# partition, and systemd-boot boots it. nixos-anywhere partitions the disk (destroying
# what is on it) before installing.
{
  lib,
  modulesPath,
  ...
}:

let
  inherit (lib) mkForce;
in
{
  imports = [ ./netboot-base.nix ];
  disabledModules = [ (modulesPath + "/installer/netboot/netboot.nix") ];

  disko.devices.disk.data.content.partitions = {
    ESP = {
      type = "EF00";
      size = "1G";
      content = {
        type = "filesystem";
        format = "vfat";
        mountpoint = "/boot";
        mountOptions = [ "umask=0077" ];
      };
    };
    root = {
      size = "64G";
      content = {
        type = "filesystem";
        format = "ext4";
        mountpoint = "/";
      };
    };
  };

  boot.loader.systemd-boot.enable = true;
  boot.loader.efi.canTouchEfiVariables = true;
  boot.initrd.availableKernelModules = [
    "nvme"
    "ahci"
    "sd_mod"
    "xhci_pci"
    "virtio_pci"
    "virtio_blk"
  ];
  # Nothing to netboot: the system.build.netboot output of netboot-base stays unused.
  system.build.netboot = mkForce null;
}
