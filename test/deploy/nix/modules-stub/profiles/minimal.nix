# Stands in for nixpkgs/nixos/modules/profiles/minimal.nix.
{ }
