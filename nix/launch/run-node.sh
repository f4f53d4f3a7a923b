#!/usr/bin/env bash
# Boot one of node01..node03 in QEMU from its netboot image, for local trials.
#
#   nix run ./nix#node01                  (the flake sets NETBOOT_DIR, NODE_MAC, NODE_DISK_BUS)
#   NETBOOT_DIR=$(nix build --no-link --print-out-paths ./nix#netboot-node02) \
#     nix/launch/run-node.sh node02 [--pxe] [--fresh] [--dry-run]
#
# Each VM gets two NICs: a user-mode NIC (DHCP from QEMU; SSH on 127.0.0.1:222N, the
# client port on 127.0.0.1:2379N — e.g. node02 → 2222 and 23792) and a cluster NIC with
# the MAC from nix/hosts/cluster.nix on a multicast socket shared by the three VMs, where
# the hosts' static addresses live. The data disk is a qcow2 under $VM_DIR (default
# ./.vm), blank on the first run, so the first boot formats it and later boots keep it.
#
#   default  direct kernel boot: -kernel bzImage -initrd initrd, init= from netboot.ipxe
#   --pxe    the real path: QEMU's iPXE fetches netboot.ipxe over TFTP (slow: the initrd
#            holds the whole system)
#   --fresh  throw the data disk away first (a replaced host)
#   --dry-run print the QEMU command line and exit
set -euo pipefail

usage() {
  echo "usage: $0 node01|node02|node03 [--pxe] [--fresh] [--dry-run]" >&2
  exit 2
}
[ "$#" -ge 1 ] || usage
node=$1
shift
case $node in
  node0[1-9]) index=${node#node0} ;;
  *) usage ;;
esac
pxe=false fresh=false dry_run=false
for arg in "$@"; do
  case $arg in
    --pxe) pxe=true ;;
    --fresh) fresh=true ;;
    --dry-run) dry_run=true ;;
    *) usage ;;
  esac
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${NETBOOT_DIR:?set NETBOOT_DIR to the output of nix build ./nix#netboot-$node}"
for file in bzImage initrd netboot.ipxe; do
  [ -e "$NETBOOT_DIR/$file" ] || {
    echo "$NETBOOT_DIR/$file is missing: is NETBOOT_DIR a netboot-$node build?" >&2
    exit 1
  }
done

# MAC and disk bus from the host's Nix files unless the flake passed them.
if [ -z "${NODE_MAC:-}" ] || [ -z "${NODE_DISK_BUS:-}" ]; then
  command -v nix-instantiate >/dev/null || {
    echo "set NODE_MAC and NODE_DISK_BUS, or install nix-instantiate" >&2
    exit 1
  }
  eval_nix() { nix-instantiate --eval --strict --json -E "$1" 2>/dev/null | tr -d '"'; }
  NODE_MAC=${NODE_MAC:-$(eval_nix "(import $here/../hosts/cluster.nix).members.$node.mac")}
  device=$(eval_nix "(import $here/../hosts/$node/disko.nix).disko.devices.disk.data.device")
  case $device in
    /dev/nvme*) NODE_DISK_BUS=${NODE_DISK_BUS:-nvme} ;;
    *) NODE_DISK_BUS=${NODE_DISK_BUS:-sata} ;;
  esac
fi

vm_dir=${VM_DIR:-./.vm}
disk=$vm_dir/$node-data.qcow2
ssh_port=$((2220 + index))
client_port=$((23790 + index))
mem=${VM_MEMORY:-3072}
mcast=${VM_MCAST:-230.0.0.1:21380}

# The kernel command line netboot.ipxe would use, minus iPXE's own bits.
# shellcheck disable=SC2016 # ${cmdline} is iPXE's, not ours
kernel_line=$(sed -n 's/^kernel [^ ]* //p' "$NETBOOT_DIR/netboot.ipxe" |
  sed -e 's/initrd=[^ ]*//' -e 's/\${cmdline}//' -e 's/  */ /g' -e 's/ *$//')

# shellcheck disable=SC2054 # commas inside QEMU option values
args=(
  -name "$node" -machine q35,accel=kvm:tcg -cpu max -smp 2 -m "$mem" -nographic
  -netdev "user,id=mgmt,hostname=$node,tftp=$NETBOOT_DIR,bootfile=netboot.ipxe,hostfwd=tcp:127.0.0.1:$ssh_port-:22,hostfwd=tcp:127.0.0.1:$client_port-:2379"
  -device "virtio-net-pci,netdev=mgmt,bootindex=1"
  -netdev "socket,id=cluster,mcast=$mcast,localaddr=127.0.0.1"
  -device "virtio-net-pci,netdev=cluster,mac=$NODE_MAC"
  -drive "file=$disk,if=none,id=data,format=qcow2"
)
case $NODE_DISK_BUS in
  nvme) args+=(-device "nvme,drive=data,serial=chainfire-$node") ;;
  sata) args+=(-device "ahci,id=ahci" -device "ide-hd,drive=data,bus=ahci.0") ;;
  *)
    echo "NODE_DISK_BUS must be nvme or sata, not $NODE_DISK_BUS" >&2
    exit 1
    ;;
esac
if ! $pxe; then
  args+=(-kernel "$NETBOOT_DIR/bzImage" -initrd "$NETBOOT_DIR/initrd" -append "$kernel_line")
fi

if $dry_run; then
  printf '%q ' qemu-system-x86_64 "${args[@]}"
  echo
  exit 0
fi

mkdir -p "$vm_dir"
if $fresh; then rm -f "$disk"; fi
[ -e "$disk" ] || qemu-img create -q -f qcow2 "$disk" 16G
echo "$node: ssh -p $ssh_port root@127.0.0.1 · etcdctl --endpoints=127.0.0.1:$client_port" >&2
exec qemu-system-x86_64 "${args[@]}"
