#!/usr/bin/env bash
# The tests' one command. On a fresh machine it first installs or builds what the tests
# talk to, saying in one line what and why, then runs every test of the workspace:
#
#   bash scripts/test.sh [extra cargo test arguments]
#
# Needs Rust (rustup) and python3; installs Debian packages as root or through sudo.
# Each step is skipped when its result is already there, so a second run goes straight
# to the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'test setup: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    say "cannot run '$*': not root and no sudo; install the packages named above, then run this again"
    exit 1
  fi
}

# Debian packages for the real peers the tests run on loopback.
packages=()
reasons=()
if ! command -v openssl >/dev/null; then
  packages+=(openssl); reasons+=("openssl (s_server peers, encrypted-key fixtures)")
fi
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  packages+=(nginx-light); reasons+=("nginx (a server with ssl_verify_client on)")
fi
if [ ! -x /usr/sbin/apache2 ] && [ -z "${APACHE_BIN:-}" ]; then
  packages+=(apache2); reasons+=("Apache httpd (a server asking for the certificate after the handshake)")
fi
if ! command -v redis-server >/dev/null; then
  packages+=(redis-server); reasons+=("redis-server (the Redis token store, shared by processes)")
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm); reasons+=("Node.js (runs the WASI component under jco)")
fi
if [ ${#packages[@]} -gt 0 ]; then
  say "installing ${packages[*]} with apt: the tests need $(IFS=';'; echo "${reasons[*]}")"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

# The WASI component and the hosts that run it (rustup target, component build, the
# wasmtime-embedding test host, jco).
bash wasm/test-hosts.sh

cargo test --workspace --all-features "$@"
# `--all-features` includes `ring` (the fast provider, which then signs every key): the
# pure-Rust default, whose RSA client keys sign on `rsa` 0.10, is tested apart (the signer's
# unit tests, handshakes against openssl s_server and nginx, resumption), on a full run.
if [ $# -eq 0 ]; then
  cargo test -p mtls-core --features internals,tokio --lib --test tls_openssl --test client_nginx --test resumption_nginx
fi
# The component's own unit tests (its workspace is apart: another target), on a full run.
if [ $# -eq 0 ]; then
  (cd wasm && cargo test --locked --lib)
fi
