#!/usr/bin/env bash
# Makes a development CA and certificates for a Chainfire cluster (openssl).
#
#   deploy/tls/gen-dev-certs.sh OUT_DIR [MEMBER...]
#
# Members default to node01 node02 node03. Writes into OUT_DIR:
#   ca.pem ca-key.pem              the CA (keep ca-key.pem secret, or delete it)
#   <member>.pem <member>-key.pem  server + peer certificate of each member, valid as TLS
#                                  server and client, SANs: <member>, localhost, 127.0.0.1
#   client.pem client-key.pem      a client certificate with CN "root" (CLIENT_CN overrides)
# Optional environment: DAYS (validity, default 365), EXTRA_SANS (comma-separated, e.g.
# "DNS:chainfire.example.org,IP:10.0.0.5", added to every member certificate).
# For development and tests only: keys are unencrypted and the CA is local.
set -euo pipefail

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
out=$1
shift
members=("$@")
if [ ${#members[@]} -eq 0 ]; then members=(node01 node02 node03); fi
days=${DAYS:-365}
client_cn=${CLIENT_CN:-root}
extra=${EXTRA_SANS:-}

command -v openssl >/dev/null || { echo "gen-dev-certs: openssl is not installed" >&2; exit 1; }
mkdir -p "$out"
umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "gen-dev-certs: CA"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$out/ca-key.pem" -out "$out/ca.pem" -days "$days" \
  -subj "/O=chainfire-dev/CN=chainfire-dev-ca" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

# sign NAME CN SANS: NAME.pem / NAME-key.pem signed by the CA.
sign() {
  local name=$1 cn=$2 sans=$3
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    if [ -n "$sans" ]; then echo "subjectAltName=$sans"; fi
  } > "$tmp/$name.ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$out/$name-key.pem" -out "$tmp/$name.csr" -subj "/O=chainfire-dev/CN=$cn" 2>/dev/null
  openssl x509 -req -in "$tmp/$name.csr" -CA "$out/ca.pem" -CAkey "$out/ca-key.pem" \
    -CAcreateserial -CAserial "$tmp/ca.srl" -out "$out/$name.pem" -days "$days" \
    -extfile "$tmp/$name.ext" 2>/dev/null
}

for m in "${members[@]}"; do
  echo "gen-dev-certs: member $m"
  sans="DNS:$m,DNS:localhost,IP:127.0.0.1"
  if [ -n "$extra" ]; then sans="$sans,$extra"; fi
  sign "$m" "$m" "$sans"
done
echo "gen-dev-certs: client $client_cn"
sign client "$client_cn" ""
chmod 644 "$out"/*.pem
chmod 600 "$out"/*-key.pem
echo "gen-dev-certs: wrote $out"
