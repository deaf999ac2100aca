//! Figures, not a check: the median wall time of one full flow (process start, mTLS
//! handshake, token exchange, two API calls) run as the WASI component's command inside
//! Wasmtime (the Rust test host `wasm/host`, which loads the compiled component from its
//! cache), that host's start-up alone, and the same flow through the native std adapter
//! in-process, against the same sandbox in the same run.
//!
//! Needs `bash wasm/test-hosts.sh` (the component and the host). Run:
//! `cargo run --release --example wasi_timing`

#[path = "../tests/support/wasi.rs"]
mod wasi;

use std::time::{Duration, Instant};

use mtls_core::auth::Credentials;
use mtls_core::client::Auth;
use mtls_core::identity::{CaBundle, Identity};
use mtls_core::io::std_adapter::StdClient;
use mtls_core::tls::Trust;
use mtls_core::{ApiRequest, ClientConfig};
use mtls_sandbox::{Sandbox, SandboxConfig};
use wasi::{run_component, user_path, Certs, Host, NETWORK};

const RUNS: usize = 15;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let sandbox = Sandbox::start(SandboxConfig::default()).expect("sandbox");
    let certs = Certs::write(&sandbox, "timing");
    let env = certs.env(&sandbox);
    let (one, two) = (user_path(&sandbox, 1), user_path(&sandbox, 2));
    // Warm the host's compilation cache first.
    let _ = run_component(Host::Wasmtime, NETWORK, &certs, &env, &["--help"]);

    let wasm: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            let out = run_component(
                Host::Wasmtime,
                NETWORK,
                &certs,
                &env,
                &["request", "GET", &one, &two],
            );
            let elapsed = t.elapsed();
            assert!(out.status.success(), "{}", out.dump());
            elapsed
        })
        .collect();
    let startup: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            let _ = run_component(Host::Wasmtime, NETWORK, &certs, &env, &["--help"]);
            t.elapsed()
        })
        .collect();
    let issued = sandbox.issue_client_identity().unwrap();
    let key = issued
        .key_pem
        .as_ref()
        .expect("the sandbox generated the key");
    let native: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            let identity = Identity::from_pem(issued.cert_pem.as_bytes(), key.as_bytes()).unwrap();
            let trust = Trust::Custom(CaBundle::from_pem(sandbox.ca_pem().as_bytes()).unwrap());
            let credentials = Credentials::new(sandbox.client_id(), sandbox.api_key()).unwrap();
            let config = ClientConfig::new(
                &sandbox.base_url(),
                Auth::ClientCredentials(credentials),
                &identity,
                trust,
            )
            .unwrap();
            let mut client = StdClient::new(config);
            let outcomes = client.request_all(vec![ApiRequest::get(&one), ApiRequest::get(&two)]);
            let elapsed = t.elapsed();
            assert!(outcomes
                .iter()
                .all(|o| o.as_ref().is_ok_and(|r| r.status == 200)));
            elapsed
        })
        .collect();
    assert_eq!(sandbox.connections(), 2 * RUNS as u64);
    let (w, s, n) = (median(wasm), median(startup), median(native));
    println!(
        "median of {RUNS}: Wasmtime full flow {w:.2?}, host start-up only {s:.2?}, native std adapter {n:.2?}"
    );
    println!(
        "ratio wasm/native: {:.1}x whole process, {:.1}x flow minus start-up",
        w.as_secs_f64() / n.as_secs_f64(),
        w.saturating_sub(s).as_secs_f64() / n.as_secs_f64()
    );
}
