#!/usr/bin/env bash
# Builds the WASI Preview 2 component and prints its path and size:
#   wasm/target/mtls_wasi.wasm
# Two steps, each measured in wasm/README.md ("Size"):
#   1. cargo, release profile (Cargo.toml: opt-level "z", LTO, one codegen unit, stripped,
#      panic=abort) -> wasm/target/wasm32-wasip2/release/mtls_wasi.wasm;
#   2. the size pass: binaryen's wasm-opt -Oz over each core module of the component, through
#      `jco opt` (npm packages @bytecodealliance/jco and binaryen, pinned by
#      wasm/jco/package-lock.json and installed there with `npm ci` when missing; needs node
#      and npm).
# Extra arguments go to cargo (e.g. --no-default-features to drop the built-in roots).
# WASM_OPT=0 skips the size pass (the output is then cargo's component, copied).
set -euo pipefail
cd "$(dirname "$0")"
rustup target add wasm32-wasip2 >/dev/null
cargo build --locked --release --target wasm32-wasip2 "$@"
raw=target/wasm32-wasip2/release/mtls_wasi.wasm
out=target/mtls_wasi.wasm

if [ "${WASM_OPT:-1}" = 0 ]; then
  cp "$raw" "$out"
else
  if [ ! -e jco/node_modules/.package-lock.json ] || [ jco/package-lock.json -nt jco/node_modules/.package-lock.json ]; then
    echo "wasm/build.sh: installing jco and binaryen (npm ci in wasm/jco) for the size pass" >&2
    (cd jco && npm ci --no-audit --no-fund >/dev/null)
  fi
  # The features rustc's wasm32 targets enable by default; wasm-opt must be told, and keeps
  # to them (nothing newer is emitted).
  features=(--enable-bulk-memory --enable-bulk-memory-opt --enable-nontrapping-float-to-int
    --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-reference-types)
  jco/node_modules/.bin/jco opt "$raw" -o "$out.tmp" -q \
    -- -Oz "${features[@]}"
  mv "$out.tmp" "$out"
fi
printf 'wasm/%s: %s bytes (cargo: %s bytes)\n' "$out" "$(wc -c <"$out")" "$(wc -c <"$raw")"
