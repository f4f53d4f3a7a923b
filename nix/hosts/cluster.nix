# The node01..node03 cluster: one place for what every host must agree on. Plain Nix (no
# lib, no pkgs) so it also evaluates on its own:
#   nix-instantiate --eval --strict --json -E '(import ./nix/hosts/cluster.nix).initialCluster'
#
# Before the first deployment: put your SSH public keys in sshAuthorizedKeys (the images
# accept key authentication only and refuse to build without a key), and set each host's
# address and the MAC address of its cluster NIC.
let
  members = {
    node01 = {
      address = "10.0.0.11";
      mac = "52:54:00:cf:00:01";
    };
    node02 = {
      address = "10.0.0.12";
      mac = "52:54:00:cf:00:02";
    };
    node03 = {
      address = "10.0.0.13";
      mac = "52:54:00:cf:00:03";
    };
  };
  names = builtins.attrNames members;
  peerUrl = name: "http://${members.${name}.address}:2380";
  clientUrl = name: "http://${members.${name}.address}:2379";
in
{
  inherit members;
  prefixLength = 24;
  gateway = "10.0.0.1";
  nameservers = [ "10.0.0.1" ];
  token = "chainfire-node01-03";

  sshAuthorizedKeys = [
    # "ssh-ed25519 AAAA... operator@example"
  ];

  # name=peer-url for every member, in name order: each host's --initial-cluster.
  initialCluster = map (name: "${name}=${peerUrl name}") names;
  # The other members' client URLs, as seen from `self`.
  endpointsExcept = self: map clientUrl (builtins.filter (n: n != self) names);
  inherit peerUrl clientUrl;
}
