#!/usr/bin/env bash
# First boot, step 1: lay out the disks with disko's format script, but only when every
# disk of the layout is blank. A disk that carries any signature (a partition table, a
# filesystem, RAID or LVM metadata) is never touched, so this is safe on every boot.
#
# usage: format-if-blank.sh FORMAT_SCRIPT DEVICE...
# env:   WAIT_SECONDS  how long to wait for each device to appear (default 120)
#
# Exit 0: formatted now, or every disk already carries data (nothing to do).
# Exit 1: some disks are blank and others are not (half provisioned: an operator decides),
#         a device never appeared, or the format script failed.
set -euo pipefail

log() { printf 'chainfire-format-disks: %s\n' "$*" >&2; }

if [ "$#" -lt 2 ]; then
  log "usage: $0 FORMAT_SCRIPT DEVICE..."
  exit 2
fi
format_script=$1
shift
wait_seconds=${WAIT_SECONDS:-120}

# blkid -p probes the device itself (no cache): exit 0 = a signature was found,
# exit 2 = nothing found, anything else = the probe failed.
has_signature() {
  local rc=0
  blkid -p -o export "$1" >/dev/null 2>&1 || rc=$?
  case $rc in
    0) return 0 ;;
    2) return 1 ;;
    *)
      log "blkid -p $1 failed (exit $rc)"
      exit 1
      ;;
  esac
}

blank=()
used=()
for device in "$@"; do
  waited=0
  while [ ! -e "$device" ]; do
    if [ "$waited" -ge "$wait_seconds" ]; then
      log "$device did not appear within ${wait_seconds}s"
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  if has_signature "$device"; then used+=("$device"); else blank+=("$device"); fi
done

if [ "${#blank[@]}" -eq 0 ]; then
  log "every disk already carries data (${used[*]}): nothing to format"
  exit 0
fi
if [ "${#used[@]}" -gt 0 ]; then
  log "refusing to format: blank ${blank[*]} but already in use ${used[*]}; fix by hand"
  exit 1
fi
log "blank disks ${blank[*]}: running ${format_script}"
"$format_script"
log "formatted ${blank[*]}"
