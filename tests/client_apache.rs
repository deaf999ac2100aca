//! The client against Apache httpd asking for the client certificate only after the
//! handshake (per-directory `SSLVerifyClient require`), which rustls cannot answer (issue
//! 13): both TLS versions end in an error that says so and names the server-side fix, of
//! the same kind as any refused certificate. The fix itself (the check for the whole
//! virtual host) is shown to work. `bash scripts/test.sh` installs apache2.

#[path = "support/apache.rs"]
mod apache;

use apache::{ApacheServer, CertCheck};
use mtls_core::auth::{AuthError, Credentials};
use mtls_core::client::{Auth, Event, Warning};
use mtls_core::error::ErrorKind;
use mtls_core::identity::{CaBundle, Identity};
use mtls_core::io::std_adapter::StdClient;
use mtls_core::io::RequestError;
use mtls_core::tls::{TlsError, Trust};
use mtls_core::{ApiRequest, ClientConfig, Error};
use mtls_sandbox::{IssueSpec, TestCa};

struct Setup {
    ca: TestCa,
    server: ApacheServer,
}

fn setup(protocols: &str, check: CertCheck) -> Setup {
    let ca = TestCa::new("apache test CA").unwrap();
    let cert = ca
        .issue(&IssueSpec::server(&["localhost", "127.0.0.1"]))
        .unwrap();
    let server = ApacheServer::start(
        &ca.cert_pem(),
        &cert.cert_pem,
        cert.key_pem.as_ref().unwrap(),
        protocols,
        check,
    )
    .expect("apache2 must be installed (run `bash scripts/test.sh`, which installs it)");
    Setup { ca, server }
}

fn client(s: &Setup, auth: Auth) -> StdClient {
    let issued = s.ca.issue(&IssueSpec::client("apache-client")).unwrap();
    let identity = Identity::from_pem(
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_ref().unwrap().as_bytes(),
    )
    .unwrap();
    let trust = Trust::Custom(CaBundle::from_pem(s.ca.cert_pem().as_bytes()).unwrap());
    let url = format!("https://127.0.0.1:{}", s.server.port);
    StdClient::new(ClientConfig::new(&url, auth, &identity, trust).unwrap())
}

fn credentials() -> Auth {
    Auth::ClientCredentials(Credentials::new("apache-client-id", "apache-api-key").unwrap())
}

fn error_of(outcome: Result<mtls_core::http::Response, RequestError>) -> Error {
    match outcome {
        Err(RequestError::Failed { failure, .. }) => failure.error,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// A log once it holds `needle`: Apache writes after answering (bounded wait).
fn logged(read: impl Fn() -> String, needle: &str) -> String {
    for _ in 0..200 {
        let log = read();
        if log.contains(needle) {
            return log;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    read()
}

fn not_requested_warning(notices: &[Event]) -> bool {
    notices
        .iter()
        .any(|e| matches!(e, Event::Warning(Warning::ClientCertificateNotRequested)))
}

/// TLS 1.3: Apache tries post-handshake authentication, which our ClientHello did not
/// offer, and answers the token request `403`.
#[test]
fn apache_asking_after_a_tls13_handshake_is_named_at_the_token_step() {
    let s = setup("+TLSv1.3", CertCheck::PerDirectory);
    let mut client = client(&s, credentials());
    let error = error_of(client.request(ApiRequest::get("/v2.01/users/1")));
    assert_eq!(
        error,
        Error::Auth(AuthError::ClientCertificateNotRequested { status: 403 })
    );
    assert_eq!(error.kind(), ErrorKind::ClientCertificateRejected);
    let message = error.to_string();
    assert!(message.contains("post-handshake"), "{message}");
    assert!(
        message.contains("`SSLVerifyClient require` at the virtual-host level"),
        "{message}"
    );
    assert!(
        !message.contains("check the client id and API key"),
        "{message}"
    );
    assert!(not_requested_warning(&client.take_notices()));
    let log = logged(|| s.server.error_log(), "AH10158");
    assert!(log.contains("AH10158"), "Apache said why: {log}");
}

/// TLS 1.2: Apache renegotiates to ask for the certificate; rustls refuses, and Apache
/// ends the connection with `handshake_failure`, which alone would point at cipher suites.
#[test]
fn apache_renegotiating_after_a_tls12_handshake_is_named() {
    let s = setup("+TLSv1.2", CertCheck::PerDirectory);
    let mut client = client(&s, Auth::CertificateOnly);
    let error = error_of(client.request(ApiRequest::get("/v2.01/users/1")));
    assert_eq!(error, Error::Tls(TlsError::CertificateAskedAfterHandshake));
    assert_eq!(error.kind(), ErrorKind::ClientCertificateRejected);
    assert!(error.to_string().contains("renegotiation"), "{error}");
    assert!(not_requested_warning(&client.take_notices()));
    let log = logged(|| s.server.error_log(), "AH02261");
    assert!(log.contains("AH02261"), "Apache said why: {log}");
}

/// The fix the errors name: the check for the whole virtual host asks in the handshake,
/// and the certificate is presented and verified (both TLS versions).
#[test]
fn apache_asking_in_the_handshake_gets_the_certificate() {
    for protocols in ["+TLSv1.3", "+TLSv1.2"] {
        let s = setup(protocols, CertCheck::VirtualHost);
        let mut client = client(&s, Auth::CertificateOnly);
        let handshake = client.connect().unwrap();
        assert!(handshake.client_cert_requested, "{protocols}");
        assert_eq!(handshake.issuer_acceptable, Some(true), "{protocols}");
        let response = client.request(ApiRequest::get("/v2.01/users/1")).unwrap();
        assert_eq!(response.status, 200, "{protocols}");
        assert_eq!(response.body, br#"{"Id":"1"}"#);
        let log = logged(|| s.server.access_log(), "/v2.01/users/1");
        assert!(
            log.contains("GET /v2.01/users/1 HTTP/1.1 200 verify=SUCCESS dn=CN=apache-client"),
            "{protocols}: {log}"
        );
    }
}
