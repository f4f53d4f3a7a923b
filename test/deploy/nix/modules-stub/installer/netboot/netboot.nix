# Stands in for nixpkgs/nixos/modules/installer/netboot/netboot.nix.
{ }
