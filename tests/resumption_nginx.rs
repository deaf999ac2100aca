//! Opt-in session resumption against nginx with `ssl_verify_client on`: the resumed
//! connection is still bound to our certificate (nginx's access log shows
//! `$ssl_session_reused` = `r` with the client's subject and `SUCCESS` for it), the store is
//! shared by the connections of one configuration, and resumption stays off by default.
//! `bash scripts/test.sh` installs nginx; the server listens on 127.0.0.1 only.

#[path = "support/nginx.rs"]
mod nginx;

use mtls_core::auth::Credentials;
use mtls_core::client::{Auth, Event, Warning};
use mtls_core::identity::{CaBundle, Identity};
use mtls_core::io::std_adapter::StdClient;
use mtls_core::tls::{SessionStore, TlsVersion, Trust};
use mtls_core::{ApiRequest, ClientConfig};
use mtls_sandbox::{IssueSpec, TestCa};
use nginx::NginxServer;

const CLIENT_ID: &str = "resume-client";
const API_KEY: &str = "resume-api-key-0123";

struct Setup {
    ca: TestCa,
    server: NginxServer,
}

fn setup() -> Setup {
    setup_with(NginxServer::start)
}

type Start = fn(&str, &str, &str, &str, &str) -> std::io::Result<NginxServer>;

fn setup_with(start: Start) -> Setup {
    let ca = TestCa::new("resumption test CA").unwrap();
    let cert = ca
        .issue(&IssueSpec::server(&["localhost", "127.0.0.1"]))
        .unwrap();
    let server = start(
        &ca.cert_pem(),
        &cert.cert_pem,
        cert.key_pem.as_ref().unwrap(),
        CLIENT_ID,
        API_KEY,
    )
    .expect("nginx must be installed (run `bash scripts/test.sh`, which installs it)");
    Setup { ca, server }
}

fn identity(s: &Setup, cn: &str) -> Identity {
    let issued = s.ca.issue(&IssueSpec::client(cn)).unwrap();
    Identity::from_pem(
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_ref().unwrap().as_bytes(),
    )
    .unwrap()
}

fn config(s: &Setup, identity: &Identity) -> ClientConfig {
    ClientConfig::new(
        &format!("https://127.0.0.1:{}", s.server.port),
        Auth::ClientCredentials(Credentials::new(CLIENT_ID, API_KEY).unwrap()),
        identity,
        Trust::Custom(CaBundle::from_pem(s.ca.cert_pem().as_bytes()).unwrap()),
    )
    .unwrap()
}

fn get(client: &mut StdClient, id: u32) {
    let response = client
        .request(ApiRequest::get(&format!("/v2.01/{CLIENT_ID}/users/{id}")))
        .unwrap();
    assert_eq!(response.status, 200);
}

/// The access log's `field=` value of a line.
fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {name}= in {line}"))
}

fn not_requested(notices: &[Event]) -> bool {
    notices
        .iter()
        .any(|e| matches!(e, Event::Warning(Warning::ClientCertificateNotRequested)))
}

#[test]
fn a_resumed_connection_is_bound_to_our_certificate() {
    resumed_connection_is_bound_to_our_certificate(setup(), TlsVersion::Tls13);
}

/// The same over TLS 1.2 (a session id or ticket, an abbreviated handshake).
#[test]
fn a_resumed_tls12_connection_is_bound_to_our_certificate() {
    resumed_connection_is_bound_to_our_certificate(
        setup_with(NginxServer::start_tls12_only),
        TlsVersion::Tls12,
    );
}

fn resumed_connection_is_bound_to_our_certificate(s: Setup, version: TlsVersion) {
    let id = identity(&s, "resume-test-client");
    let store = SessionStore::new(4);
    let config = config(&s, &id).with_resumption(&store);

    // First client: a full handshake (token + GET); nginx's tickets land in the store.
    let mut first = StdClient::new(config.clone());
    let summary = first.connect().unwrap();
    assert!(!summary.resumed);
    assert!(summary.client_cert_requested);
    get(&mut first, 1);
    assert!(
        !store.is_empty(),
        "no session stored after a full handshake"
    );
    assert!(!not_requested(&first.take_notices()));
    drop(first);

    // Second client of the same configuration: a new connection that resumes.
    let mut second = StdClient::new(config.clone());
    let summary = second.connect().unwrap();
    assert_eq!(summary.version, version);
    assert!(summary.resumed, "the second connection did not resume");
    // No CertificateRequest in a resumed handshake, and yet no warning: the session is
    // bound to the certificate of the full handshake.
    assert!(!summary.client_cert_requested);
    get(&mut second, 2);
    let notices = second.take_notices();
    assert!(!not_requested(&notices), "{notices:?}");
    assert!(notices.iter().any(|e| matches!(
        e,
        Event::Connected {
            client_cert_requested: true,
            ..
        }
    )));

    // Clones of one configuration share its token cache, so the second client may not
    // fetch a token again: wait for the last GET, then group the lines by connection.
    let log = wait_for(&s, &format!("GET /v2.01/{CLIENT_ID}/users/2 "));
    let lines: Vec<&str> = log.lines().collect();
    let full = field(lines[0], "conn");
    let resumed = field(lines.last().unwrap(), "conn");
    assert_ne!(full, resumed, "{log}");
    for line in &lines {
        let conn = field(line, "conn");
        assert!(conn == full || conn == resumed, "a third connection: {log}");
        assert_eq!(
            field(line, "reused"),
            if conn == full { "." } else { "r" },
            "{line}"
        );
        // The server still has our certificate, verified, on the resumed connection.
        assert!(
            line.contains(" 200 \"CN=resume-test-client\" SUCCESS "),
            "{line}"
        );
    }
}

/// The access log once a line contains `needle` (bounded wait).
fn wait_for(s: &Setup, needle: &str) -> String {
    for _ in 0..300 {
        let log = s.server.access_log();
        if log.contains(needle) {
            return log;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("no {needle:?} in the access log: {}", s.server.access_log());
}

#[test]
fn resumption_is_off_by_default_and_a_new_identity_starts_empty() {
    let s = setup();
    let id = identity(&s, "plain-client");
    let config = config(&s, &id);
    for i in 0..2 {
        let mut client = StdClient::new(config.clone());
        let summary = client.connect().unwrap();
        assert!(!summary.resumed);
        assert!(summary.client_cert_requested);
        get(&mut client, i);
    }
    let log = wait_for(&s, &format!("GET /v2.01/{CLIENT_ID}/users/1 "));
    assert!(log.lines().count() >= 3, "{log}");
    assert!(log.lines().all(|l| field(l, "reused") == "."), "{log}");

    // With resumption on, rotating the identity gives an empty store: no session made with
    // the old certificate is offered with the new one.
    let store = SessionStore::new(2);
    let mut config = config.with_resumption(&store);
    let mut client = StdClient::new(config.clone());
    client.connect().unwrap();
    get(&mut client, 9);
    assert!(!store.is_empty());
    drop(client);
    let rotated = identity(&s, "rotated-client");
    config.set_identity(&rotated).unwrap();
    let mut client = StdClient::new(config.clone());
    let summary = client.connect().unwrap();
    assert!(
        !summary.resumed,
        "a session of the old identity was resumed"
    );
    get(&mut client, 10);
    let log = wait_for(&s, &format!("GET /v2.01/{CLIENT_ID}/users/10 "));
    let last = log.lines().last().unwrap();
    assert!(last.contains("\"CN=rotated-client\" SUCCESS"), "{last}");
    assert_eq!(field(last, "reused"), ".", "{last}");
}
