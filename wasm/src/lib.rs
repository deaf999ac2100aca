//! `mtls-core` as a WASI Preview 2 component.
//!
//! - Exports `mtls:client/api` (see `wit/mtls.wit`): a `session` resource that any component
//!   host can open from a config record and call `request` on; the token cache lives in it.
//! - Exports `wasi:cli/run`: `wasmtime run -S inherit-network -S allow-ip-name-lookup
//!   --dir CERTS --env MTLS_...=... mtls_wasi.wasm request GET /path...`.
//!
//! Transport: wasi:sockets TCP and ip-name-lookup ([`net`]); time: wasi:clocks (monotonic
//! for timeouts and token expiry, wall clock for certificate validity, [`session`]);
//! randomness: rustls-rustcrypto's `OsRng` -> getrandom 0.2, whose `target_os = "wasi"`
//! backend calls preview-1 `random_get`; the preview-1 adapter that `wasm-component-ld`
//! links into every wasm32-wasip2 component serves it from wasi:random/random. Everything
//! else (identity, TLS, HTTP, tokens, retries) is `mtls-core`.

#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod net;
pub mod session;

#[cfg(target_arch = "wasm32")]
mod component;
