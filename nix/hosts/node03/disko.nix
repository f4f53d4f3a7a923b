# node03's disk: one SATA drive, GPT, one ext4 partition for Chainfire's data. The root
# filesystem is in RAM (netboot), so this is the only state the host keeps.
{
  disko.devices.disk.data = {
    type = "disk";
    device = "/dev/sda";
    content = {
      type = "gpt";
      partitions.chainfire = {
        size = "100%";
        content = {
          type = "filesystem";
          format = "ext4";
          extraArgs = [
            "-L"
            "chainfire"
          ];
          mountpoint = "/var/lib/chainfire";
          mountOptions = [
            "noatime"
            "nofail"
          ];
        };
      };
    };
  };
}
