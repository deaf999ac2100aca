#!/usr/bin/env bash
# Regenerates the identity_pkcs12 seeds (seeds/identity_pkcs12/): `openssl pkcs12 -export`
# archives of the fuzz fixtures' client identity (fixtures/client.pem, client.key; the
# chain seed adds fixtures/ca.pem), one per encryption and MAC openssl offers, each
# prefixed with the harness's password field (a length byte, then the password; see
# `identity_pkcs12` in src/lib.rs). The password is `PKCS12_SEED_PASSWORD` ("fuzz-p12"),
# except `empty-password`. Iteration counts are 1 (`-iter 1` sets both the encryption's and
# the MAC's in OpenSSL 3, like `-noiter -nomaciter`; a MAC count of 1 is the DER default and
# left out) or 2 (one seed, so the MAC's count is written), so each seed costs microseconds
# and stays far under the fuzz build's lowered bound (4,096 per derivation, `cfg(fuzzing)`
# in src/identity/pkcs12.rs). Salts are random: every run writes different bytes. Needs
# OpenSSL 3 with the legacy provider (for `-legacy`).
set -euo pipefail
cd "$(dirname "$0")"
fx=../fixtures
out=identity_pkcs12
password=fuzz-p12
mkdir -p "$out"
seed() { # name password openssl-args...
  local name=$1 pw=$2
  shift 2
  {
    printf "\\x$(printf %02x "${#pw}")%s" "$pw"
    openssl pkcs12 -export -in "$fx/client.pem" -inkey "$fx/client.key" -name fuzz-client \
      -passout "pass:$pw" "$@"
  } >"$out/$name"
  printf '%-16s %5d bytes\n' "$name" "$(wc -c <"$out/$name")"
}
seed default "$password" -iter 1                  # OpenSSL 3: PBES2 AES-256-CBC, HMAC-SHA-256
seed 3des-sha1 "$password" -iter 1 -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1
seed legacy "$password" -iter 1 -legacy           # RC2-40 certificates, 3DES key, SHA-1 MAC
seed nomac "$password" -iter 1 -nomac
seed certpbe-none "$password" -iter 1 -certpbe NONE
seed keybag "$password" -iter 1 -keypbe NONE -certpbe NONE   # plain keyBag, MAC only
seed sha512-mac "$password" -iter 1 -macalg sha512 -keypbe AES-128-CBC
seed sha384-iter2 "$password" -iter 2 -macalg sha384 -keypbe AES-192-CBC -certpbe AES-128-CBC
seed chain "$password" -iter 1 -certfile "$fx/ca.pem"
seed empty-password "" -iter 1
