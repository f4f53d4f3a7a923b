#!/usr/bin/env bash
# Build the Chainfire image with podman on a machine that reaches Debian's and npm's
# package mirrors but no container registry:
#
#   1. make node:20-slim locally: a `debootstrap --variant=minbase bookworm` rootfs with
#      this machine's Node 20 (node + npm), its CA bundle (so npm and apt inside the build
#      trust what this machine trusts), a `node` user (uid 1000) and `podman import`
#      (skipped when the image exists; --rebuild-base forces it)
#   2. podman build --pull=never --network=host --format docker of deploy/Dockerfile as
#      localhost/chainfire:dev (host networking: no netavark/iptables needed in a VM;
#      docker format: OCI images drop HEALTHCHECK; NPM_INSTALL=install by default, as the
#      package mirror here lacks optional packages the lockfile names — set NPM_INSTALL=ci
#      where the public registry is reachable)
#
# usage: deploy/podman/build-image.sh [--rebuild-base] [TAG]     (run as root)
# needs: podman, runc, debootstrap, iptables (apt-get install -y podman runc debootstrap
#        iptables), node 20
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
base=docker.io/library/node:20-slim
rebuild_base=false
tag=localhost/chainfire:dev
for arg in "$@"; do
  case $arg in
    --rebuild-base) rebuild_base=true ;;
    -*) echo "usage: $0 [--rebuild-base] [TAG]" >&2; exit 2 ;;
    *) tag=$arg ;;
  esac
done
export CONTAINERS_CONF=${CONTAINERS_CONF:-$repo/deploy/podman/containers.conf}

for tool in podman debootstrap node; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install -y podman runc debootstrap iptables" >&2; exit 1; }
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" = 20 ] || { echo "need Node 20 on this machine (found $(node -v))" >&2; exit 1; }

if $rebuild_base || ! podman image exists "$base"; then
  work=$(mktemp -d /var/tmp/chainfire-base.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  echo "podman: debootstrap bookworm into $work/rootfs" >&2
  debootstrap --variant=minbase --include=ca-certificates bookworm "$work/rootfs" \
    >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  # Node and npm as node:20-slim has them: /usr/local/bin/{node,npm,npx}.
  npm_dir=$(npm root -g)/npm
  install -m 0755 "$(command -v node)" "$work/rootfs/usr/local/bin/node"
  mkdir -p "$work/rootfs/usr/local/lib/node_modules"
  cp -r "$npm_dir" "$work/rootfs/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$work/rootfs/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$work/rootfs/usr/local/bin/npx"
  chroot "$work/rootfs" sh -c 'groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node'
  cp /etc/ssl/certs/ca-certificates.crt "$work/rootfs/etc/ssl/certs/ca-certificates.crt"
  chroot "$work/rootfs" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin \
    node -e 'console.log("node", process.version, "runs in the base")'
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
  tar -C "$work/rootfs" -c . |
    podman import --change 'CMD ["node"]' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' - "$base"
fi

echo "podman: building $tag" >&2
podman build --pull=never --network=host --format docker \
  --build-arg NPM_INSTALL="${NPM_INSTALL:-install}" --ignorefile "$repo/deploy/Dockerfile.dockerignore" \
  -f "$repo/deploy/Dockerfile" -t "$tag" "$repo"
echo "$tag"
