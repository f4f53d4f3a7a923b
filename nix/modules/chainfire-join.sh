#!/usr/bin/env bash
# First boot, step 2: decide how this member starts, before chainfire.service runs.
#
#   data dir holds member data        -> start as before (nothing to decide)
#   a previous run decided "existing"  -> reuse that decision (reboot before first start)
#   no other member answers            -> "new": the first bootstrap of the cluster
#   the cluster lists this member as
#     unstarted                        -> "new": the bootstrap is still under way
#   the cluster lists this member as
#     started, or not at all           -> replacement: remove the old member (by peer
#                                         URL), add this one, start "existing" with the
#                                         initial cluster that `member add` printed
#
# The decision goes to $JOIN_ENV_FILE (CHAINFIRE_INITIAL_CLUSTER_STATE and, on a
# replacement, CHAINFIRE_INITIAL_CLUSTER), read by chainfire.service as an
# EnvironmentFile, and for "existing" also to $CHAINFIRE_DATA_DIR/.chainfire-join so a
# reboot before the member wrote any data repeats it instead of re-adding the member.
# $CHAINFIRE_DATA_DIR/.chainfire-join.pending marks a replacement that began: if the boot
# dies between `member add` and the decision, the next boot finds this member unstarted
# but knows it was added to a running cluster, not bootstrapped with it.
#
# env: CHAINFIRE_NAME, CHAINFIRE_DATA_DIR, CHAINFIRE_INITIAL_ADVERTISE_PEER_URLS (first URL
#      is matched), JOIN_ENDPOINTS (comma list of the other members' client URLs),
#      JOIN_ENV_FILE, optional JOIN_COMMAND_TIMEOUT (default 5s), ETCDCTL (default etcdctl);
#      etcdctl reads ETCDCTL_CACERT / ETCDCTL_CERT / ETCDCTL_KEY for TLS itself.
# Exit non-zero when the cluster answers but cannot change membership (no quorum):
# systemd retries, and chainfire.service does not start with a wrong guess.
set -euo pipefail

log() { printf 'chainfire-join: %s\n' "$*" >&2; }
: "${CHAINFIRE_NAME:?}" "${CHAINFIRE_DATA_DIR:?}" "${CHAINFIRE_INITIAL_ADVERTISE_PEER_URLS:?}"
: "${JOIN_ENDPOINTS:?}" "${JOIN_ENV_FILE:?}"
etcdctl=${ETCDCTL:-etcdctl}
timeout=${JOIN_COMMAND_TIMEOUT:-5s}
peer_url=${CHAINFIRE_INITIAL_ADVERTISE_PEER_URLS%%,*}
marker=$CHAINFIRE_DATA_DIR/.chainfire-join
pending=$marker.pending

ctl() {
  ETCDCTL_API=3 "$etcdctl" --endpoints="$JOIN_ENDPOINTS" --dial-timeout=2s \
    --command-timeout="$timeout" "$@"
}

# retry WHAT COMMAND...: a membership change the cluster may refuse for a while (no leader
# yet after a member died; "unhealthy cluster" until every member has been connected a few
# seconds). Beyond JOIN_ATTEMPTS tries, the unit's own loop takes over.
retry() {
  local what=$1 attempt=1
  shift
  until "$@"; do
    if [ "$attempt" -ge "${JOIN_ATTEMPTS:-15}" ]; then
      log "$what failed $attempt times; giving up for now"
      return 1
    fi
    attempt=$((attempt + 1))
    sleep 2
  done
}

# A timed-out removal may still have happened: "member not found" counts as done.
remove_member() {
  local out
  if out=$(ctl member remove "$1" 2>&1); then
    printf '%s\n' "$out" >&2
    return 0
  fi
  printf '%s\n' "$out" >&2
  case $out in *"member not found"*) return 0 ;; esac
  return 1
}

decide() { # state [initial-cluster]
  mkdir -p "$(dirname "$JOIN_ENV_FILE")"
  {
    printf 'CHAINFIRE_INITIAL_CLUSTER_STATE=%s\n' "$1"
    if [ -n "${2:-}" ]; then printf 'CHAINFIRE_INITIAL_CLUSTER=%s\n' "$2"; fi
  } >"$JOIN_ENV_FILE.tmp"
  mv "$JOIN_ENV_FILE.tmp" "$JOIN_ENV_FILE"
  log "decided: initial-cluster-state=$1${2:+ initial-cluster=$2}"
}

mkdir -p "$CHAINFIRE_DATA_DIR"
if find "$CHAINFIRE_DATA_DIR" -mindepth 1 -maxdepth 1 \
  ! -name lost+found ! -name '.chainfire-join*' | grep -q .; then
  log "$CHAINFIRE_DATA_DIR holds member data: starting from it"
  : >"$JOIN_ENV_FILE"
  exit 0
fi
if [ -f "$marker" ]; then
  log "reusing the decision of an earlier boot ($marker)"
  cp "$marker" "$JOIN_ENV_FILE"
  exit 0
fi

# `member list -w simple`: ID, status, name, peer URLs, client URLs, is learner.
if ! members=$(ctl member list -w simple 2>/dev/null); then
  log "no member of $JOIN_ENDPOINTS answers: first bootstrap"
  decide new
  exit 0
fi

line=$(printf '%s\n' "$members" | awk -F', ' -v url="$peer_url" '
  { n = split($4, urls, ","); for (i = 1; i <= n; i++) if (urls[i] == url) { print; exit } }')
if [ -n "$line" ]; then
  id=$(printf '%s\n' "$line" | awk -F', ' '{ print $1 }')
  status=$(printf '%s\n' "$line" | awk -F', ' '{ print $2 }')
  if [ "$status" = unstarted ] && [ -f "$pending" ]; then
    # Added by an earlier boot that died before deciding: the initial cluster is the
    # member list with this (still nameless) member under its own name.
    initial_cluster=$(printf '%s\n' "$members" | awk -F', ' -v url="$peer_url" -v me="$CHAINFIRE_NAME" '
      { split($4, urls, ","); name = ($3 == "" || urls[1] == url) ? me : $3
        out = out (out == "" ? "" : ",") name "=" urls[1] } END { print out }')
    decide existing "$initial_cluster"
    cp "$JOIN_ENV_FILE" "$marker"
    rm -f "$pending"
    exit 0
  fi
  if [ "$status" = unstarted ]; then
    log "member $id ($peer_url) has never started: joining the bootstrap"
    decide new
    exit 0
  fi
  log "member $id ($peer_url) ran before and this data dir is empty: replacing it"
  : >"$pending"
  retry "member remove" remove_member "$id" || exit 1
else
  log "$peer_url is not a member: adding it"
  : >"$pending"
fi

added=
add_member() {
  added=$(ctl member add "$CHAINFIRE_NAME" --peer-urls="$CHAINFIRE_INITIAL_ADVERTISE_PEER_URLS")
}
retry "member add" add_member || exit 1
initial_cluster=$(printf '%s\n' "$added" | sed -n 's/^ETCD_INITIAL_CLUSTER="\(.*\)"$/\1/p')
if [ -z "$initial_cluster" ]; then
  log "member add printed no ETCD_INITIAL_CLUSTER: $added"
  exit 1
fi
decide existing "$initial_cluster"
cp "$JOIN_ENV_FILE" "$marker"
rm -f "$pending"
