//! The client against nginx with `ssl_verify_client on`: a server we did not write.
//! `bash scripts/test.sh` installs nginx; the server listens on 127.0.0.1 only.

#[path = "support/nginx.rs"]
mod nginx;

use mtls_core::auth::{AuthError, Credentials};
use mtls_core::client::Auth;
use mtls_core::client::Event;
use mtls_core::error::ErrorKind;
use mtls_core::identity::{CaBundle, Identity};
use mtls_core::io::std_adapter::StdClient;
use mtls_core::io::RequestError;
use mtls_core::presets::RateLimits;
use mtls_core::tls::{TlsConfig, Trust};
use mtls_core::{ApiRequest, ClientConfig, Error};
use mtls_sandbox::{IssueSpec, TestCa};
use nginx::NginxServer;

const CLIENT_ID: &str = "nginx-client";
const API_KEY: &str = "nginx-api-key-0123";

struct Setup {
    ca: TestCa,
    server: NginxServer,
}

fn setup() -> Setup {
    let ca = TestCa::new("nginx test CA").unwrap();
    let cert = ca
        .issue(&IssueSpec::server(&["localhost", "127.0.0.1"]))
        .unwrap();
    let server = NginxServer::start(
        &ca.cert_pem(),
        &cert.cert_pem,
        cert.key_pem.as_ref().unwrap(),
        CLIENT_ID,
        API_KEY,
    )
    .expect("nginx must be installed (run `bash scripts/test.sh`, which installs it)");
    Setup { ca, server }
}

/// The base URL by IP: nginx listens on 127.0.0.1 only. The server certificate names both.
fn base_url(s: &Setup) -> String {
    format!("https://127.0.0.1:{}", s.server.port)
}

fn trust(s: &Setup) -> Trust {
    Trust::Custom(CaBundle::from_pem(s.ca.cert_pem().as_bytes()).unwrap())
}

#[test]
fn token_exchange_and_two_calls_on_one_connection() {
    let s = setup();
    let issued = s.ca.issue(&IssueSpec::client("nginx-test-client")).unwrap();
    let identity = Identity::from_pem(
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_ref().unwrap().as_bytes(),
    )
    .unwrap();
    let credentials = Credentials::new(CLIENT_ID, API_KEY).unwrap();
    let config = ClientConfig::new(
        &base_url(&s),
        Auth::ClientCredentials(credentials),
        &identity,
        trust(&s),
    )
    .unwrap();
    let mut client = StdClient::new(config);
    let outcomes = client.request_all(vec![
        ApiRequest::get(&format!("/v2.01/{CLIENT_ID}/users/1")),
        ApiRequest::get(&format!("/v2.01/{CLIENT_ID}/users/2")),
    ]);
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let response = outcome.unwrap();
        assert_eq!(response.status, 200);
        let body = String::from_utf8(response.body.clone()).unwrap();
        assert_eq!(
            body,
            format!(
                r#"{{"Id":"{}","Tag":"nginx","ClientCertDN":"CN=nginx-test-client"}}"#,
                i + 1
            )
        );
        assert_eq!(
            RateLimits::from_response(&response).min_remaining(),
            Some(2296)
        );
    }
    assert_eq!(client.connections(), 1);
    let log = s.server.wait_access_log_lines(3);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(lines[0].starts_with("POST /v2.01/oauth/token 200 \"CN=nginx-test-client\" SUCCESS"));
    assert!(lines[1].starts_with(&format!("GET /v2.01/{CLIENT_ID}/users/1 200")));
    assert!(lines[2].starts_with(&format!("GET /v2.01/{CLIENT_ID}/users/2 200")));
    // One TLS connection carried all three requests.
    let conn = |l: &str| {
        l.split_whitespace()
            .find(|w| w.starts_with("conn="))
            .map(String::from)
    };
    assert_eq!(conn(lines[0]), conn(lines[2]));
    assert!(client.take_notices().iter().any(|e| matches!(
        e,
        Event::Connected {
            client_cert_requested: true,
            ..
        }
    )));
}

#[test]
fn nginx_answers_400_to_a_client_without_a_certificate() {
    let s = setup();
    let tls = TlsConfig::without_client_identity(trust(&s)).unwrap();
    let config = ClientConfig::with_tls(
        &base_url(&s),
        Auth::ClientCredentials(Credentials::new(CLIENT_ID, API_KEY).unwrap()),
        tls,
    )
    .unwrap();
    let mut client = StdClient::new(config);
    let result = client.request(ApiRequest::get(&format!("/v2.01/{CLIENT_ID}/users/1")));
    // nginx completes the handshake and refuses at the HTTP level: the token request gets a
    // 400 page, "No required SSL certificate was sent". That is the certificate, not the
    // API key, and the error says so.
    match result {
        Err(RequestError::Failed { failure: f, .. }) => {
            assert_eq!(
                f.error,
                Error::Auth(AuthError::ClientCertificateRefused { status: 400 })
            );
            assert_eq!(f.error.kind(), ErrorKind::ClientCertificateRejected);
            let text = f.to_string();
            assert!(text.contains("refused the client certificate"), "{text}");
            assert!(!text.contains("check the client id"), "{text}");
        }
        other => panic!("expected the token exchange to fail, got {other:?}"),
    }
    let log = s.server.wait_access_log_lines(1);
    assert!(
        log.starts_with("POST /v2.01/oauth/token 400 \"-\" NONE"),
        "{log}"
    );
}

#[test]
fn nginx_refusing_a_certificate_from_another_ca_names_the_certificate() {
    let s = setup();
    let stranger = TestCa::new("not the API's CA").unwrap();
    let issued = stranger
        .issue(&IssueSpec::client("nginx-test-client"))
        .unwrap();
    let identity = Identity::from_pem(
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_ref().unwrap().as_bytes(),
    )
    .unwrap();
    let config = ClientConfig::new(
        &base_url(&s),
        Auth::ClientCredentials(Credentials::new(CLIENT_ID, API_KEY).unwrap()),
        &identity,
        trust(&s),
    )
    .unwrap();
    let mut client = StdClient::new(config);
    // nginx: "400 The SSL certificate error", after a completed handshake.
    match client.request(ApiRequest::get(&format!("/v2.01/{CLIENT_ID}/users/1"))) {
        Err(RequestError::Failed { failure: f, .. }) => {
            assert_eq!(
                f.error,
                Error::Auth(AuthError::ClientCertificateRefused { status: 400 })
            );
            assert_eq!(f.error.kind(), ErrorKind::ClientCertificateRejected);
        }
        other => panic!("expected the certificate to be refused, got {other:?}"),
    }
}

#[test]
fn wrong_api_key_is_refused_by_nginx() {
    let s = setup();
    let issued = s.ca.issue(&IssueSpec::client("nginx-test-client")).unwrap();
    let identity = Identity::from_pem(
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_ref().unwrap().as_bytes(),
    )
    .unwrap();
    let credentials = Credentials::new(CLIENT_ID, "wrong-key").unwrap();
    let config = ClientConfig::new(
        &base_url(&s),
        Auth::ClientCredentials(credentials),
        &identity,
        trust(&s),
    )
    .unwrap();
    let mut client = StdClient::new(config);
    match client.request(ApiRequest::get(&format!("/v2.01/{CLIENT_ID}/users/1"))) {
        Err(RequestError::Failed { failure: f, .. }) => {
            assert!(
                matches!(
                    f.error,
                    Error::Auth(AuthError::TokenEndpointStatus { status: 401, .. })
                ),
                "{:?}",
                f.error
            );
            assert!(
                f.to_string().contains("check the client id and API key"),
                "{f}"
            );
        }
        other => panic!("expected a 401 from the token endpoint, got {other:?}"),
    }
}

/// Issue 13 (`mtls check --connect`): nginx lists the CA of `ssl_client_certificate` in its
/// CertificateRequest. With our certificate from that CA the summary says it is among them;
/// with one from another CA nginx still completes the handshake (it answers 400 later), and
/// only the list tells, before any request, that the certificate will be refused.
#[test]
fn connect_reports_whether_our_issuer_is_among_the_cas_nginx_accepts() {
    let s = setup();
    let other = TestCa::new("some other CA").unwrap();
    for (ca, acceptable) in [(&s.ca, true), (&other, false)] {
        let issued = ca.issue(&IssueSpec::client("nginx-test-client")).unwrap();
        let identity = Identity::from_pem(
            issued.cert_pem.as_bytes(),
            issued.key_pem.as_ref().unwrap().as_bytes(),
        )
        .unwrap();
        let config =
            ClientConfig::new(&base_url(&s), Auth::CertificateOnly, &identity, trust(&s)).unwrap();
        let mut client = StdClient::new(config);
        let handshake = client.connect().unwrap();
        assert!(handshake.client_cert_requested);
        assert_eq!(
            handshake.acceptable_issuers,
            vec!["CN=nginx test CA".to_owned()]
        );
        assert_eq!(handshake.issuer_acceptable, Some(acceptable));
        assert_eq!(handshake.server_chain[0].issuer, "CN=nginx test CA");
    }
}
