//! Figures, not a test: requests/s and client CPU per request of the hosts, with many
//! concurrent callers against the sandbox, side by side in one run with reqwest as the peer.
//!
//! - `pool`: `mtls_core::io::Pool` (max connections = callers), one OS thread per caller.
//! - `reqwest`: reqwest 0.13 over rustls (ring provider), client identity from PEM, the
//!   sandbox CA as the only root, HTTP/1.1, on a tokio multi-thread runtime (2 workers) with
//!   one task per caller; the token is fetched once by hand and sent as `Bearer`.
//!
//! Each contender gets its own sandbox in a child process (this program with `serve`), so
//! `getrusage(RUSAGE_SELF)` here counts the clients' CPU only. A warm-up round opens the
//! connections and fetches the token; then rounds alternate between the contenders, and the
//! medians are printed with the ratios. Every round checks the status of every response,
//! and the end checks that each sandbox saw exactly one token request.
//!
//! Run: `cargo run --release --example bench_hosts`. Sizes: `BENCH_CALLERS` (64),
//! `BENCH_PER_CALLER` (requests per caller per round, 300), `BENCH_ROUNDS` (5).
//!
//! The contenders live in `bench_support/hosts.rs` (shared with the `bench` example): to add
//! one, implement its `Contender` and add it in its `contenders`.

mod bench_support;

use std::process::ExitCode;

use bench_support::{sandbox_child, size, Fallible};

fn main() -> ExitCode {
    let result = match std::env::args().nth(1).as_deref() {
        Some("serve") => sandbox_child::serve(),
        _ => bench(),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench_hosts: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bench() -> Fallible<bool> {
    let callers = size("BENCH_CALLERS", 64)?.max(1);
    let per_caller = size("BENCH_PER_CALLER", 300)?.max(1);
    let rounds = size("BENCH_ROUNDS", 5)?.max(1);
    Ok(bench_support::hosts::bench("bench_hosts", callers, per_caller, rounds)?.ok)
}
