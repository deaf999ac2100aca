//! End to end: the std adapter against the sandbox (a real mTLS server on loopback that
//! requires client certificates and serves the token endpoint).

use std::sync::{Arc, Barrier};

use mtls_core::auth::{AuthError, Credentials, IdempotencyKey, TokenCache};
use mtls_core::client::Auth;
use mtls_core::client::{Event, FailureKind};
use mtls_core::identity::{CaBundle, Identity};
use mtls_core::io::std_adapter::StdClient;
use mtls_core::io::RequestError;
use mtls_core::tls::Trust;
use mtls_core::{ApiRequest, ClientConfig, Error};
use mtls_sandbox::{IssueSpec, Sandbox, SandboxConfig};

fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig::default()).unwrap()
}

fn config_for(sandbox: &Sandbox, api_key: &str) -> ClientConfig {
    let issued = sandbox.issue_client_identity().unwrap();
    let identity = Identity::from_pem(
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_ref().unwrap().as_bytes(),
    )
    .unwrap();
    let trust = Trust::Custom(CaBundle::from_pem(sandbox.ca_pem().as_bytes()).unwrap());
    let credentials = Credentials::new(sandbox.client_id(), api_key).unwrap();
    ClientConfig::new(
        &sandbox.base_url(),
        Auth::ClientCredentials(credentials),
        &identity,
        trust,
    )
    .unwrap()
}

fn client(sandbox: &Sandbox) -> StdClient {
    StdClient::new(config_for(sandbox, sandbox.api_key()))
}

fn user_path(sandbox: &Sandbox, id: u32) -> String {
    format!("/v2.01/{}/users/{id}", sandbox.client_id())
}

fn failure(result: Result<mtls_core::http::Response, RequestError>) -> mtls_core::client::Failure {
    match result {
        Err(RequestError::Failed { failure: f, .. }) => f,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn one_token_serves_many_calls_on_one_connection() {
    let sandbox = sandbox();
    let mut client = client(&sandbox);
    let requests = (1..=5)
        .map(|i| ApiRequest::get(&user_path(&sandbox, i)))
        .collect();
    let outcomes = client.request_all(requests);
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let response = outcome.unwrap();
        assert_eq!(response.status, 200);
        let body = String::from_utf8(response.body).unwrap();
        assert!(body.contains(&format!("\"Id\":\"{}\"", i + 1)), "{body}");
    }
    // And later calls reuse both the token and the connection.
    let response = client
        .request(ApiRequest::get(&user_path(&sandbox, 9)))
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(sandbox.token_requests(), 1);
    assert_eq!(sandbox.api_requests(), 6);
    assert_eq!(sandbox.connections(), 1);
    assert_eq!(client.connections(), 1);
    let notices = client.take_notices();
    let fetched = notices
        .iter()
        .filter(|e| matches!(e, Event::TokenFetched { .. }))
        .count();
    assert_eq!(fetched, 1);
    assert!(notices.iter().any(|e| matches!(
        e,
        Event::Connected {
            client_cert_requested: true,
            ..
        }
    )));
}

#[test]
fn a_401_refreshes_the_token_and_retries_once() {
    let sandbox = sandbox();
    let mut client = client(&sandbox);
    assert_eq!(
        client
            .request(ApiRequest::get(&user_path(&sandbox, 1)))
            .unwrap()
            .status,
        200
    );
    sandbox.knobs().set_force_401_count(1);
    let response = client
        .request(ApiRequest::get(&user_path(&sandbox, 2)))
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(sandbox.token_requests(), 2);
    assert!(client
        .take_notices()
        .iter()
        .any(|e| matches!(e, Event::TokenRejected(_))));

    // Two 401s in a row: one refresh, one retry, then the 401 is the answer (no loop).
    sandbox.knobs().set_force_401_count(2);
    let response = client
        .request(ApiRequest::get(&user_path(&sandbox, 3)))
        .unwrap();
    assert_eq!(response.status, 401);
    assert_eq!(sandbox.token_requests(), 3);
}

#[test]
fn the_sca_401_is_a_typed_outcome_and_keeps_the_token() {
    let sandbox = sandbox();
    let path = user_path(&sandbox, 77);
    sandbox.knobs().add_sca_path(&path);
    let mut client = client(&sandbox);
    match client.request(ApiRequest::get(&path)) {
        Err(RequestError::ScaRequired {
            redirect_url,
            response,
        }) => {
            assert_eq!(response.status, 401);
            let url = redirect_url.expect("a redirect URL");
            assert!(url.starts_with("https://sandbox.example/sca/"), "{url}");
        }
        other => panic!("expected ScaRequired, got {other:?}"),
    }
    // The token was not thrown away.
    assert_eq!(
        client
            .request(ApiRequest::get(&user_path(&sandbox, 1)))
            .unwrap()
            .status,
        200
    );
    assert_eq!(sandbox.token_requests(), 1);
}

#[test]
fn bad_credentials_are_a_typed_error_without_a_retry_loop() {
    let sandbox = sandbox();
    let mut client = StdClient::new(config_for(&sandbox, "not-the-api-key"));
    let outcomes = client.request_all(vec![
        ApiRequest::get(&user_path(&sandbox, 1)),
        ApiRequest::get(&user_path(&sandbox, 2)),
    ]);
    for outcome in outcomes {
        let f = failure(outcome);
        assert_eq!(f.kind, FailureKind::NotSent);
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
    assert_eq!(sandbox.token_requests(), 1);
    assert_eq!(sandbox.api_requests(), 0);
}

#[test]
fn the_token_endpoints_rfc6749_error_reaches_the_caller() {
    let sandbox = sandbox();
    sandbox.knobs().set_token_response_override(Some((
        400,
        r#"{"error":"unsupported_grant_type","error_description":"only client_credentials"}"#
            .to_string(),
    )));
    let f = failure(client(&sandbox).request(ApiRequest::get(&user_path(&sandbox, 1))));
    let Error::Auth(AuthError::TokenEndpointStatus {
        status: 400,
        error: Some(oauth),
    }) = &f.error
    else {
        panic!("{:?}", f.error)
    };
    assert_eq!(oauth.code, "unsupported_grant_type");
    let text = f.to_string();
    assert!(
        text.contains("unsupported_grant_type: only client_credentials"),
        "{text}"
    );
    assert!(!text.contains("API key"), "no credentials hint: {text}");
    assert_eq!(f.kind, FailureKind::NotSent);
}

#[test]
fn broken_token_responses_are_typed_errors() {
    let sandbox = sandbox();
    let cases: [(&str, AuthError); 6] = [
        ("<html>502 Bad Gateway</html>", AuthError::MalformedJson),
        (
            r#"{"access_token":"abc","token_type":"MAC","expires_in":3600}"#,
            AuthError::UnsupportedTokenType,
        ),
        (
            r#"{"token_type":"Bearer","expires_in":3600}"#,
            AuthError::MissingField(mtls_core::auth::TokenField::AccessToken),
        ),
        (
            r#"{"access_token":"abc","token_type":"Bearer","expires_in":0}"#,
            AuthError::ExpiresInNotPositive,
        ),
        (
            r#"{"access_token":"abc","token_type":"Bearer","expires_in":-5}"#,
            AuthError::ExpiresInNotPositive,
        ),
        (
            r#"{"access_token":"abc","token_type":"Bearer","expires_in":99999999999}"#,
            AuthError::ExpiresInTooLarge,
        ),
    ];
    for (body, expected) in cases {
        sandbox
            .knobs()
            .set_token_response_override(Some((200, body.to_string())));
        let mut client = client(&sandbox);
        let f = failure(client.request(ApiRequest::get(&user_path(&sandbox, 1))));
        assert_eq!(f.error, Error::Auth(expected), "{body}");
        assert_eq!(f.kind, FailureKind::NotSent);
    }
    assert_eq!(sandbox.api_requests(), 0);
}

#[test]
fn a_server_closing_between_requests_means_a_transparent_reconnect() {
    let sandbox = sandbox();
    sandbox.knobs().set_close_after_each_response(true);
    let mut client = client(&sandbox);
    for i in 1..=3 {
        assert_eq!(
            client
                .request(ApiRequest::get(&user_path(&sandbox, i)))
                .unwrap()
                .status,
            200
        );
    }
    // Token response, then one connection per API call; the token survives reconnects.
    assert_eq!(sandbox.token_requests(), 1);
    assert_eq!(client.connections(), 4);
}

#[test]
fn a_lost_get_is_retried_but_a_lost_post_is_outcome_unknown() {
    let sandbox = sandbox();
    let mut client = client(&sandbox);
    assert_eq!(
        client
            .request(ApiRequest::get(&user_path(&sandbox, 1)))
            .unwrap()
            .status,
        200
    );

    // The server reads the next request and closes without answering.
    sandbox.knobs().set_close_before_response_count(1);
    let response = client
        .request(ApiRequest::get(&user_path(&sandbox, 2)))
        .unwrap();
    assert_eq!(response.status, 200);

    sandbox.knobs().set_close_before_response_count(1);
    let post = ApiRequest::post(&user_path(&sandbox, 3), b"{\"Tag\":\"x\"}".to_vec())
        .header("Content-Type", "application/json");
    let f = failure(client.request(post.clone()));
    assert_eq!(f.kind, FailureKind::OutcomeUnknown);
    // The sandbox closes without close_notify: a truncation, not a clean end.
    assert_eq!(
        f.error,
        Error::Tls(mtls_core::tls::TlsError::Truncated {
            during_handshake: false
        })
    );

    // With an idempotency key the same POST is retried and succeeds.
    sandbox.knobs().set_close_before_response_count(1);
    let keyed = post.idempotency_key(IdempotencyKey::from_random([42; 16]));
    assert_eq!(client.request(keyed).unwrap().status, 200);
    let log = sandbox.request_log();
    let keyed_attempts = log
        .iter()
        .filter(|r| r.idempotency_key.as_deref() == Some("2a2a2a2a-2a2a-4a2a-aa2a-2a2a2a2a2a2a"))
        .count();
    assert_eq!(keyed_attempts, 2);
}

#[test]
fn a_truncated_response_is_an_error_never_a_short_body() {
    let sandbox = sandbox();
    let mut client = client(&sandbox);
    assert_eq!(
        client
            .request(ApiRequest::get(&user_path(&sandbox, 1)))
            .unwrap()
            .status,
        200
    );
    sandbox.knobs().set_truncate_next_response(true);
    // A GET is retried on a new connection after the cut, and then succeeds.
    let response = client
        .request(ApiRequest::get(&user_path(&sandbox, 2)))
        .unwrap();
    assert_eq!(response.status, 200);
    assert!(String::from_utf8(response.body).unwrap().ends_with('}'));
    // A POST is not retried: its outcome is unknown.
    sandbox.knobs().set_truncate_next_response(true);
    let f = failure(client.request(ApiRequest::post(&user_path(&sandbox, 3), b"{}".to_vec())));
    assert_eq!(f.kind, FailureKind::OutcomeUnknown);
}

#[test]
fn eight_threads_sharing_a_token_cache_fetch_exactly_one_token() {
    let sandbox = Arc::new(sandbox());
    let cache = TokenCache::default();
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let mut config = config_for(&sandbox, sandbox.api_key());
            config.token_cache = cache.clone();
            let path = user_path(&sandbox, i);
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut client = StdClient::new(config);
                barrier.wait();
                client.request(ApiRequest::get(&path)).unwrap().status
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 200);
    }
    assert_eq!(sandbox.token_requests(), 1);
    assert_eq!(sandbox.api_requests(), 8);
    assert_eq!(sandbox.connections(), 8);
}

#[test]
fn a_server_that_does_not_ask_for_the_certificate_is_reported() {
    let sandbox = sandbox();
    sandbox.knobs().set_require_client_cert(false);
    let mut client = client(&sandbox);
    // The sandbox then cannot authenticate the client by certificate but still answers.
    let _ = client.request(ApiRequest::get(&user_path(&sandbox, 1)));
    assert!(client.take_notices().iter().any(|e| matches!(
        e,
        Event::Warning(mtls_core::client::Warning::ClientCertificateNotRequested)
    )));
}

#[test]
fn a_client_certificate_the_server_refuses_fails_every_request_at_once() {
    let sandbox = sandbox();
    // A certificate from a CA the sandbox does not trust.
    let stranger = mtls_sandbox::TestCa::new("stranger CA").unwrap();
    let issued = stranger
        .issue(&mtls_sandbox::IssueSpec::client("stranger"))
        .unwrap();
    let identity = Identity::from_pem(
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_ref().unwrap().as_bytes(),
    )
    .unwrap();
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
    let outcomes = client.request_all(vec![
        ApiRequest::get(&user_path(&sandbox, 1)),
        ApiRequest::get(&user_path(&sandbox, 2)),
    ]);
    for outcome in outcomes {
        let f = failure(outcome);
        assert_eq!(f.kind, FailureKind::NotSent);
        assert_eq!(
            f.error.kind(),
            mtls_core::error::ErrorKind::ClientCertificateRejected
        );
        assert_eq!(
            f.error,
            // Alert 48 is `unknown_ca`.
            Error::Tls(mtls_core::tls::TlsError::AlertReceived(
                mtls_core::tls::Alert(48)
            ))
        );
    }
    // One attempt, no reconnect loop.
    assert_eq!(client.connections(), 1);
    assert_eq!(sandbox.token_requests(), 0);
}

#[test]
fn nothing_secret_reaches_debug_output() {
    let sandbox = sandbox();
    let config = config_for(&sandbox, sandbox.api_key());
    let config_debug = format!("{config:?}");
    let mut client = StdClient::new(config);
    let response = client
        .request(ApiRequest::get(&user_path(&sandbox, 1)))
        .unwrap();
    let everything = format!(
        "{config_debug} {client:?} {:?} {response:?} {:?}",
        client.take_notices(),
        client.client()
    );
    assert!(!everything.contains(sandbox.api_key()), "API key leaked");
    let basic = sandbox.basic_authorization();
    assert!(
        !everything.contains(basic.trim_start_matches("Basic ")),
        "Basic credentials leaked"
    );
    // The bearer token the client holds is nowhere in the output either.
    let token = client
        .client()
        .config()
        .token_cache
        .current(mtls_core::time::Instant::ZERO)
        .expect("a cached token");
    let token = token.token().expose().to_string();
    assert!(token.len() >= 16);
    assert!(!everything.contains(&token), "the access token leaked");
    assert!(
        !everything.to_lowercase().contains("bearer "),
        "a bearer value leaked"
    );
}

/// A kept-alive connection the server closed while idle (its keep-alive timeout) is noticed
/// before the next request is written: a POST goes to a new connection and succeeds instead
/// of ending "outcome unknown".
#[test]
fn an_idle_connection_the_server_closed_is_not_used_for_the_next_post() {
    let sandbox = sandbox();
    sandbox.knobs().set_idle_timeout_ms(100);
    let mut client = client(&sandbox);
    assert_eq!(
        client
            .request(ApiRequest::get(&user_path(&sandbox, 1)))
            .unwrap()
            .status,
        200
    );
    // Bounded wait until the sandbox has closed the idle connection.
    std::thread::sleep(std::time::Duration::from_millis(400));
    let post = ApiRequest::post(
        &user_path(&sandbox, 2),
        b"{\"Tag\":\"after idle\"}".to_vec(),
    );
    assert_eq!(client.request(post).unwrap().status, 200);
    assert_eq!(client.connections(), 2);
    let posts = sandbox
        .request_log()
        .iter()
        .filter(|r| r.method == "POST" && r.target.contains("/users/"))
        .count();
    assert_eq!(posts, 1, "the POST was written once");
}

/// Fault injection, finding 3: outcomes are handed out as they complete, and requests are
/// taken from the iterator only as the client needs them, so memory does not grow with
/// their number.
#[test]
fn request_each_streams_outcomes_and_takes_requests_lazily() {
    let sandbox = sandbox();
    let mut client = client(&sandbox);
    let taken = std::cell::Cell::new(0usize);
    let requests = (1..=100).map(|i| {
        taken.set(taken.get() + 1);
        ApiRequest::get(&user_path(&sandbox, i))
    });
    let mut seen = Vec::new();
    client.request_each(requests, |index, outcome| {
        let response = outcome.expect("a response");
        assert_eq!(response.status, 200);
        // (index, requests the server has answered so far, requests taken so far)
        seen.push((index, sandbox.api_requests() as usize, taken.get()));
    });
    assert_eq!(seen.len(), 100);
    for (i, (index, answered, taken)) in seen.iter().enumerate() {
        assert_eq!(*index, i, "outcomes come in request order");
        // The next request goes out in the same input that completes this one, so the
        // server may have read one more; never all of them.
        assert!(
            *answered == i + 1 || *answered == i + 2,
            "outcome {i} handed out after the server read {answered} requests"
        );
        assert!(
            *taken <= i + 1 + 16,
            "outcome {i}: {taken} requests taken already"
        );
    }
    assert_eq!(sandbox.token_requests(), 1);
}

/// A failure that ends the queue (here the token exchange) ends the requests not yet taken
/// too, without contacting the server again.
#[test]
fn a_queue_ending_failure_ends_every_request_of_the_call_once() {
    let sandbox = sandbox();
    let mut client = StdClient::new(config_for(&sandbox, "wrong-api-key"));
    let mut failures = Vec::new();
    client.request_each(
        (1..=50).map(|i| ApiRequest::get(&user_path(&sandbox, i))),
        |index, outcome| failures.push((index, failure(outcome))),
    );
    assert_eq!(failures.len(), 50);
    for (i, (index, f)) in failures.iter().enumerate() {
        assert_eq!(*index, i);
        assert_eq!(f.kind, FailureKind::NotSent);
        assert!(matches!(f.error, Error::Auth(_)), "{f:?}");
    }
    assert_eq!(sandbox.token_requests(), 1, "no retry loop");
    assert_eq!(sandbox.api_requests(), 0);
}

#[test]
fn a_rotated_identity_is_presented_on_the_next_connection_and_the_token_is_kept() {
    let sandbox = sandbox();
    let mut client = client(&sandbox);
    client
        .request(ApiRequest::get(&user_path(&sandbox, 1)))
        .unwrap();
    // The renewed certificate (another CN, so the log tells them apart).
    let renewed = sandbox.issue(&IssueSpec::client("renewed-client")).unwrap();
    let identity = Identity::from_pem(
        renewed.cert_pem.as_bytes(),
        renewed.key_pem.as_ref().unwrap().as_bytes(),
    )
    .unwrap();
    client.set_identity(&identity).unwrap();
    client
        .request(ApiRequest::get(&user_path(&sandbox, 2)))
        .unwrap();
    client
        .request(ApiRequest::get(&user_path(&sandbox, 3)))
        .unwrap();
    assert_eq!(
        sandbox.client_cert_cns(),
        vec![
            Some(sandbox.client_id().to_owned()),
            Some("renewed-client".to_owned())
        ],
        "one connection per certificate, the new one presented after the rotation"
    );
    let by_connection: Vec<(u64, Option<String>)> = sandbox
        .request_log()
        .into_iter()
        .filter(|r| r.target.contains("/users/"))
        .map(|r| (r.connection, r.client_cn))
        .collect();
    assert_eq!(
        by_connection,
        vec![
            (1, Some(sandbox.client_id().to_owned())),
            (2, Some("renewed-client".to_owned())),
            (2, Some("renewed-client".to_owned())),
        ]
    );
    assert_eq!(
        sandbox.token_requests(),
        1,
        "the token survives the rotation"
    );
}

/// Issue 13: `connect` completes a handshake without a token or a request and reports what
/// the server asked: the sandbox (rustls) lists its CA, which issued our certificate. The
/// connection is then used by the first request.
#[test]
fn connect_reports_the_handshake_and_the_connection_serves_the_next_request() {
    let sandbox = sandbox();
    let mut client = client(&sandbox);
    let handshake = client.connect().unwrap();
    assert_eq!(handshake.version, mtls_core::tls::TlsVersion::Tls13);
    assert!(handshake.client_cert_requested);
    assert_eq!(
        handshake.acceptable_issuers,
        vec!["CN=mtls-core sandbox CA".to_owned()]
    );
    assert_eq!(handshake.issuer_acceptable, Some(true));
    assert_eq!(handshake.server_chain.len(), 1);
    assert_eq!(handshake.server_chain[0].subject, "CN=localhost");
    assert!(handshake.server_chain[0]
        .subject_alt_names
        .contains(&"DNS:localhost".to_owned()));
    assert_eq!(sandbox.token_requests(), 0);
    client
        .request(ApiRequest::get(&user_path(&sandbox, 1)))
        .unwrap();
    assert_eq!(client.connections(), 1, "the warmed-up connection was used");
}

/// Issue 13: with TLS 1.3 the server refuses a client certificate after the client's side
/// of the handshake is done; `connect` waits for that verdict and reports the refusal.
#[test]
fn connect_with_a_certificate_from_another_ca_reports_the_refusal() {
    let sandbox = sandbox();
    let other = mtls_sandbox::TestCa::new("some other CA").unwrap();
    let issued = other.issue(&IssueSpec::client("sandbox-client")).unwrap();
    let identity = Identity::from_pem(
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_ref().unwrap().as_bytes(),
    )
    .unwrap();
    let trust = Trust::Custom(CaBundle::from_pem(sandbox.ca_pem().as_bytes()).unwrap());
    let config =
        ClientConfig::new(&sandbox.base_url(), Auth::CertificateOnly, &identity, trust).unwrap();
    let mut client = StdClient::new(config);
    let failure = failure(client.connect().map(|_| unreachable!()));
    assert_eq!(failure.kind, FailureKind::NotSent);
    assert_eq!(
        failure.error.kind(),
        mtls_core::error::ErrorKind::ClientCertificateRejected,
        "{failure}"
    );
}
