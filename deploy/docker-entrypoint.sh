#!/bin/sh
# Container entrypoint (under tini): apply the join decision of chainfire-join.sh when
# one was made (Kubernetes init container; JOIN_ENV_FILE), then run the member
# or any `chainfire` subcommand given as arguments.
set -eu
if [ -n "${JOIN_ENV_FILE:-}" ] && [ -s "$JOIN_ENV_FILE" ]; then
  set -a
  # shellcheck disable=SC1090 # written by chainfire-join.sh: NAME=value lines
  . "$JOIN_ENV_FILE"
  set +a
fi
exec node /app/packages/server/dist/cli/main.js "$@"
