#!/usr/bin/env bash
# Installs and builds what the WASI tests (tests/wasi_component.rs) need, each only when it
# is missing or older than its sources:
#   - the rustup target wasm32-wasip2;
#   - jco, preview2-shim and binaryen in wasm/jco/node_modules (`npm ci`, from
#     package-lock.json): the jco host, and the component's size pass;
#   - the component, wasm/target/mtls_wasi.wasm (wasm/build.sh: cargo, then wasm-opt), whose
#     sources are wasm/src, wasm/wit, wasm's Cargo files and the core it embeds (src/);
#   - the Rust test host, wasm/host/target/release/mtls-wasi-host (`cargo build --release
#     --locked` in wasm/host).
# Prints one line per thing it does and why (nothing when all is in place); a failing step
# prints its log. Exports nothing: the tests find everything at those fixed paths.
# Needs rustup, cargo, node and npm. The jco tests also need nginx, a system package
# (.ci/run installs it); this script only says when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'wasm/test-hosts.sh: %s\n' "$*"; }

# why OUTPUT SOURCE...: prints why OUTPUT needs (re)building and succeeds, or fails when it
# is newer than every file under the SOURCEs.
why() {
  local out=$1
  shift
  if [ ! -e "$out" ]; then
    echo "$out is missing"
  elif newer=$(find "$@" -type f -newer "$out" -print -quit) && [ -n "$newer" ]; then
    echo "$out is older than $newer"
  else
    return 1
  fi
}

# quietly CMD...: runs CMD with its output in a log, shown only if it fails.
quietly() {
  local log
  log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    say "failed: $*"
    exit 1
  fi
  rm -f "$log"
}

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  say "installing the rustup target wasm32-wasip2: the component is built for it"
  quietly rustup target add wasm32-wasip2
fi

jco=wasm/jco
if reason=$(why $jco/node_modules/.package-lock.json $jco/package.json $jco/package-lock.json); then
  say "installing jco and binaryen (npm ci in wasm/jco): $reason"
  (cd $jco && quietly npm ci --no-audit --no-fund)
fi

wasm=wasm/target/mtls_wasi.wasm
if reason=$(why "$wasm" wasm/src wasm/wit wasm/Cargo.toml wasm/Cargo.lock wasm/build.sh wasm/jco/package-lock.json src Cargo.toml); then
  say "building the component (bash wasm/build.sh): $reason"
  quietly nice bash wasm/build.sh
fi

host=wasm/host/target/release/mtls-wasi-host
if reason=$(why "$host" wasm/host/src wasm/host/Cargo.toml wasm/host/Cargo.lock wasm/wit); then
  say "building the Rust test host (cargo build --release --locked in wasm/host): $reason"
  (cd wasm/host && quietly nice cargo build --release --locked)
  touch "$host"
fi

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ] && [ -z "${NGINX_BIN:-}" ]; then
  say "note: nginx is not installed; the jco tests need it (apt-get install nginx-light)"
fi
