//! The tokio client and pool against nginx with `ssl_verify_client on`: a server we did not
//! write. `bash scripts/test.sh` installs nginx; the server listens on 127.0.0.1 only.

#[path = "support/nginx.rs"]
mod nginx;

use mtls_core::auth::{AuthError, Credentials};
use mtls_core::client::{Auth, Event};
use mtls_core::identity::{CaBundle, Identity};
use mtls_core::io::{PoolOptions, RequestError, TokioClient, TokioPool};
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

/// By IP: nginx listens on 127.0.0.1 only. The server certificate names both.
fn base_url(s: &Setup) -> String {
    format!("https://127.0.0.1:{}", s.server.port)
}

fn trust(s: &Setup) -> Trust {
    Trust::Custom(CaBundle::from_pem(s.ca.cert_pem().as_bytes()).unwrap())
}

fn config(s: &Setup) -> ClientConfig {
    let issued = s.ca.issue(&IssueSpec::client("nginx-test-client")).unwrap();
    let identity = Identity::from_pem(
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_ref().unwrap().as_bytes(),
    )
    .unwrap();
    let credentials = Credentials::new(CLIENT_ID, API_KEY).unwrap();
    ClientConfig::new(
        &base_url(s),
        Auth::ClientCredentials(credentials),
        &identity,
        trust(s),
    )
    .unwrap()
}

fn conn(line: &str) -> Option<String> {
    line.split_whitespace()
        .find(|w| w.starts_with("conn="))
        .map(String::from)
}

#[tokio::test]
async fn tokio_client_against_nginx_token_exchange_and_two_calls_on_one_connection() {
    let s = setup();
    let mut client = TokioClient::new(config(&s));
    let outcomes = client
        .request_all(vec![
            ApiRequest::get(&format!("/v2.01/{CLIENT_ID}/users/1")),
            ApiRequest::get(&format!("/v2.01/{CLIENT_ID}/users/2")),
        ])
        .await;
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let response = outcome.unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(
            String::from_utf8(response.body).unwrap(),
            format!(
                r#"{{"Id":"{}","Tag":"nginx","ClientCertDN":"CN=nginx-test-client"}}"#,
                i + 1
            )
        );
    }
    assert_eq!(client.connections(), 1);
    let log = s.server.wait_access_log_lines(3);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(lines[0].starts_with("POST /v2.01/oauth/token 200 \"CN=nginx-test-client\" SUCCESS"));
    assert!(lines[1].starts_with(&format!("GET /v2.01/{CLIENT_ID}/users/1 200")));
    assert!(lines[2].starts_with(&format!("GET /v2.01/{CLIENT_ID}/users/2 200")));
    assert_eq!(conn(lines[0]), conn(lines[2]), "one TLS connection: {log}");
    assert!(client.take_notices().iter().any(|e| matches!(
        e,
        Event::Connected {
            client_cert_requested: true,
            ..
        }
    )));
}

#[tokio::test]
async fn tokio_client_without_a_certificate_gets_nginx_400() {
    let s = setup();
    let tls = TlsConfig::without_client_identity(trust(&s)).unwrap();
    let config = ClientConfig::with_tls(
        &base_url(&s),
        Auth::ClientCredentials(Credentials::new(CLIENT_ID, API_KEY).unwrap()),
        tls,
    )
    .unwrap();
    let mut client = TokioClient::new(config);
    let result = client
        .request(ApiRequest::get(&format!("/v2.01/{CLIENT_ID}/users/1")))
        .await;
    // nginx's "No required SSL certificate was sent" page: the certificate, not the key.
    match result {
        Err(RequestError::Failed { failure: f, .. }) => assert_eq!(
            f.error,
            Error::Auth(AuthError::ClientCertificateRefused { status: 400 })
        ),
        other => panic!("expected the token exchange to fail, got {other:?}"),
    }
    let log = s.server.wait_access_log_lines(1);
    assert!(
        log.starts_with("POST /v2.01/oauth/token 400 \"-\" NONE"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_pool_against_nginx_16_tasks_one_token() {
    let s = setup();
    let pool = TokioPool::new(
        config(&s),
        PoolOptions {
            max_connections: 4,
            ..PoolOptions::default()
        },
    );
    let tasks: Vec<_> = (0..16)
        .map(|t| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for i in 0..5 {
                    let path = format!("/v2.01/{CLIENT_ID}/users/{}", t * 10 + i);
                    let response = pool.request(ApiRequest::get(&path)).await.unwrap();
                    assert_eq!(response.status, 200);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert!(pool.connections_opened() <= 4);
    let log = s.server.wait_access_log_lines(81);
    let tokens = log
        .lines()
        .filter(|l| l.starts_with("POST /v2.01/oauth/token 200"))
        .count();
    assert_eq!(tokens, 1, "{log}");
    assert_eq!(log.lines().count(), 81, "{log}");
}
