#!/usr/bin/env bash
# Boot node03 in QEMU (see run-node.sh): builds its netboot image first.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NETBOOT_DIR=${NETBOOT_DIR:-$(nix build --no-link --print-out-paths "$here/..#netboot-node03")}
export NETBOOT_DIR
exec "$here/run-node.sh" node03 "$@"
