//! End to end in real WASI runtimes: the `wasm/` component (`mtls_wasi.wasm`, built by
//! `wasm/build.sh`) does a real mTLS handshake, token exchange and API calls over
//! wasi:sockets, through both of its exports (`wasi:cli/run` and the `mtls:client/api`
//! session), in two hosts:
//!
//! - Wasmtime, embedded by the Rust test host `wasm/host`, against the sandbox;
//! - jco on Node (`wasm/jco/host.mjs`), against nginx with `ssl_verify_client on`.
//!
//! Needs the component, the Rust host, jco's node_modules and nginx: `bash wasm/test-hosts.sh`
//! provides the first three (`.ci/run` installs nginx). A missing piece fails the test with
//! the command that provides it: nothing here skips silently.

#[path = "support/nginx.rs"]
mod nginx;
#[path = "support/wasi.rs"]
mod wasi;

use mtls_sandbox::{IssueSpec, Sandbox, SandboxConfig, TestCa};
use nginx::NginxServer;
use wasi::{
    run_component, run_session, session_json, user_path, Certs, Form, Host, Run, SessionSpec,
    NETWORK,
};

/// What a failing command may not print: a trap, a panic, or a host's own error report.
const NOT_CLEAN: [&str; 6] = [
    "wasm trap",
    "panicked",
    "wasm backtrace",
    "unreachable",
    "ComponentError",
    "Error:",
];

fn assert_clean_failure(run: &Run) {
    // Exactly 1: the component's own status, passed through `wasi:cli/exit`.
    assert_eq!(run.status.code(), Some(1), "{}", run.dump());
    for bad in NOT_CLEAN {
        assert!(
            !run.stderr.contains(bad),
            "{bad} in stderr:\n{}",
            run.dump()
        );
    }
    assert!(run.stdout.is_empty(), "{}", run.dump());
}

// --- wasi:cli/run in Wasmtime, against the sandbox ---

#[test]
fn component_does_mtls_token_and_two_calls_in_wasmtime() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let certs = Certs::write(&sandbox, "flow");
    let (one, two) = (user_path(&sandbox, 1), user_path(&sandbox, 2));
    let run = run_component(
        Host::Wasmtime,
        NETWORK,
        &certs,
        &certs.env(&sandbox),
        &["request", "GET", &one, &two],
    );
    assert!(run.status.success(), "{}", run.dump());
    let bodies = run.lines();
    assert_eq!(
        bodies.len(),
        2,
        "one body per line expected:\n{}",
        run.dump()
    );
    assert!(bodies[0].contains("\"Id\":\"1\""), "{}", run.dump());
    assert!(bodies[1].contains("\"Id\":\"2\""), "{}", run.dump());
    // One real mTLS handshake, one token exchange, two API calls on that connection.
    assert_eq!(sandbox.token_requests(), 1, "token requests");
    assert_eq!(sandbox.api_requests(), 2, "API requests");
    assert_eq!(sandbox.connections(), 1, "TLS connections");
    assert_eq!(
        sandbox.client_cert_cns(),
        vec![Some(sandbox.client_id().to_owned())],
        "the client certificate was presented"
    );
}

#[test]
fn component_without_network_access_fails_cleanly() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let certs = Certs::write(&sandbox, "denied");
    let run = run_component(
        Host::Wasmtime,
        &["allow-ip-name-lookup"],
        &certs,
        &certs.env(&sandbox),
        &["request", "GET", &user_path(&sandbox, 1)],
    );
    eprintln!("component stderr without network access:\n{}", run.stderr);
    assert_clean_failure(&run);
    // A clean, one-line error from the component, naming the WASI error.
    assert!(
        run.stderr.contains("mtls: GET")
            && run.stderr.contains("access-denied")
            && run.stderr.contains("request not sent"),
        "{}",
        run.dump()
    );
    assert_eq!(sandbox.connections(), 0);
    assert_eq!(sandbox.token_requests(), 0);
}

#[test]
fn component_reports_missing_configuration() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let certs = Certs::write(&sandbox, "config");
    let env: Vec<(String, String)> = certs
        .env(&sandbox)
        .into_iter()
        .filter(|(k, _)| k != "MTLS_API_KEY")
        .collect();
    let run = run_component(
        Host::Wasmtime,
        NETWORK,
        &certs,
        &env,
        &["request", "GET", "/v2.01/x/users/1"],
    );
    assert_clean_failure(&run);
    assert!(
        run.stderr.contains("MTLS_API_KEY is not set"),
        "{}",
        run.dump()
    );
    assert_eq!(sandbox.connections(), 0);
}

// --- the mtls:client/api session in Wasmtime, against the sandbox ---

fn sandbox_session(sandbox: &Sandbox, certs: &Certs, form: Form, paths: &[String]) -> String {
    session_json(&SessionSpec {
        base_url: &sandbox.base_url(),
        client_id: sandbox.client_id(),
        api_key: sandbox.api_key(),
        cert: &certs.read("client.pem"),
        key: &certs.read("client.key"),
        ca: &certs.read("ca.pem"),
        form,
        paths,
    })
}

/// The library form with live network access: one session, one handshake, one token for
/// three calls, one of which gets Mangopay's SCA answer (the `sca-required` error case).
#[test]
fn library_session_makes_three_calls_on_one_connection_in_wasmtime() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let certs = Certs::write(&sandbox, "library");
    let sca = user_path(&sandbox, 9);
    sandbox.knobs().add_sca_path(&sca);
    let paths = [user_path(&sandbox, 1), sca, user_path(&sandbox, 2)];
    let run = run_session(
        Host::Wasmtime,
        NETWORK,
        &sandbox_session(&sandbox, &certs, Form::Pem, &paths),
    );
    assert!(run.status.success(), "{}", run.dump());
    let lines = run.lines();
    assert_eq!(lines.len(), 4, "{}", run.dump());
    assert!(
        lines[0].starts_with("ok 200 {") && lines[0].contains("\"Id\":\"1\""),
        "{}",
        run.dump()
    );
    assert!(
        lines[1].starts_with("err sca-required 401 https://sandbox.example/sca/")
            && lines[1].contains(r#""Type":"pending_user_action""#),
        "{}",
        run.dump()
    );
    assert!(
        lines[2].starts_with("ok 200 {") && lines[2].contains("\"Id\":\"2\""),
        "{}",
        run.dump()
    );
    assert_eq!(lines[3], "connections 1", "{}", run.dump());
    assert_eq!(run.request_times().len(), 3, "{}", run.dump());
    assert_eq!(sandbox.connections(), 1, "TLS connections");
    assert_eq!(sandbox.token_requests(), 1, "token requests");
    assert_eq!(sandbox.api_requests(), 3, "API requests");
    assert_eq!(
        sandbox.client_cert_cns(),
        vec![Some(sandbox.client_id().to_owned())]
    );
}

/// The `base64` cases of the WIT `identity` and `ca` variants (the `MTLS_*_B64` form).
#[test]
fn library_session_takes_base64_identity_and_ca_in_wasmtime() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let certs = Certs::write(&sandbox, "library-b64");
    let paths = [user_path(&sandbox, 3), user_path(&sandbox, 4)];
    let run = run_session(
        Host::Wasmtime,
        NETWORK,
        &sandbox_session(&sandbox, &certs, Form::Base64, &paths),
    );
    assert!(run.status.success(), "{}", run.dump());
    let lines = run.lines();
    assert_eq!(lines.len(), 3, "{}", run.dump());
    assert!(lines[0].starts_with("ok 200 ") && lines[0].contains("\"Id\":\"3\""));
    assert!(lines[1].starts_with("ok 200 ") && lines[1].contains("\"Id\":\"4\""));
    assert_eq!(lines[2], "connections 1", "{}", run.dump());
    assert_eq!(sandbox.connections(), 1);
    assert_eq!(sandbox.token_requests(), 1);
}

/// A server that closes after each response: the session sees it and reconnects, and
/// every call still succeeds (each on its own connection, the token kept).
#[test]
fn library_session_reconnects_when_the_server_closes_in_wasmtime() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    sandbox.knobs().set_close_after_each_response(true);
    let certs = Certs::write(&sandbox, "library-close");
    let paths = [user_path(&sandbox, 1), user_path(&sandbox, 2)];
    let run = run_session(
        Host::Wasmtime,
        NETWORK,
        &sandbox_session(&sandbox, &certs, Form::Pem, &paths),
    );
    assert!(run.status.success(), "{}", run.dump());
    let lines = run.lines();
    assert_eq!(lines.len(), 3, "{}", run.dump());
    assert!(lines[0].starts_with("ok 200 ") && lines[0].contains("\"Id\":\"1\""));
    assert!(lines[1].starts_with("ok 200 ") && lines[1].contains("\"Id\":\"2\""));
    // The token response, then each API response, ended a connection.
    assert_eq!(lines[2], "connections 3", "{}", run.dump());
    assert_eq!(sandbox.connections(), 3);
    assert_eq!(sandbox.token_requests(), 1);
    assert_eq!(sandbox.api_requests(), 2);
}

/// What the Python host (wasmtime-py, removed) checked, now in the Rust host: a certificate that does not go
/// with the key is refused by `session.open` before any traffic (the `identity` case), and
/// a host that grants no network gets the `connection` case with the WASI detail, not a trap.
#[test]
fn library_session_reports_a_bad_identity_and_denied_network_in_wasmtime() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let certs = Certs::write(&sandbox, "library-bad");
    let paths = [user_path(&sandbox, 1)];
    let mismatched = session_json(&SessionSpec {
        base_url: &sandbox.base_url(),
        client_id: sandbox.client_id(),
        api_key: sandbox.api_key(),
        cert: &certs.read("ca.pem"),
        key: &certs.read("client.key"),
        ca: &certs.read("ca.pem"),
        form: Form::Pem,
        paths: &paths,
    });
    let run = run_session(Host::Wasmtime, NETWORK, &mismatched);
    assert!(run.status.success(), "{}", run.dump());
    let lines = run.lines();
    assert_eq!(lines.len(), 1, "{}", run.dump());
    assert!(
        lines[0].starts_with("open-err identity not-sent ")
            && lines[0].contains("does not belong to the client certificate"),
        "{}",
        run.dump()
    );

    let run = run_session(
        Host::Wasmtime,
        &["allow-ip-name-lookup"],
        &sandbox_session(&sandbox, &certs, Form::Pem, &paths),
    );
    assert!(run.status.success(), "{}", run.dump());
    let lines = run.lines();
    assert_eq!(lines.len(), 2, "{}", run.dump());
    assert!(
        lines[0].starts_with("err connection not-sent ")
            && lines[0].contains("access-denied")
            && lines[0].ends_with("(request not sent)"),
        "{}",
        run.dump()
    );
    assert_eq!(lines[1], "connections 0", "{}", run.dump());
    for bad in NOT_CLEAN {
        assert!(!run.stderr.contains(bad), "{bad}:\n{}", run.dump());
    }
    assert_eq!(sandbox.connections(), 0);
}

// --- jco on Node, against nginx with `ssl_verify_client on` ---

const NGINX_CLIENT_ID: &str = "nginx-client";
const NGINX_API_KEY: &str = "nginx-api-key-0123";
const NGINX_CLIENT_CN: &str = "jco-client";

/// nginx on a free loopback port with a fresh PKI, and the client's files.
struct NginxSetup {
    server: NginxServer,
    certs: Certs,
}

impl NginxSetup {
    fn start(tag: &str) -> NginxSetup {
        let ca = TestCa::new("jco nginx test CA").unwrap();
        let server_cert = ca
            .issue(&IssueSpec::server(&["localhost", "127.0.0.1"]))
            .unwrap();
        let server = NginxServer::start(
            &ca.cert_pem(),
            &server_cert.cert_pem,
            server_cert.key_pem.as_ref().unwrap(),
            NGINX_CLIENT_ID,
            NGINX_API_KEY,
        )
        .expect("nginx must be installed (.ci/run installs it: apt-get install nginx-light)");
        let client = ca.issue(&IssueSpec::client(NGINX_CLIENT_CN)).unwrap();
        let certs = Certs::write_pems(
            tag,
            &client.cert_pem,
            client.key_pem.as_ref().unwrap(),
            &ca.cert_pem(),
        );
        NginxSetup { server, certs }
    }

    /// By IP: nginx listens on 127.0.0.1 only (its certificate names both).
    fn base_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.server.port)
    }

    fn env(&self) -> Vec<(String, String)> {
        let path = |name: &str| self.certs.dir.join(name).to_string_lossy().into_owned();
        vec![
            ("MTLS_BASE_URL".into(), self.base_url()),
            ("MTLS_CLIENT_ID".into(), NGINX_CLIENT_ID.into()),
            ("MTLS_API_KEY".into(), NGINX_API_KEY.into()),
            ("MTLS_CERT_PATH".into(), path("client.pem")),
            ("MTLS_KEY_PATH".into(), path("client.key")),
            ("MTLS_CA_PATH".into(), path("ca.pem")),
        ]
    }

    /// The access log once it has `n` lines: the token request then `paths`, all on one
    /// TLS connection (nginx's `$connection`) with the client certificate verified.
    fn assert_one_connection(&self, paths: &[String]) {
        let log = self.server.wait_access_log_lines(paths.len() + 1);
        let lines: Vec<&str> = log.lines().collect();
        let dn = format!("\"CN={NGINX_CLIENT_CN}\" SUCCESS");
        assert_eq!(lines.len(), paths.len() + 1, "{log}");
        assert!(
            lines[0].starts_with(&format!("POST /v2.01/oauth/token 200 {dn}")),
            "{log}"
        );
        for (line, path) in lines[1..].iter().zip(paths) {
            assert!(line.starts_with(&format!("GET {path} 200 {dn}")), "{log}");
        }
        let conn = |l: &str| {
            l.split_whitespace()
                .find(|w| w.starts_with("conn="))
                .map(String::from)
        };
        assert!(
            lines
                .iter()
                .all(|l| conn(l).is_some() && conn(l) == conn(lines[0])),
            "one TLS connection expected:\n{log}"
        );
    }
}

fn nginx_paths(ids: &[u32]) -> Vec<String> {
    ids.iter()
        .map(|id| format!("/v2.01/{NGINX_CLIENT_ID}/users/{id}"))
        .collect()
}

fn nginx_body(id: u32) -> String {
    format!(r#"{{"Id":"{id}","Tag":"nginx","ClientCertDN":"CN={NGINX_CLIENT_CN}"}}"#)
}

#[test]
fn jco_command_does_mtls_token_and_two_calls_against_nginx() {
    let s = NginxSetup::start("jco-run");
    let paths = nginx_paths(&[1, 2]);
    let run = run_component(
        Host::Jco,
        NETWORK,
        &s.certs,
        &s.env(),
        &["request", "GET", &paths[0], &paths[1]],
    );
    assert!(run.status.success(), "{}", run.dump());
    assert_eq!(
        run.lines(),
        [nginx_body(1), nginx_body(2)],
        "{}",
        run.dump()
    );
    s.assert_one_connection(&paths);
}

/// Catches the staleness check that asked `pollable.ready()`: jco answers it from a cached
/// flag, so every request of a session opened a new connection and handshake.
#[test]
fn jco_session_makes_three_calls_on_one_connection_against_nginx() {
    let s = NginxSetup::start("jco-api");
    let paths = nginx_paths(&[1, 2, 3]);
    let session = session_json(&SessionSpec {
        base_url: &s.base_url(),
        client_id: NGINX_CLIENT_ID,
        api_key: NGINX_API_KEY,
        cert: &s.certs.read("client.pem"),
        key: &s.certs.read("client.key"),
        ca: &s.certs.read("ca.pem"),
        form: Form::Pem,
        paths: &paths,
    });
    let run = run_session(Host::Jco, NETWORK, &session);
    eprintln!("jco per-request times (ms): {:?}", run.request_times());
    assert!(run.status.success(), "{}", run.dump());
    let expected: Vec<String> = (1..=3)
        .map(|id| format!("ok 200 {}", nginx_body(id)))
        .chain(["connections 1".to_owned()])
        .collect();
    assert_eq!(run.lines(), expected, "{}", run.dump());
    assert_eq!(run.request_times().len(), 3, "{}", run.dump());
    s.assert_one_connection(&paths);
}

#[test]
fn jco_command_without_network_access_fails_cleanly() {
    let s = NginxSetup::start("jco-denied");
    let paths = nginx_paths(&[1]);
    let run = run_component(
        Host::Jco,
        &["allow-ip-name-lookup"],
        &s.certs,
        &s.env(),
        &["request", "GET", &paths[0]],
    );
    assert_clean_failure(&run);
    assert!(
        run.stderr.contains("mtls: GET")
            && run.stderr.contains("access-denied")
            && run.stderr.contains("request not sent"),
        "{}",
        run.dump()
    );
    assert_eq!(s.server.access_log(), "", "nginx saw a request");
}

/// Catches a `run` that returns `Err`: jco throws it as a `ComponentError` and prints its
/// stack trace after our message. The component exits through `wasi:cli/exit` instead.
#[test]
fn jco_failing_command_exits_1_with_only_its_message() {
    // The configuration is refused before any file is read.
    let certs = Certs::write_pems("jco-config", "", "", "");
    let env = [("MTLS_BASE_URL".to_owned(), "https://127.0.0.1:9".to_owned())];
    let run = run_component(
        Host::Jco,
        NETWORK,
        &certs,
        &env,
        &["request", "GET", "/v2.01/x/users/1"],
    );
    assert_clean_failure(&run);
    assert!(
        run.stderr.contains("MTLS_CLIENT_ID is not set"),
        "{}",
        run.dump()
    );
    // Only the component's line: no stack trace after it.
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.dump());
}
