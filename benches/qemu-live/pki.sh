#!/usr/bin/env bash
# Makes the throwaway test PKI in pki/ (committed, so the firmware build is reproducible and
# cached): run from anywhere, it overwrites pki/. Valid for 20 years from the day it is run.
#
# Server side, as public APIs have it: root CA (RSA-2048) -> intermediate CA (RSA-2048) ->
# leaf `localhost` (RSA-2048, serverAuth). nginx sends leaf + intermediate; the firmware
# trusts the root only, so the intermediate must come from the server.
# Client side: client CA (P-256) -> device certificate `CN=qemu-device` (P-256, clientAuth).
# The CA keys are deleted at the end: nothing else can ever be signed with them.
set -euo pipefail
cd "$(dirname "$0")"
out=pki
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
days=7300
q() { "$@" >/dev/null 2>&1; }

# Server root and intermediate.
q openssl req -x509 -newkey rsa:2048 -nodes -days $days -subj "/CN=qemu-live server root" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
  -keyout "$tmp/root.key" -out $out/server-root.pem
q openssl req -newkey rsa:2048 -nodes -subj "/CN=qemu-live server intermediate" \
  -keyout "$tmp/inter.key" -out "$tmp/inter.csr"
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' >"$tmp/inter.ext"
q openssl x509 -req -in "$tmp/inter.csr" -CA $out/server-root.pem -CAkey "$tmp/root.key" \
  -CAcreateserial -days $days -sha256 -extfile "$tmp/inter.ext" -out "$tmp/inter.pem"
# Server leaf (RSA-2048, as public APIs use).
q openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
  -keyout $out/server-key.pem -out "$tmp/leaf.csr"
printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' >"$tmp/leaf.ext"
q openssl x509 -req -in "$tmp/leaf.csr" -CA "$tmp/inter.pem" -CAkey "$tmp/inter.key" \
  -CAcreateserial -days $days -sha256 -extfile "$tmp/leaf.ext" -out "$tmp/leaf.pem"
cat "$tmp/leaf.pem" "$tmp/inter.pem" >$out/server-chain.pem

# Client CA and the device's P-256 certificate.
q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days $days \
  -subj "/CN=qemu-live client CA" -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign -keyout "$tmp/cca.key" -out $out/client-ca.pem
q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=qemu-device" \
  -keyout "$tmp/dev.key" -out "$tmp/dev.csr"
printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n' >"$tmp/dev.ext"
q openssl x509 -req -in "$tmp/dev.csr" -CA $out/client-ca.pem -CAkey "$tmp/cca.key" \
  -CAcreateserial -days $days -sha256 -extfile "$tmp/dev.ext" -out $out/device-cert.pem
openssl pkcs8 -topk8 -nocrypt -in "$tmp/dev.key" -out $out/device-key.pem
rm -f $out/*.srl
ls -l $out
