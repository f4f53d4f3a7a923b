# node02: static address, hostname and its Chainfire member. The cluster-wide values
# (addresses, token, initial cluster) come from ../cluster.nix, so the three hosts agree.
{ ... }:

let
  cluster = import ../cluster.nix;
  name = "node02";
  self = cluster.members.${name};
in
{
  networking.hostName = name;
  networking.domain = "chainfire.internal";

  # The cluster NIC is found by MAC address and gets its static address; any other NIC
  # (a management network, QEMU's user network) falls back to DHCP.
  systemd.network.networks."10-cluster" = {
    matchConfig.MACAddress = self.mac;
    address = [ "${self.address}/${toString cluster.prefixLength}" ];
    gateway = [ cluster.gateway ];
    dns = cluster.nameservers;
    networkConfig.LinkLocalAddressing = "no";
  };

  services.chainfire = {
    enable = true;
    inherit name;
    listenClientUrls = [ "http://0.0.0.0:2379" ];
    advertiseClientUrls = [ (cluster.clientUrl name) ];
    listenPeerUrls = [ "http://0.0.0.0:2380" ];
    initialAdvertisePeerUrls = [ (cluster.peerUrl name) ];
    listenMetricsUrls = [ "http://0.0.0.0:2381" ];
    initialCluster = cluster.initialCluster;
    initialClusterToken = cluster.token;
    openFirewall = true;

    firstBoot = {
      formatDisks = true;
      join = {
        enable = true;
        endpoints = cluster.endpointsExcept name;
      };
    };
  };
}
