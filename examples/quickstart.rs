//! The whole flow in one run: pre-flight identity check, mTLS handshake, token exchange, and
//! two API calls on one connection that reuse the token.
//!
//! With no `MTLS_*` variables set it starts the local sandbox (an mTLS-enforcing stand-in on
//! loopback), has it issue a client identity, and talks to it. With `MTLS_BASE_URL`,
//! `MTLS_CLIENT_ID`, `MTLS_API_KEY` and the identity variables (`MTLS_CERT_PATH` /
//! `MTLS_CERT_B64`, `MTLS_KEY_PATH` / `MTLS_KEY_B64`, ... see `identity::load`) it calls that
//! API instead: `GET {base}/v2.01/{client_id}/users?per_page=1` and `.../wallets?per_page=1`
//! (override both paths with `MTLS_QUICKSTART_PATHS="/a,/b"`).
//!
//! Run: `cargo run --example quickstart`

use std::time::Instant as StdInstant;

use mtls_core::auth::Credentials;
use mtls_core::client::Auth;
use mtls_core::client::Event;
use mtls_core::identity::load::IdentitySources;
use mtls_core::identity::{CaBundle, Identity};
use mtls_core::io::std_adapter::{wall_clock_now, StdClient};
use mtls_core::presets::RateLimits;
use mtls_core::tls::Trust;
use mtls_core::{ApiRequest, ClientConfig};
use mtls_sandbox::{Sandbox, SandboxConfig};

struct Target {
    base_url: String,
    credentials: Credentials,
    identity: Identity,
    trust: Trust,
    paths: Vec<String>,
    /// Kept alive for the run when we talk to the local sandbox.
    sandbox: Option<Sandbox>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let say = |line: &str| println!("- {line}");

    let target = match std::env::var("MTLS_BASE_URL") {
        Ok(base_url) => real_api(base_url)?,
        Err(_) => {
            let target = local_sandbox()?;
            say(&format!(
                "sandbox listening on {} (requires client certificates from its own CA)",
                target.base_url
            ));
            target
        }
    };

    // 1. Pre-flight: everything we can check before any traffic.
    let info = target.identity.info();
    let report = target.identity.check(wall_clock_now())?;
    say(&format!(
        "identity: {} issued by {}, {} key, {} days to expiry, clientAuth: {:?}",
        info.subject, info.issuer, info.key_algorithm, report.days_to_expiry, info.client_auth
    ));
    for warning in &report.warnings {
        say(&format!("warning: {warning}"));
    }

    // 2-4. Handshake, token exchange, two calls on one connection.
    let config = ClientConfig::new(
        &target.base_url,
        Auth::ClientCredentials(target.credentials),
        &target.identity,
        target.trust,
    )?;
    let mut client = StdClient::new(config);
    let requests = target.paths.iter().map(|p| ApiRequest::get(p)).collect();
    let started = StdInstant::now();
    let outcomes = client.request_all(requests);
    let elapsed = started.elapsed();

    for notice in client.take_notices() {
        match notice {
            Event::Connected {
                version,
                client_cert_requested,
            } => say(&format!(
                "TLS handshake done: {version}, server asked for our certificate: {client_cert_requested}"
            )),
            Event::TokenFetched { expires_in } => say(&format!(
                "token exchange: Basic -> Bearer, expires in {} s",
                expires_in.as_secs()
            )),
            Event::Warning(w) => say(&format!("warning: {w}")),
            Event::ConnectionClosed { error } => say(&format!("connection closed ({error:?})")),
            other => say(&format!("{other:?}")),
        }
    }
    let mut failed = false;
    for (path, outcome) in target.paths.iter().zip(outcomes) {
        match outcome {
            Ok(response) => {
                let limits = RateLimits::from_response(&response);
                let body = String::from_utf8_lossy(&response.body);
                let excerpt: String = body.chars().take(100).collect();
                say(&format!(
                    "GET {path} -> {} {} ({} bytes, rate limit remaining {:?}) {excerpt}",
                    response.status,
                    response.reason,
                    response.body.len(),
                    limits.min_remaining()
                ));
                failed |= response.status >= 400;
            }
            Err(e) => {
                say(&format!("GET {path} -> error: {e}"));
                failed = true;
            }
        }
    }
    say(&format!(
        "TCP connections opened: {}; whole flow (connect, handshake, token, 2 calls): {:.1} ms",
        client.connections(),
        elapsed.as_secs_f64() * 1000.0
    ));
    if let Some(sandbox) = &target.sandbox {
        say(&format!(
            "sandbox saw: {} token request(s), {} API request(s), {} TLS connection(s), client certificate CN {:?}",
            sandbox.token_requests(),
            sandbox.api_requests(),
            sandbox.connections(),
            sandbox.client_cert_cns().first().cloned().flatten()
        ));
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

fn local_sandbox() -> Result<Target, Box<dyn std::error::Error>> {
    let sandbox = Sandbox::start(SandboxConfig::default())?;
    let issued = sandbox.issue_client_identity()?;
    let key = issued.key_pem.as_ref().ok_or("the sandbox issued no key")?;
    let identity = Identity::from_pem(issued.cert_pem.as_bytes(), key.as_bytes())?;
    let trust = Trust::Custom(CaBundle::from_pem(sandbox.ca_pem().as_bytes())?);
    let credentials = Credentials::new(sandbox.client_id(), sandbox.api_key())?;
    let client_id = sandbox.client_id().to_string();
    Ok(Target {
        base_url: sandbox.base_url(),
        credentials,
        identity,
        trust,
        paths: vec![
            format!("/v2.01/{client_id}/users/1"),
            format!("/v2.01/{client_id}/users/2"),
        ],
        sandbox: Some(sandbox),
    })
}

fn real_api(base_url: String) -> Result<Target, Box<dyn std::error::Error>> {
    let client_id = std::env::var("MTLS_CLIENT_ID").map_err(|_| "MTLS_CLIENT_ID is not set")?;
    let api_key = std::env::var("MTLS_API_KEY").map_err(|_| "MTLS_API_KEY is not set")?;
    let loaded = IdentitySources::from_env()
        .load()?
        .ok_or("no client identity: set MTLS_CERT_PATH/MTLS_KEY_PATH (or the _B64 forms, or MTLS_PKCS12_*)")?;
    let trust = match loaded.ca {
        Some(ca) => Trust::Custom(ca),
        None => Trust::WebPkiRoots,
    };
    let paths = match std::env::var("MTLS_QUICKSTART_PATHS") {
        Ok(list) => list.split(',').map(str::to_string).collect(),
        Err(_) => vec![
            format!("/v2.01/{client_id}/users?per_page=1"),
            format!("/v2.01/{client_id}/wallets?per_page=1"),
        ],
    };
    Ok(Target {
        base_url,
        credentials: Credentials::new(&client_id, &api_key)?,
        identity: loaded.identity,
        trust,
        paths,
        sandbox: None,
    })
}
