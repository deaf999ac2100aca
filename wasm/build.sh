#!/usr/bin/env bash
# Builds the WASI Preview 2 component (release, size-optimised: opt-level "s", LTO, one
# codegen unit, stripped, panic=abort; see Cargo.toml) and prints its path and size.
#   wasm/target/wasm32-wasip2/release/mtls_wasi.wasm
# Extra arguments go to cargo (e.g. --no-default-features to drop the built-in roots).
set -euo pipefail
cd "$(dirname "$0")"
rustup target add wasm32-wasip2 >/dev/null
cargo build --locked --release --target wasm32-wasip2 "$@"
out=target/wasm32-wasip2/release/mtls_wasi.wasm
printf '%s: %s bytes\n' "wasm/$out" "$(wc -c <"$out")"
