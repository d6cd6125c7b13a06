#!/usr/bin/env bash
# make-certs.sh DIR [IDS] [ADMINS] [READERS]: a CA and certificates for mutual TLS between
# members and for the API's clients, with the openssl command line (tests and small deployments).
#   IDS     member ids, comma-separated, each optionally =IP for its subjectAltName
#           (default 1,2,3; IP 127.0.0.1): member-<id>.crt/.key with CN member-<id>
#   ADMINS  admin client names, comma-separated (default admin): <name>.crt/.key with CN <name>;
#           list them in raft.api.admins
#   READERS read-only client names, comma-separated (default reader; "" for none): the same
#           kind of certificate, left out of raft.api.admins
# DIR gets ca.crt and ca.key (keep ca.key off the members), and the pairs above, keys 0600.
# Existing files are kept: rerun with more ids to add members signed by the same CA.
# Example: tools/make-certs.sh /etc/raftnode/tls 1=10.0.0.1,2=10.0.0.2,3=10.0.0.3 ops
set -euo pipefail
dir=${1:?usage: make-certs.sh DIR [IDS] [ADMINS] [READERS]}
ids=${2:-1,2,3}
admins=${3:-admin}
readers=${4-reader}
days=${CERT_DAYS:-825}
command -v openssl >/dev/null || { echo "make-certs.sh: openssl not found (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$dir"
umask 077
cd "$dir"
if [ ! -f ca.key ] || [ ! -f ca.crt ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days "$days" \
    -subj "/CN=raftnode-ca" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
# sign NAME CN EXT: NAME.key/NAME.crt signed by the CA with extensions EXT
sign() {
  local name=$1 cn=$2 ext=$3
  [ -f "$name.crt" ] && [ -f "$name.key" ] && return 0
  openssl req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" -subj "/CN=$cn" 2>/dev/null
  printf '%s\n' "$ext" >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$name.crt" \
    -days "$days" -extfile "$name.ext" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}
IFS=, read -ra list <<<"$ids"
for entry in "${list[@]}"; do
  id=${entry%%=*}
  ip=127.0.0.1
  [[ $entry == *=* ]] && ip=${entry#*=}
  [[ $id =~ ^[1-9][0-9]*$ ]] || { echo "make-certs.sh: bad member id '$id'" >&2; exit 2; }
  sign "member-$id" "member-$id" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:$ip"
done
IFS=, read -ra list <<<"$admins,$readers"
for name in "${list[@]}"; do
  [ -n "$name" ] || continue
  [[ $name =~ ^[A-Za-z0-9._-]+$ ]] || { echo "make-certs.sh: bad client name '$name'" >&2; exit 2; }
  [[ $name =~ ^member-[0-9]+$ ]] && { echo "make-certs.sh: client name '$name' would pass for a member" >&2; exit 2; }
  sign "$name" "$name" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
done
rm -f ca.srl
chmod 0644 ./*.crt
echo "make-certs.sh: CA and certificates in $dir"
